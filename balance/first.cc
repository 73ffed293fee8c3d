#include "balance/first.h"

#include "balance/pick_helpers.h"

namespace fulcrum::balance {

const Server* First::pick(const PickContext& ctx) {
  const Server* least = nullptr;
  std::uint32_t least_active = 0;
  for (const Server* s : servers_) {
    if (!detail::eligible(s, ctx)) continue;
    const std::uint32_t limit = s->max_connections != 0 ? s->max_connections : max_connections_;
    if (limit == 0) return s;
    const std::uint32_t a = s->active.load(std::memory_order_relaxed);
    if (a < limit) return s;
    if (least == nullptr || a < least_active) {
      least = s;
      least_active = a;
    }
  }
  return least;
}

}  // namespace fulcrum::balance
