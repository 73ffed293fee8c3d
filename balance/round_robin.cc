#include "balance/round_robin.h"

#include "balance/pick_helpers.h"

namespace fulcrum::balance {

const Server* RoundRobin::pick(const PickContext& ctx) {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  const std::uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
  const Server* first = servers_[turn % n];
  if (detail::eligible(first, ctx)) return first;
  // Some server is out. Stepping to the next one in the list would hand it the failed server's
  // turns too (twice its share); instead the turn counts over the usable servers only. This
  // scan runs only while a server is out, and allocates nothing.
  return detail::nth_eligible(servers_, turn, ctx);
}

}  // namespace fulcrum::balance
