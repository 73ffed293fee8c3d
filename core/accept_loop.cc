#include "core/accept_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "core/listen.h"
#include "core/log.h"

namespace fulcrum {

AcceptLoop::AcceptLoop(asio::io_context& io, OnAccept on_accept)
    : acceptor_(io), backoff_(io), on_accept_(std::move(on_accept)) {}

std::error_code AcceptLoop::open(const asio::ip::tcp::endpoint& ep, bool defer_accept) {
  if (std::error_code ec = open_tcp_listener(acceptor_, ep)) return ec;
  if (defer_accept) {
    // The first read then finds the client's bytes (no wait, no extra epoll round), as
    // NGINX's `deferred` does.
    int secs = 10;
    ::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
  }
  return {};
}

asio::ip::tcp::endpoint AcceptLoop::local_endpoint() const {
  std::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void AcceptLoop::close() {
  closed_ = true;
  std::error_code ec;
  acceptor_.close(ec);
  backoff_.cancel();
}

void AcceptLoop::accept_next() {
  if (closed_) return;
  acceptor_.async_accept(peer_, [this](const std::error_code& ec, asio::ip::tcp::socket sock) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      LOG_WARN("accept failed: {}; pausing 100ms", ec.message());
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([this](const std::error_code& e) {
        if (!e) accept_next();
      });
      return;
    }
    on_accept_(std::move(sock), peer_);
    accept_next();
  });
}

}  // namespace fulcrum
