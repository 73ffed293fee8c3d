// balance/tiered.h — backup servers: primaries while one is usable, else backups.
#pragma once

#include <memory>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// Wraps two balancers of the same algorithm, one over the primaries and one over the backups.
// The algorithms themselves know nothing of backups; this keeps each of them simple and lets
// hash tables and rotation counters stay separate per tier, so a failover to backups does not
// disturb the primaries' mapping when they come back.
//
// The tier is chosen by health and admin state only, not by PickContext::avoid: a retry whose
// only usable primary is the one it avoids gets nullptr rather than a backup, because the
// primary is still considered able to serve (as with HAProxy's backup servers).
class Tiered final : public Balancer {
 public:
  Tiered(std::span<Server* const> primaries, std::unique_ptr<Balancer> primary,
         std::unique_ptr<Balancer> backup)
      : primaries_(primaries.begin(), primaries.end()),
        primary_(std::move(primary)),
        backup_(std::move(backup)) {}
  const Server* pick(const PickContext& ctx) override;

 private:
  std::vector<Server*> primaries_;
  std::unique_ptr<Balancer> primary_;
  std::unique_ptr<Balancer> backup_;
};

}  // namespace fulcrum::balance
