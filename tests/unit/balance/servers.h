// tests/unit/balance/servers.h — a backend's servers for balancer tests.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance::testing {

// Owns n servers named s0, s1, ... with the given weights (1 when none given).
struct Servers {
  explicit Servers(int n, std::vector<std::uint32_t> weights = {}) {
    for (int i = 0; i < n; ++i) {
      owned.push_back(std::make_unique<Server>());
      owned.back()->name = "s" + std::to_string(i);
      if (!weights.empty()) owned.back()->weight = weights[static_cast<std::size_t>(i)];
      raw.push_back(owned.back().get());
    }
  }
  explicit Servers(std::vector<std::uint32_t> weights)
      : Servers(static_cast<int>(weights.size()), weights) {}

  Server& operator[](std::size_t i) { return *raw[i]; }
  std::size_t index_of(const Server* s) const {
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == s) return i;
    }
    return raw.size();
  }
  std::uint64_t total_weight() const {
    std::uint64_t t = 0;
    for (const Server* s : raw) t += s->weight;
    return t;
  }

  std::vector<std::unique_ptr<Server>> owned;
  std::vector<Server*> raw;
};

inline void set_admin(Server& s, AdminState a) { s.admin = static_cast<std::uint8_t>(a); }

// Picks `n` times with an empty context and counts by server index (index raw.size() = null).
inline std::vector<int> count_picks(Balancer& b, const Servers& s, int n, PickContext ctx = {}) {
  std::vector<int> counts(s.raw.size() + 1, 0);
  for (int i = 0; i < n; ++i) ++counts[s.index_of(b.pick(ctx))];
  return counts;
}

// A context keyed by the i-th test key.
inline PickContext keyed(std::uint64_t i) {
  PickContext ctx;
  ctx.hash = hash_of("key-" + std::to_string(i));
  return ctx;
}

}  // namespace fulcrum::balance::testing
