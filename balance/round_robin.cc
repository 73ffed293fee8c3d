#include "balance/round_robin.h"

namespace fulcrum::balance {

const Server* RoundRobin::pick(const PickContext& ctx) {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  const std::uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
  // Skip servers that are down (or the one a retry must avoid) without a second atomic op.
  for (std::size_t i = 0; i < n; ++i) {
    const Server* s = servers_[(start + i) % n];
    if (s->up.load(std::memory_order_relaxed) && s != ctx.avoid) return s;
  }
  return nullptr;
}

std::unique_ptr<Balancer> make_round_robin(std::span<Server* const> servers) {
  return std::make_unique<RoundRobin>(servers);
}

}  // namespace fulcrum::balance
