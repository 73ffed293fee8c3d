// core/admin_socket.h — the admin API's transport: a Unix stream socket, one request line in,
// one response line out, served on the control thread's io_context.
//
// The socket knows nothing of commands: each complete line goes to the handler, whose return
// value (one line, no newline) is written back. Lines are bounded (64 KiB) so a client cannot
// make the daemon buffer without limit; a longer one is answered with a fixed error line and
// the connection is closed.
#pragma once

#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace fulcrum {

class AdminSocket {
 public:
  using Handler = std::function<std::string(std::string_view line)>;
  static constexpr std::size_t kMaxLine = 64 * 1024;

  AdminSocket(asio::io_context& io, Handler handler);
  ~AdminSocket();

  // Binds `path` with permissions `mode` (e.g. 0660). A socket file left by a daemon that is
  // gone is replaced; one that still answers is an error (another lbd runs there). The
  // directory is created when missing (mode 0755).
  std::error_code open(const std::string& path, unsigned mode, std::string& detail);
  void close();
  const std::string& path() const { return path_; }

 private:
  class Connection;
  void accept();

  asio::io_context& io_;
  Handler handler_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fulcrum
