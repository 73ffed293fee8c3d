#include "l7/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace fulcrum::l7 {

ssize_t upstream_tls_recv(UpstreamConn& c, char* p, std::size_t cap) {
  return c.tls->recv(p, cap, c.tls_read_wants_write);
}

ssize_t upstream_tls_send(UpstreamConn& c, const iovec* iov, int count) {
  return c.tls->send(iov, count, c.tls_write_wants_read);
}

std::shared_ptr<UpstreamConn> UpstreamPool::take(std::uint32_t server_id, std::uint64_t tls_id) {
  if (server_id >= idle_.size()) return nullptr;
  auto& list = idle_[server_id];
  while (!list.empty()) {
    auto c = std::move(list.back());
    list.pop_back();
    set_total(total() - 1);
    ++c->idle_gen;
    std::error_code ec;
    if (c->tls_id != tls_id) {
      c->sock.close(ec);
      continue;
    }
    c->sock.cancel(ec);
    c->tls_read_wants_write = c->tls_write_wants_read = false;  // of its last user's waits
    return c;
  }
  return nullptr;
}

void UpstreamPool::put(std::shared_ptr<UpstreamConn> c, std::uint32_t max_idle,
                       std::chrono::milliseconds idle_timeout) {
  if (closed_ || max_idle == 0) return;  // dropping the last owner closes it
  if (c->server_id >= idle_.size()) idle_.resize(c->server_id + 1);
  auto& list = idle_[c->server_id];
  if (list.size() >= max_idle) return;
  c->idle_until = std::chrono::steady_clock::now() + idle_timeout;
  ++c->idle_gen;
  watch(c);
  list.push_back(std::move(c));
  set_total(total() + 1);
  arm_sweep();
}

// Readable while idle means the server closed the connection or broke protocol: drop it. The
// wait may also complete spuriously (an edge already consumed by a read can still be reported),
// so a peek decides, and a connection with nothing to read is watched again.
void UpstreamPool::watch(const std::shared_ptr<UpstreamConn>& c) {
  const std::uint64_t gen = c->idle_gen;
  c->sock.async_wait(asio::socket_base::wait_read, [this, c, gen](const std::error_code& ec) {
    if (c->idle_gen != gen || ec == asio::error::operation_aborted) return;
    if (c->tls) {
      // TLS 1.3 servers send session tickets after the handshake, whenever they like: reading
      // through OpenSSL consumes them (and stores the session) and leaves nothing for us. Data,
      // close_notify, EOF or an error drop the connection.
      char buf[64];
      std::size_t n = 0;
      if (c->tls->read(buf, sizeof buf, n) == tls::TlsConn::Result::kWantRead) return watch(c);
      return remove(c);
    }
    char byte;
    const ssize_t n = ::recv(c->sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return watch(c);
    remove(c);
  });
}

void UpstreamPool::remove(const std::shared_ptr<UpstreamConn>& c) {
  auto& list = idle_[c->server_id];
  auto it = std::find(list.begin(), list.end(), c);
  if (it == list.end()) return;
  ++c->idle_gen;
  std::error_code ec;
  c->sock.close(ec);
  list.erase(it);
  set_total(total() - 1);
}

void UpstreamPool::arm_sweep() {
  if (sweep_armed_ || total() == 0) return;
  sweep_armed_ = true;
  // Idle timeouts are enforced to within a second; a precise timer per idle connection would
  // cost a timer-queue operation on every reuse.
  sweep_.expires_after(std::chrono::seconds(1));
  sweep_.async_wait([this](const std::error_code& ec) {
    sweep_armed_ = false;
    if (ec || closed_) return;
    sweep();
    arm_sweep();
  });
}

void UpstreamPool::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& list : idle_) {
    for (std::size_t i = 0; i < list.size();) {
      if (list[i]->idle_until <= now) {
        ++list[i]->idle_gen;
        std::error_code ec;
        list[i]->sock.close(ec);
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        set_total(total() - 1);
      } else {
        ++i;
      }
    }
  }
}

void UpstreamPool::close_all() {
  closed_ = true;
  for (auto& list : idle_) {
    for (auto& c : list) {
      ++c->idle_gen;
      std::error_code ec;
      c->sock.close(ec);
    }
    list.clear();
  }
  set_total(0);
  std::error_code ec;
  sweep_.cancel();
}

}  // namespace fulcrum::l7
