// balance/slow_start.h — a server that comes back gets a growing share, not a flood.
#pragma once

#include <memory>

#include "balance/balancer.h"

namespace fulcrum::balance {

// Wraps a load-spreading balancer. While a server's ramp runs (Server::ramp_since_ns set, less
// than Server::slow_start ago), a pick of it stands with probability elapsed / slow_start and is
// otherwise handed to one more pick that passes it over, so its share grows from ~0 to its full
// weight about as if its weight ramped linearly (exactly so under round robin, where a turned
// away pick costs a turn of the rotation; under random it is share x elapsed / slow_start).
// Rejection works the same for every algorithm it wraps, and matters most for least_connections,
// which would otherwise send everything to a server that has nothing in flight. With nowhere else
// to go the ramping server still takes the request: slow start shapes load, it never fails a
// request.
//
// Cost outside a ramp: one relaxed load of the picked server's ramp_since_ns. Not used with the
// hashing algorithms: moving keys away and back during a ramp would break the affinity they
// exist for (HAProxy ignores slowstart for them too).
class SlowStart final : public Balancer {
 public:
  explicit SlowStart(std::unique_ptr<Balancer> inner) : inner_(std::move(inner)) {}
  const Server* pick(const PickContext& ctx) override;

  // The share of its weight `s` gets at `now_ns` (steady_clock ns), in 1/65536ths; 65536 when
  // no ramp runs.
  static std::uint32_t share(const Server& s, std::int64_t now_ns);

 private:
  std::unique_ptr<Balancer> inner_;
};

}  // namespace fulcrum::balance
