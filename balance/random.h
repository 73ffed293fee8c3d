// balance/random.h — weighted random choice.
#pragma once

#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// Each pick draws from the calling thread's own generator (ThreadRng), so there is no shared
// state at all, not even a counter: the cheapest algorithm under many workers, and the spread
// converges to the weights without any coordination. Weighted by cumulative weights and a binary
// search (O(log n)). A draw that lands on a server that is out is redrawn among the eligible
// servers by weight (O(n), only while a server is out), so no neighbour inherits its share.
class Random final : public Balancer {
 public:
  explicit Random(std::span<Server* const> servers);
  const Server* pick(const PickContext& ctx) override;

 private:
  std::vector<Server*> servers_;
  std::vector<std::uint64_t> upto_;  // upto_[i] = sum of weights of servers 0..i
};

}  // namespace fulcrum::balance
