// l7/http_acceptor.h — one worker's copy of one HTTP listener (SO_REUSEPORT).
//
// Lifetime: owned by the server (lbd/) through unique_ptr; its accept handler captures `this`,
// so it is destroyed only after its worker's io_context has stopped running.
#pragma once

#include <asio/ip/tcp.hpp>
#include <system_error>

#include "core/accept_loop.h"
#include "l7/worker_context.h"

namespace fulcrum::l7 {

class HttpAcceptor {
 public:
  HttpAcceptor(WorkerContext& wc, std::size_t listener_index);
  // Binds and listens; the error names what failed.
  std::error_code open(const asio::ip::tcp::endpoint& ep);
  void start() { loop_.start(); }
  void close() { loop_.close(); }
  // The listener's position in the worker's new snapshot (a reload may move it).
  void set_index(std::size_t i) { index_ = i; }
  asio::ip::tcp::endpoint local_endpoint() const { return loop_.local_endpoint(); }

 private:
  void on_accept(asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer);

  WorkerContext& wc_;
  std::size_t index_;
  AcceptLoop loop_;
};

}  // namespace fulcrum::l7
