// balance/server.h — a server as the balancers and the data plane see it.
//
// Immutable identity (name, endpoint, weight) is fixed when a config snapshot is built. State
// that changes while the snapshot lives (health, admin state, load) sits in atomics written by
// the control thread or by workers and read relaxed by pick(), so picking takes no lock.
#pragma once

#include <asio/ip/tcp.hpp>
#include <atomic>
#include <cstdint>
#include <string>

namespace fulcrum::balance {

struct Server {
  std::string name;
  std::string backend;  // name of the backend it belongs to, for logs
  asio::ip::tcp::endpoint endpoint;
  std::uint32_t weight = 1;
  // Stable across reloads for the same backend/name/address, so per-worker upstream
  // connection pools stay valid when a new snapshot keeps the server.
  std::uint32_t id = 0;

  std::atomic<bool> up{true};
  mutable std::atomic<std::uint32_t> consecutive_failures{0};
  mutable std::atomic<std::uint32_t> consecutive_5xx{0};
};
inline void record_success(const Server& s) {
  if (s.consecutive_failures.load(std::memory_order_relaxed) != 0) s.consecutive_failures.store(0, std::memory_order_relaxed);
  if (s.consecutive_5xx.load(std::memory_order_relaxed) != 0) s.consecutive_5xx.store(0, std::memory_order_relaxed);
}
inline void record_failure(const Server& s) { s.consecutive_failures.fetch_add(1, std::memory_order_relaxed); }
inline void record_5xx(const Server& s) { s.consecutive_5xx.fetch_add(1, std::memory_order_relaxed); }

}  // namespace fulcrum::balance
