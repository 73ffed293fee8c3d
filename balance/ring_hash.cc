#include "balance/ring_hash.h"

#include <algorithm>
#include <cmath>

#include "balance/pick_helpers.h"

namespace fulcrum::balance {

struct RingHash::Capacity {
  std::span<Server* const> servers;
  double factor;  // 1 + epsilon
  bool known = false;
  double per_weight = 0;  // (1 + epsilon) * m / total_weight

  bool has_room(const Server& s) {
    const std::uint32_t active = s.active.load(std::memory_order_relaxed);
    if (active == 0) return true;  // capacity is always >= 1
    if (!known) {
      std::uint64_t load = 1, weight = 0;  // load counts the exchange being placed
      for (const Server* x : servers) {
        if (!usable(*x)) continue;
        load += x->active.load(std::memory_order_relaxed);
        weight += detail::weight_of(*x);
      }
      per_weight =
          weight == 0 ? 0 : factor * static_cast<double>(load) / static_cast<double>(weight);
      known = true;
    }
    // For an integer a: a < ceil(x) exactly when a < x.
    return static_cast<double>(active) < per_weight * detail::weight_of(s);
  }
};

RingHash::RingHash(std::span<Server* const> servers, std::uint32_t points_per_server,
                   double epsilon)
    : servers_(servers.begin(), servers.end()), epsilon_(epsilon < 0 ? 0 : epsilon) {
  const std::size_t n = servers_.size();
  if (n == 0) return;
  std::uint64_t total_weight = 0;
  for (const Server* s : servers_) total_weight += detail::weight_of(*s);
  const std::uint64_t wanted = std::min<std::uint64_t>(
      std::max<std::uint64_t>(points_per_server, 1) * n, std::max<std::uint64_t>(kMaxPoints, n));
  for (std::size_t i = 0; i < n; ++i) {
    // Points by weight share, at least one. With equal weights every server gets exactly
    // points_per_server, so adding a server does not move the others' points.
    const double share = static_cast<double>(wanted) * detail::weight_of(*servers_[i]) /
                         static_cast<double>(total_weight);
    const auto points = std::max<std::uint64_t>(1, std::llround(share));
    for (std::uint64_t k = 0; k < points; ++k) {
      ring_.push_back({detail::hash_bytes(servers_[i]->name, k), static_cast<std::uint32_t>(i)});
    }
  }
  // Ties (two names hashing alike) are ordered by server so every process agrees.
  std::sort(ring_.begin(), ring_.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.server < b.server;
  });
}

const Server* RingHash::pick(const PickContext& ctx) {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  const std::uint64_t h = detail::key_hash(ctx);
  if (h == 0) {
    const std::uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
    const Server* s = servers_[turn % n];
    return detail::eligible(s, ctx) ? s : detail::nth_eligible(servers_, turn, ctx);
  }
  const auto it = std::lower_bound(ring_.begin(), ring_.end(), h,
                                   [](const Point& p, std::uint64_t v) { return p.hash < v; });
  const std::size_t start = it == ring_.end() ? 0 : static_cast<std::size_t>(it - ring_.begin());
  const std::size_t size = ring_.size();
  Capacity capacity{servers_, 1.0 + epsilon_};
  const Server* fallback = nullptr;  // first eligible server, should none have room
  for (std::size_t k = 0; k < size; ++k) {
    std::size_t i = start + k;
    if (i >= size) i -= size;
    const Server* s = servers_[ring_[i].server];
    if (!detail::eligible(s, ctx)) continue;
    if (epsilon_ == 0 || capacity.has_room(*s)) return s;
    if (fallback == nullptr) fallback = s;
  }
  // Only the avoided server had room (or loads moved under us): the key's own server is still
  // better than failing the request.
  return fallback;
}

}  // namespace fulcrum::balance
