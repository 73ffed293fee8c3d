// l7/demo_server.h — the built-in `demo` upstream (server kind: demo).
//
// A tiny real HTTP/1.1 server on a loopback socket, so the quickstart and the tests can show
// balancing with nothing else installed. The proxy reaches it over TCP like any other server.
// Each answer's first line names the server (e.g. "demo-2"), the second echoes the request
// line. It runs on the control thread's io_context; it is not meant to be fast.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <system_error>

namespace fulcrum::l7 {

class DemoServer {
 public:
  DemoServer(asio::io_context& io, std::string name);
  ~DemoServer();
  // Binds `ep` (port 0 picks a free port); local_endpoint() tells which.
  std::error_code open(const asio::ip::tcp::endpoint& ep);
  asio::ip::tcp::endpoint local_endpoint() const;
  void close();
  const std::string& name() const { return name_; }

 private:
  void accept_next();

  asio::io_context& io_;
  std::string name_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fulcrum::l7
