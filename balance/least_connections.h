// balance/least_connections.h — the server with the fewest exchanges in flight per unit weight.
#pragma once

#include <atomic>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// Picks the eligible server with the lowest Server::active / weight (compared by
// cross-multiplication, no division). The engine keeps `active` current (see server.h).
//
// Ties are common (all idle at low load; equal counts under steady load). Always taking the
// first tied server would pile every idle-time request onto server 0, so the scan starts at a
// position that rotates with a shared relaxed counter and keeps the first best it meets: tied
// servers take turns. With everything idle, weights therefore do not matter (as in nginx's
// least_conn); as soon as requests overlap, active counts follow the weights.
//
// O(n) per pick when every server is busy: exact least-connections needs every count, and a
// shared ordered structure would need a lock. The scan stops at the first idle server, so with
// any server idle it costs only the distance to it. Busy 1000-server backends pay ~3 us
// (see bench_balance).
class LeastConnections final : public Balancer {
 public:
  explicit LeastConnections(std::span<Server* const> servers)
      : servers_(servers.begin(), servers.end()) {}
  const Server* pick(const PickContext& ctx) override;

 private:
  std::vector<Server*> servers_;
  alignas(64) std::atomic<std::uint64_t> next_{0};
};

}  // namespace fulcrum::balance
