// balance/weighted_round_robin.h — smooth weighted round robin (nginx's), lock-free.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// nginx's smooth weighted round robin spreads a heavy server's turns through the cycle instead of
// giving them in a burst: weights 5,1,1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c. nginx
// runs it under a lock, mutating per-server current weights on every pick. Here the cycle is
// computed once, at construction (on the control thread), into a table of length sum(weights),
// and pick() walks it with one relaxed fetch_add, like RoundRobin: exact across all workers,
// no lock, no write besides the counter.
//
// The table length is capped at kMaxTable: weights are first divided by their gcd, and if the
// sum is still larger they are scaled down proportionally (each kept >= 1), which changes the
// ratios by well under 1% for realistic weights (1..256) and server counts.
//
// Servers that are down, drained, disabled or avoided: a turn that lands on one is re-drawn by
// weight among the usable servers, at a point given by the turn times the golden ratio. That
// point sequence is equidistributed with low discrepancy, so the lost turns go to the others in
// proportion to their weights and still without bursts (no neighbour inherits a double share).
class WeightedRoundRobin final : public Balancer {
 public:
  static constexpr std::size_t kMaxTable = std::size_t{1} << 16;

  explicit WeightedRoundRobin(std::span<Server* const> servers);
  const Server* pick(const PickContext& ctx) override;

  // The precomputed cycle, for tests and diagnostics.
  std::span<Server* const> cycle() const { return table_; }

 private:
  std::vector<Server*> servers_;
  std::vector<Server*> table_;
  alignas(64) std::atomic<std::uint64_t> next_{0};
};

}  // namespace fulcrum::balance
