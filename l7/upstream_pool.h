// l7/upstream_pool.h — per-worker pools of idle keep-alive connections to servers.
//
// Lifetime: an UpstreamConn is shared_ptr-owned by whoever uses it (a session, or this pool
// while idle) and by its pending handlers. An idle connection is watched for readability: a
// server that closes it (or sends bytes nobody asked for) gets it dropped at once, so a request
// rarely meets a stale connection. Reuse is LIFO: the most recently used connection is the one
// least likely to have been closed by the server's keep-alive timeout.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

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
};

class UpstreamPool {
 public:
  explicit UpstreamPool(asio::io_context& io) : io_(io), sweep_(io) {}
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection to `server_id`, or nullptr.
  std::shared_ptr<UpstreamConn> take(std::uint32_t server_id);
  // Keeps `c` for reuse, unless the server already has `max_idle` idle connections.
  void put(std::shared_ptr<UpstreamConn> c, std::uint32_t max_idle,
           std::chrono::milliseconds idle_timeout);
  void close_all();
  // Any thread (the metrics scrape reads it); written by the owning worker only.
  std::size_t idle_count() const { return total(); }

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
