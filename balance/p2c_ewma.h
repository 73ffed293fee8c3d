// balance/p2c_ewma.h — power of two choices over latency x load.
#pragma once

#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// Draws two distinct eligible servers at random (ThreadRng: no shared state) and takes the one
// with the lower cost = ewma_ns * (active + 1) / weight. Two random choices get most of the
// benefit of comparing all servers (Mitzenmacher) at O(1), and avoid the herd effect of
// everyone choosing the same "best" server from slightly stale numbers. The engine feeds
// Server::record_latency() and Server::active (see server.h).
//
// Servers without a latency sample yet (ewma_ns == 0) cost 0 while idle, so new servers are
// tried at once, and a large penalty (plus their active count) while busy, so a burst does not
// pile onto a server nobody has measured (Finagle's peak-EWMA rule).
//
// A server that looked slow once would lose every comparison, get no new samples and stay
// shunned forever. So each comparison also decays the loser's ewma by 1/128: a shunned server
// regains a chance after about 128 * ln(cost ratio) lost comparisons (~300 for 10x), then a
// fresh sample tells the truth. Servers that win often are re-measured faster than they decay,
// so the bias on a healthy server stays small and is alike for similar servers.
class P2cEwma final : public Balancer {
 public:
  explicit P2cEwma(std::span<Server* const> servers) : servers_(servers.begin(), servers.end()) {}
  const Server* pick(const PickContext& ctx) override;

 private:
  std::vector<Server*> servers_;
};

}  // namespace fulcrum::balance
