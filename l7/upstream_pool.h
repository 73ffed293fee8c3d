// l7/upstream_pool.h — per-worker pools of idle keep-alive connections to servers.
//
// Lifetime: an UpstreamConn is shared_ptr-owned by whoever uses it (a session, or this pool
// while idle) and by its pending handlers. An idle connection is watched for readability: a
// server that closes it (or sends bytes nobody asked for) gets it dropped at once (over TLS,
// records that carry no data, such as TLS 1.3 session tickets, are read and kept quiet), so a
// request rarely meets a stale connection. Reuse is LIFO: the most recently used connection is the
// one least likely to have been closed by the server's keep-alive timeout.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "tls/tls_conn.h"

namespace fulcrum::l7 {

struct UpstreamConn {
  explicit UpstreamConn(asio::io_context& io) : sock(io) {}
  asio::ip::tcp::socket sock;
  std::uint32_t server_id = 0;
  std::uint64_t idle_gen = 0;  // bumped when taken from the pool: invalidates the idle watch
  std::chrono::steady_clock::time_point idle_until{};
  std::uint32_t requests = 0;  // requests sent on this connection so far
  bool read_wait = false;      // an async_wait for reading is pending (by its current user)
  bool write_wait = false;
  // Backends with tls: the connection's TLS state, kept with it in the pool (no handshake per
  // request), and the id of the client context it was made from (0: plain TCP), so a reload
  // that changes the backend's TLS settings does not reuse it. The flags say a TLS read waits
  // for writability (a write for readability), as HttpSession's client side has them.
  std::unique_ptr<tls::TlsConn> tls;
  std::uint64_t tls_id = 0;
  bool tls_read_wants_write = false;
  bool tls_write_wants_read = false;
};

// TLS reads and writes on an upstream connection, with recv's and sendmsg's results so the
// plain pumps stay as they are: -1 with EAGAIN (wait: the flags of `c` say which way), 0 at
// EOF (reads), -1 with EPIPE or EPROTO on failure (c.tls->error() says why).
ssize_t upstream_tls_recv(UpstreamConn& c, char* p, std::size_t cap);
ssize_t upstream_tls_send(UpstreamConn& c, const iovec* iov, int count);

class UpstreamPool {
 public:
  explicit UpstreamPool(asio::io_context& io) : io_(io), sweep_(io) {}
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection to `server_id` made with the client context `tls_id` (0: plain), or
  // nullptr. Idle ones of another context (before a reload changed the backend's TLS) are closed.
  std::shared_ptr<UpstreamConn> take(std::uint32_t server_id, std::uint64_t tls_id);
  // Keeps `c` for reuse, unless the server already has `max_idle` idle connections.
  void put(std::shared_ptr<UpstreamConn> c, std::uint32_t max_idle,
           std::chrono::milliseconds idle_timeout);
  void close_all();
  // Any thread (the metrics scrape reads it); written by the owning worker only.
  std::size_t idle_count() const { return total(); }

  // The newest TLS session of each server, resumed by this worker's next connection to it.
  tls::SessionCache sessions;

 private:
  void watch(const std::shared_ptr<UpstreamConn>& c);
  void remove(const std::shared_ptr<UpstreamConn>& c);
  void arm_sweep();
  void sweep();

  asio::io_context& io_;
  asio::steady_timer sweep_;
  bool sweep_armed_ = false;
  bool closed_ = false;
  std::vector<std::vector<std::shared_ptr<UpstreamConn>>> idle_;  // indexed by server id
  std::size_t total() const { return total_.load(std::memory_order_relaxed); }
  void set_total(std::size_t n) { total_.store(n, std::memory_order_relaxed); }
  std::atomic<std::size_t> total_{0};
};

}  // namespace fulcrum::l7
