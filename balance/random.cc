#include "balance/random.h"

#include <algorithm>

#include "balance/pick_helpers.h"
#include "balance/thread_rng.h"

namespace fulcrum::balance {

Random::Random(std::span<Server* const> servers) : servers_(servers.begin(), servers.end()) {
  upto_.reserve(servers_.size());
  std::uint64_t sum = 0;
  for (const Server* s : servers_) {
    sum += detail::weight_of(*s);
    upto_.push_back(sum);
  }
}

const Server* Random::pick(const PickContext& ctx) {
  if (servers_.empty()) return nullptr;
  const std::uint64_t r = ThreadRng::next();
  const std::uint64_t point = detail::scale(r, upto_.back());
  const auto it = std::upper_bound(upto_.begin(), upto_.end(), point);
  const Server* s = servers_[static_cast<std::size_t>(it - upto_.begin())];
  if (detail::eligible(s, ctx)) return s;
  return detail::weighted_eligible(servers_, ThreadRng::next(), ctx);
}

}  // namespace fulcrum::balance
