#include "balance/p2c_ewma.h"

#include <utility>

#include "balance/pick_helpers.h"
#include "balance/thread_rng.h"

namespace fulcrum::balance {

namespace {

// Above any real cost: 1e15 ns is 11 days, even a 10 s latency x 10k in flight stays below it.
constexpr double kUnmeasuredBusy = 1e15;

double cost(const Server& s) {
  const std::uint64_t ewma = s.ewma_ns.load(std::memory_order_relaxed);
  const std::uint32_t active = s.active.load(std::memory_order_relaxed);
  if (ewma == 0) return active == 0 ? 0.0 : kUnmeasuredBusy + active;
  return static_cast<double>(ewma) * (static_cast<double>(active) + 1.0) /
         static_cast<double>(detail::weight_of(s));
}

void decay(const Server& loser) {
  const std::uint64_t e = loser.ewma_ns.load(std::memory_order_relaxed);
  if (e >= 128) loser.ewma_ns.store(e - e / 128, std::memory_order_relaxed);
}

const Server* better(const Server* a, const Server* b) {
  const double ca = cost(*a), cb = cost(*b);
  // Equal costs go to `a`, itself a uniform draw, so ties split evenly.
  if (cb < ca) std::swap(a, b);
  if (ca != cb) decay(*b);
  return a;
}

}  // namespace

const Server* P2cEwma::pick(const PickContext& ctx) {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  if (n == 1) return detail::eligible(servers_[0], ctx) ? servers_[0] : nullptr;
  // A few cheap draws first: with most servers eligible one of them succeeds.
  for (int tries = 0; tries < 4; ++tries) {
    const std::size_t i = detail::scale(ThreadRng::next(), n);
    std::size_t j = detail::scale(ThreadRng::next(), n - 1);
    if (j >= i) ++j;  // uniform over the other n - 1
    const Server* a = servers_[i];
    const Server* b = servers_[j];
    const bool ea = detail::eligible(a, ctx), eb = detail::eligible(b, ctx);
    if (ea && eb) return better(a, b);
  }
  // Many servers are out: draw among the eligible ones by their rank. O(n), rare.
  const std::size_t m = detail::count_eligible(servers_, ctx);
  if (m == 0) return nullptr;
  const std::size_t i = detail::scale(ThreadRng::next(), m);
  if (m == 1) return detail::nth_eligible(servers_, i, ctx);
  std::size_t j = detail::scale(ThreadRng::next(), m - 1);
  if (j >= i) ++j;
  const Server* a = detail::nth_eligible(servers_, i, ctx);
  const Server* b = detail::nth_eligible(servers_, j, ctx);
  if (a == nullptr || b == nullptr) return a != nullptr ? a : b;  // all went out mid-pick
  return better(a, b);
}

}  // namespace fulcrum::balance
