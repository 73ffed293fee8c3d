// balance/first.h — fill servers in order.
#pragma once

#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// The first eligible server in config order that is not full. A server at its own
// Server::max_connections is not eligible at all (the engine queues the request when every
// server is); the balancer-wide max_connections is a soft limit for servers that set none:
// when every eligible server is past it, the least loaded one (first on ties) takes the
// request, since spreading the overflow beats piling it onto server 0. It keeps the fewest
// servers busy, so the rest can be powered down or scaled in (HAProxy's `balance first`).
// O(position of the answer).
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
