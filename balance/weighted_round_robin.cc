#include "balance/weighted_round_robin.h"

#include <numeric>

#include "balance/pick_helpers.h"

namespace fulcrum::balance {

namespace {

std::uint64_t reduce_by_gcd(std::vector<std::uint64_t>& w) {
  std::uint64_t g = 0;
  for (std::uint64_t x : w) g = std::gcd(g, x);
  std::uint64_t sum = 0;
  for (std::uint64_t& x : w) {
    x /= g;
    sum += x;
  }
  return sum;
}

}  // namespace

WeightedRoundRobin::WeightedRoundRobin(std::span<Server* const> servers)
    : servers_(servers.begin(), servers.end()) {
  const std::size_t n = servers_.size();
  if (n == 0) return;
  std::vector<std::uint64_t> w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = detail::weight_of(*servers_[i]);
  std::uint64_t total = reduce_by_gcd(w);
  if (total > kMaxTable) {
    for (std::uint64_t& x : w) x = std::max<std::uint64_t>(1, x * kMaxTable / total);
    total = reduce_by_gcd(w);
  }

  // nginx's algorithm, run once over a whole cycle: every step each server gains its weight,
  // the one with the most (first on ties) is picked and pays the total. After `total` steps
  // every current weight is back to 0, so the cycle repeats exactly. O(total * n), once per
  // snapshot on the control thread.
  std::vector<std::int64_t> current(n, 0);
  table_.reserve(total);
  for (std::uint64_t step = 0; step < total; ++step) {
    std::size_t best = 0;
    for (std::size_t i = 0; i < n; ++i) {
      current[i] += static_cast<std::int64_t>(w[i]);
      if (current[i] > current[best]) best = i;
    }
    current[best] -= static_cast<std::int64_t>(total);
    table_.push_back(servers_[best]);
  }
}

const Server* WeightedRoundRobin::pick(const PickContext& ctx) {
  if (table_.empty()) return nullptr;
  const std::uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
  const Server* s = table_[turn % table_.size()];
  if (detail::eligible(s, ctx)) return s;
  // 2^64 / golden ratio: turn * kGolden mod 2^64 is frac(turn * phi) in fixed point.
  constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  return detail::weighted_eligible(servers_, turn * kGolden, ctx);
}

}  // namespace fulcrum::balance
