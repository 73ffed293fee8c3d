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
      loop_(w.worker.io(), [this](asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer) {
        on_accept(std::move(sock), peer);
      }) {}

// No TCP_DEFER_ACCEPT here, unlike HTTP: many TCP protocols (SMTP, MySQL, SSH) have the server
// speak first, and their clients send nothing until it has.
std::error_code TcpAcceptor::open(const asio::ip::tcp::endpoint& ep) {
  return loop_.open(ep, /*defer_accept=*/false);
}

void TcpAcceptor::on_accept(asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer) {
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
    auto session = std::make_shared<TcpSession>(w_, snap, &snap->listeners[index_], std::move(sock),
                                                peer, count_);
    session->start();
  }
}

}  // namespace fulcrum::l4
