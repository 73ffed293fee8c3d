#include "balance/least_connections.h"

#include "balance/pick_helpers.h"

namespace fulcrum::balance {

const Server* LeastConnections::pick(const PickContext& ctx) {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  const std::size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  const Server* best = nullptr;
  std::uint64_t best_active = 0, best_weight = 1;
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = start + k;
    if (i >= n) i -= n;
    const Server* s = servers_[i];
    if (!detail::eligible(s, ctx)) continue;
    const std::uint64_t a = s->active.load(std::memory_order_relaxed);
    // Nothing can beat an idle server, and taking the first one met from the rotating start is
    // the same tie-break the full scan would apply: stop here. This makes the usual case (some
    // server idle) cost a few servers instead of all of them.
    if (a == 0) return s;
    const std::uint64_t w = detail::weight_of(*s);
    // a / w < best_active / best_weight, exactly: both sides fit in 64 bits (32 x 32).
    if (best == nullptr || a * best_weight < best_active * w) {
      best = s;
      best_active = a;
      best_weight = w;
    }
  }
  return best;
}

}  // namespace fulcrum::balance
