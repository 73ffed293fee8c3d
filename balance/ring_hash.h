// balance/ring_hash.h — consistent hashing on a ring, with bounded loads.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// Each server places points on a 64-bit ring (hashes of its name and a point number), as many
// as its share of the weight; a key goes to the first point at or after its hash, clockwise.
// Adding or removing a server moves only the keys of the arcs it gains or loses.
//
// Bounded loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2018):
// no server may take more than ceil((1 + epsilon) * m * weight / total_weight) of the m
// exchanges in flight (counting this one; all servers usable, weights equal gives the paper's
// ceil((1 + epsilon) * m / n)). A key whose server is at capacity walks on clockwise to the next
// server below it. A hot key thus spills to its ring neighbours instead of overloading one
// server, while keys stay where they were as long as their server has room. Server::active is
// the load (see server.h); at least one usable server is always below capacity because the
// capacities sum to more than m.
//
// Cost: O(log points) for the search; when the first candidate is busy, one O(n) pass sums the
// load of the tier (a server with nothing in flight is below any capacity, so idle servers
// skip it). Servers out or avoided are walked past like full ones. A request without a key gets
// round robin.
class RingHash final : public Balancer {
 public:
  static constexpr std::uint32_t kMaxPoints = 1u << 20;

  // epsilon 0 disables the load bound (plain ring hash).
  RingHash(std::span<Server* const> servers, std::uint32_t points_per_server = 128,
           double epsilon = 0.25);
  const Server* pick(const PickContext& ctx) override;

  std::size_t ring_size() const { return ring_.size(); }

 private:
  struct Point {
    std::uint64_t hash;
    std::uint32_t server;  // index into servers_
  };
  // May `s` take one more exchange? Computes the tier's totals on first need.
  struct Capacity;

  std::vector<Server*> servers_;
  std::vector<Point> ring_;  // sorted by hash
  double epsilon_;
  alignas(64) std::atomic<std::uint64_t> next_{0};  // round robin for keyless requests
};

}  // namespace fulcrum::balance
