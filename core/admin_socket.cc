#include "core/admin_socket.h"

#include <sys/stat.h>

#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>
#include <filesystem>

#include "core/log.h"

namespace fulcrum {

using asio::local::stream_protocol;

class AdminSocket::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(stream_protocol::socket s, const Handler& h, std::shared_ptr<bool> alive)
      : sock_(std::move(s)), in_(kMaxLine + 1), handler_(h), alive_(std::move(alive)) {}

  void read() {
    asio::async_read_until(
        sock_, in_, '\n', [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
          if (!*self->alive_) return;
          if (ec == asio::error::not_found) {  // no newline within kMaxLine bytes
            self->out_ = R"({"v":1,"ok":false,"error":"request line over 64 KiB"})"
                         "\n";
            return self->write(/*then_close=*/true);
          }
          if (ec) return;  // the client closed (or reset): nothing to answer
          std::string line(static_cast<const char*>(self->in_.data().data()), n - 1);
          self->in_.consume(n);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          self->out_ = self->handler_(line);
          self->out_ += '\n';
          self->write(false);
        });
  }

 private:
  void write(bool then_close) {
    asio::async_write(
        sock_, asio::buffer(out_),
        [self = shared_from_this(), then_close](const std::error_code& ec, std::size_t) {
          if (ec || then_close || !*self->alive_) return;
          self->read();
        });
  }

  stream_protocol::socket sock_;
  asio::streambuf in_;
  std::string out_;
  const Handler& handler_;
  std::shared_ptr<bool> alive_;
};

AdminSocket::AdminSocket(asio::io_context& io, Handler handler)
    : io_(io), handler_(std::move(handler)), acceptor_(io) {}

AdminSocket::~AdminSocket() { close(); }

std::error_code AdminSocket::open(const std::string& path, unsigned mode, std::string& detail) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = fs::path(path).parent_path();
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      detail = "cannot create " + dir.string();
      return ec;
    }
  }
  if (fs::exists(fs::symlink_status(path, ec))) {
    // A daemon that still answers owns it; a leftover from one that died is removed.
    stream_protocol::socket probe(io_);
    std::error_code pec;
    probe.connect(stream_protocol::endpoint(path), pec);
    if (!pec) {
      detail = "another process is serving this socket";
      return std::make_error_code(std::errc::address_in_use);
    }
    if (!fs::is_socket(fs::symlink_status(path, ec))) {
      detail = "the path exists and is not a socket";
      return std::make_error_code(std::errc::file_exists);
    }
    fs::remove(path, ec);
  }
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path), ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec && ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    ec = std::error_code(errno, std::generic_category());
    detail = "chmod";
  }
  if (ec) {
    std::error_code ignored;
    acceptor_.close(ignored);
    return ec;
  }
  path_ = path;
  accept();
  return {};
}

void AdminSocket::accept() {
  acceptor_.async_accept(
      [this, alive = alive_](const std::error_code& ec, stream_protocol::socket s) {
        if (!*alive || ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        if (!ec) std::make_shared<Connection>(std::move(s), handler_, alive_)->read();
        accept();
      });
}

void AdminSocket::close() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  if (!acceptor_.is_open()) return;
  std::error_code ec;
  acceptor_.close(ec);
  std::filesystem::remove(path_, ec);
}

}  // namespace fulcrum
