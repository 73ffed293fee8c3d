// balance/balancer.h — the whole face of the balancing subsystem.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "balance/server.h"

namespace fulcrum::balance {

// What a request offers to choose by. Per-pick state lives here, never in the balancer.
struct PickContext {
  std::uint64_t attempt = 0;  // 0 for the first try; retries avoid the previous pick
  const Server* avoid = nullptr;
  // Key for source_hash and consistent_hash; the caller fills one of them. `hash` wins when
  // non-zero (use hash_of() so equal keys give equal hashes across workers and reloads);
  // otherwise `hash_key` is hashed. With neither, hashing balancers fall back to round robin.
  // For source_hash: the client address bytes (hash_of(address) normalises v4-mapped v6).
  std::string_view hash_key{};
  std::uint64_t hash = 0;
  // A second server to pass over: one that was full when the engine tried to take its slot, or
  // one slow start turned away (the first `avoid` stays the failed server of a retry).
  const Server* avoid_also = nullptr;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Picks a usable server. Never blocks, never allocates, takes no lock; nullptr when none is
  // usable. Called concurrently from every worker.
  virtual const Server* pick(const PickContext& ctx) = 0;
};

// Names mirror the config's `balance:` values (see algorithm_name()).
enum class Algorithm : std::uint8_t {
  kRoundRobin,          // round_robin
  kWeightedRoundRobin,  // weighted_round_robin: smooth (nginx), no bursts
  kLeastConnections,    // least_connections: lowest active/weight
  kRandom,              // random: weighted
  kP2cEwma,             // p2c_ewma: two random choices, lower latency x load
  kSourceHash,          // source_hash: client address on a Maglev table
  kConsistentHash,      // consistent_hash: BalancerOptions::hash_kind on PickContext's key
  kFirst,               // first: fill servers in order
};

enum class ConsistentHashKind : std::uint8_t { kMaglev, kRingHash };

struct BalancerOptions {
  // consistent_hash only: the table behind it.
  ConsistentHashKind hash_kind = ConsistentHashKind::kMaglev;
  // Maglev lookup table entries (source_hash and consistent_hash/maglev); rounded up to a
  // prime. Keep it >= 100x the server count so each server's share is within ~1%.
  std::uint32_t maglev_table_size = 65537;
  // Ring hash: points on the ring per server, on average (spread by weight); more points give
  // a more even spread at the cost of memory (16 bytes each) and a longer binary search.
  std::uint32_t ring_points_per_server = 128;
  // Ring hash bounded loads: no server takes more than ceil((1 + epsilon) * average) of the
  // in-flight exchanges (weighted). 0 disables the bound (plain ring hash).
  double ring_load_epsilon = 0.25;
  // first: a server is full at this many active exchanges, unless it sets its own
  // Server::max_connections; 0 = never full.
  std::uint32_t max_connections = 0;
};

std::string_view algorithm_name(Algorithm a);
std::optional<Algorithm> parse_algorithm(std::string_view name);
// Maps keys to servers (source_hash, consistent_hash): slow start does not apply to these.
bool hashes(Algorithm a);

// Servers are owned by the backend and outlive its balancer. Every factory honours
// Server::backup (primaries only while one is usable, else backups only) and, for the
// algorithms that spread load, Server::slow_start (see slow_start.h).
std::unique_ptr<Balancer> make_balancer(Algorithm algorithm, std::span<Server* const> servers,
                                        const BalancerOptions& options = {});
std::unique_ptr<Balancer> make_round_robin(std::span<Server* const> servers);

// Hashes for PickContext::hash: stable across processes, workers and reloads; never 0.
std::uint64_t hash_of(std::string_view key);
std::uint64_t hash_of(const asio::ip::address& address);

}  // namespace fulcrum::balance
