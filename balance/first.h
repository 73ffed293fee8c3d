// balance/first.h — fill servers in order.
#pragma once

#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// The first eligible server in config order that is not full: Server::active below its limit,
// which is Server::max_connections, or the balancer-wide max_connections for servers that set
// none (0 for both: never full). It keeps the fewest servers
// busy, so the rest can be powered down or scaled in (HAProxy's `balance first`). When every
// eligible server is full, the least loaded one (first on ties) takes the request: we have no
// queue, and spreading the overflow beats piling it onto server 0. O(position of the answer).
class First final : public Balancer {
 public:
  First(std::span<Server* const> servers, std::uint32_t max_connections)
      : servers_(servers.begin(), servers.end()), max_connections_(max_connections) {}
  const Server* pick(const PickContext& ctx) override;

 private:
  std::vector<Server*> servers_;
  std::uint32_t max_connections_;
};

}  // namespace fulcrum::balance
