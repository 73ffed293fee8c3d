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
};

}  // namespace fulcrum::balance
