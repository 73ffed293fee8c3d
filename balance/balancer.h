// balance/balancer.h — the whole face of the balancing subsystem.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "balance/server.h"

namespace fulcrum::balance {

// What a request offers to choose by. Fields grow with the hashing algorithms.
struct PickContext {
  std::uint64_t attempt = 0;  // 0 for the first try; retries avoid the previous pick
  const Server* avoid = nullptr;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Picks a usable server. Never blocks, never allocates; nullptr when none is usable.
  // Called concurrently from every worker.
  virtual const Server* pick(const PickContext& ctx) = 0;
};

// Servers are owned by the backend and outlive its balancer.
std::unique_ptr<Balancer> make_round_robin(std::span<Server* const> servers);

}  // namespace fulcrum::balance
