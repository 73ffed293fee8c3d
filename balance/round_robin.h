// balance/round_robin.h — plain round robin over the servers that are usable.
#pragma once

#include <atomic>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// One counter shared by all workers: a relaxed fetch_add per pick. Per-worker counters would
// avoid that cache line, but then consecutive requests landing on different workers could hit
// the same server, and users expect round robin to be exact across the whole daemon (HAProxy's
// is). The cost is measured with the rest of the request path in the benchmarks.
// Weights are ignored (weighted_round_robin honours them). Balances over exactly the servers
// given, backups included; make_round_robin() separates the backup tier.
class RoundRobin final : public Balancer {
 public:
  explicit RoundRobin(std::span<Server* const> servers)
      : servers_(servers.begin(), servers.end()) {}
  const Server* pick(const PickContext& ctx) override;

 private:
  std::vector<Server*> servers_;
  alignas(64) std::atomic<std::uint64_t> next_{0};
};

}  // namespace fulcrum::balance
