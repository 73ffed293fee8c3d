#include "balance/round_robin.h"

namespace fulcrum::balance {

namespace {
bool usable(const Server* s, const PickContext& ctx) {
  return s != ctx.avoid && s->up.load(std::memory_order_relaxed);
}
}  // namespace

const Server* RoundRobin::pick(const PickContext& ctx) {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  const std::uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
  const Server* first = servers_[turn % n];
  if (usable(first, ctx)) return first;
  // Some server is out. Stepping to the next one in the list would hand it the failed server's
  // turns too (twice its share); instead the turn counts over the usable servers only. This
  // scan runs only while a server is out, and allocates nothing.
  std::size_t up = 0;
  for (const Server* s : servers_) up += usable(s, ctx) ? 1 : 0;
  if (up == 0) return nullptr;
  std::size_t k = turn % up;
  for (const Server* s : servers_) {
    if (usable(s, ctx) && k-- == 0) return s;
  }
  return nullptr;
}

std::unique_ptr<Balancer> make_round_robin(std::span<Server* const> servers) {
  return std::make_unique<RoundRobin>(servers);
}

}  // namespace fulcrum::balance
