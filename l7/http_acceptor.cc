#include "l7/http_acceptor.h"

#include "l7/http_session.h"

namespace fulcrum::l7 {

HttpAcceptor::HttpAcceptor(WorkerContext& wc, std::size_t listener_index)
    : wc_(wc),
      index_(listener_index),
      loop_(wc.worker.io(),
            [this](asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer) {
              on_accept(std::move(sock), peer);
            }) {}

// An HTTP client speaks first: the accept wakes once its request has arrived.
std::error_code HttpAcceptor::open(const asio::ip::tcp::endpoint& ep) {
  return loop_.open(ep, /*defer_accept=*/true);
}

void HttpAcceptor::on_accept(asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer) {
  const auto& snap = wc_.snapshot;
  if (wc_.draining || !snap || index_ >= snap->listeners.size()) {
    std::error_code ignored;
    sock.close(ignored);
    return;
  }
  auto session =
      std::make_shared<HttpSession>(wc_, snap, &snap->listeners[index_], std::move(sock), peer);
  session->start();
}

}  // namespace fulcrum::l7
