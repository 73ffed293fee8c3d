// core/accept_loop.h — one worker's copy of one TCP listener: a SO_REUSEPORT acceptor that
// hands each accepted socket to its owner (the HTTP and the L4 acceptors), one accept in flight
// at a time, pausing instead of spinning when accept itself fails (out of descriptors, memory).
//
// Lifetime: its handlers capture `this`, so it is destroyed only after its worker's io_context
// has stopped running (the server owns it through its engine's acceptor).
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <system_error>

namespace fulcrum {

class AcceptLoop {
 public:
  using OnAccept = std::function<void(asio::ip::tcp::socket, const asio::ip::tcp::endpoint&)>;

  AcceptLoop(asio::io_context& io, OnAccept on_accept);
  // Binds and listens (core/listen.h). `defer_accept`: wake only once the client has sent
  // something (TCP_DEFER_ACCEPT), for protocols where the client speaks first.
  std::error_code open(const asio::ip::tcp::endpoint& ep, bool defer_accept);
  void start() { accept_next(); }
  void close();
  asio::ip::tcp::endpoint local_endpoint() const;

 private:
  void accept_next();

  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint peer_;  // filled by the accept in flight
  asio::steady_timer backoff_;
  OnAccept on_accept_;
  bool closed_ = false;
};

}  // namespace fulcrum
