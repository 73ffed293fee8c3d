#include "l7/http_acceptor.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "core/listen.h"
#include "core/log.h"
#include "l7/http_session.h"

namespace fulcrum::l7 {

HttpAcceptor::HttpAcceptor(WorkerContext& wc, std::size_t listener_index)
    : wc_(wc), index_(listener_index), acceptor_(wc.worker.io()), backoff_(wc.worker.io()) {}

std::error_code HttpAcceptor::open(const asio::ip::tcp::endpoint& ep) {
  if (std::error_code ec = open_tcp_listener(acceptor_, ep)) return ec;
  // An HTTP client speaks first: wake the accept only once its request has arrived, so the
  // first read finds it (no wait, no extra epoll round), as NGINX's `deferred` does.
  int secs = 10;
  ::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
  return {};
}

asio::ip::tcp::endpoint HttpAcceptor::local_endpoint() const {
  std::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void HttpAcceptor::start() { accept_next(); }

void HttpAcceptor::close() {
  closed_ = true;
  std::error_code ec;
  acceptor_.close(ec);
  backoff_.cancel();
}

void HttpAcceptor::accept_next() {
  if (closed_) return;
  acceptor_.async_accept(peer_, [this](const std::error_code& ec, asio::ip::tcp::socket sock) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or memory: pause instead of spinning on the same error.
      LOG_WARN("accept failed: {}; pausing 100ms", ec.message());
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([this](const std::error_code& e) {
        if (!e) accept_next();
      });
      return;
    }
    const auto& snap = wc_.snapshot;
    if (wc_.draining || !snap || index_ >= snap->listeners.size()) {
      std::error_code ignored;
      sock.close(ignored);
    } else {
      auto session = std::make_shared<HttpSession>(wc_, snap, &snap->listeners[index_],
                                                   std::move(sock), peer_);
      session->start();
    }
    accept_next();
  });
}

}  // namespace fulcrum::l7
