// l4/tcp_acceptor.h — one worker's copy of one `mode: tcp` listener (SO_REUSEPORT).
//
// Lifetime: owned by the server (lbd/) through unique_ptr; its accept handler captures `this`,
// so it is destroyed only after its worker's io_context has stopped running.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <system_error>

#include "l4/tcp_worker.h"

namespace fulcrum::l4 {

class TcpAcceptor {
 public:
  TcpAcceptor(TcpWorker& w, std::size_t listener_index, TcpListenerCount* count);
  std::error_code open(const asio::ip::tcp::endpoint& ep);
  void start();
  void close();
  asio::ip::tcp::endpoint local_endpoint() const;

 private:
  void accept_next();

  TcpWorker& w_;
  std::size_t index_;
  TcpListenerCount* count_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint peer_;  // filled by the accept in flight (one at a time)
  asio::steady_timer backoff_;
  bool closed_ = false;
};

}  // namespace fulcrum::l4
