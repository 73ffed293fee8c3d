#include "l4/tcp_acceptor.h"

#include <sys/socket.h>

#include "core/listen.h"
#include "core/log.h"
#include "l4/tcp_session.h"

namespace fulcrum::l4 {

TcpAcceptor::TcpAcceptor(TcpWorker& w, std::size_t listener_index, TcpListenerCount* count)
    : w_(w),
      index_(listener_index),
      count_(count),
      acceptor_(w.worker.io()),
      backoff_(w.worker.io()) {}

// No TCP_DEFER_ACCEPT here, unlike HTTP: many TCP protocols (SMTP, MySQL, SSH) have the server
// speak first, and their clients send nothing until it has.
std::error_code TcpAcceptor::open(const asio::ip::tcp::endpoint& ep) {
  return open_tcp_listener(acceptor_, ep);
}

asio::ip::tcp::endpoint TcpAcceptor::local_endpoint() const {
  std::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void TcpAcceptor::start() { accept_next(); }

void TcpAcceptor::close() {
  closed_ = true;
  std::error_code ec;
  acceptor_.close(ec);
  backoff_.cancel();
}

void TcpAcceptor::accept_next() {
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
    const auto& snap = w_.snapshot;
    bool refuse = w_.draining || !snap || index_ >= snap->listeners.size();
    if (!refuse) {
      const std::uint32_t limit = snap->listeners[index_].max_connections;
      const std::uint32_t before = count_->sessions.fetch_add(1, std::memory_order_relaxed);
      if (limit != 0 && before >= limit) {
        count_->sessions.fetch_sub(1, std::memory_order_relaxed);
        LOG_DEBUG("{}: max_connections ({}) reached; connection refused",
                  snap->listeners[index_].name, limit);
        snap->listeners[index_].stats->slots[w_.worker.index()].rejected.add();
        refuse = true;
      }
    }
    if (refuse) {
      // Closed at once with an RST: the client learns now, not after a timeout.
      const linger l{1, 0};
      ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
      std::error_code ignored;
      sock.close(ignored);
    } else {
      auto session = std::make_shared<TcpSession>(w_, snap, &snap->listeners[index_],
                                                  std::move(sock), peer_, count_);
      session->start();
    }
    accept_next();
  });
}

}  // namespace fulcrum::l4
