// Factories and hashing helpers of balancer.h.
#include "balance/balancer.h"

#include <array>
#include <vector>

#include "balance/first.h"
#include "balance/least_connections.h"
#include "balance/maglev.h"
#include "balance/p2c_ewma.h"
#include "balance/pick_helpers.h"
#include "balance/random.h"
#include "balance/ring_hash.h"
#include "balance/round_robin.h"
#include "balance/slow_start.h"
#include "balance/source_hash.h"
#include "balance/tiered.h"
#include "balance/weighted_round_robin.h"

namespace fulcrum::balance {

namespace {

constexpr std::array<std::pair<Algorithm, std::string_view>, 8> kNames{{
    {Algorithm::kRoundRobin, "round_robin"},
    {Algorithm::kWeightedRoundRobin, "weighted_round_robin"},
    {Algorithm::kLeastConnections, "least_connections"},
    {Algorithm::kRandom, "random"},
    {Algorithm::kP2cEwma, "p2c_ewma"},
    {Algorithm::kSourceHash, "source_hash"},
    {Algorithm::kConsistentHash, "consistent_hash"},
    {Algorithm::kFirst, "first"},
}};

std::unique_ptr<Balancer> make_one(Algorithm algorithm, std::span<Server* const> servers,
                                   const BalancerOptions& o) {
  switch (algorithm) {
    case Algorithm::kRoundRobin:
      return std::make_unique<RoundRobin>(servers);
    case Algorithm::kWeightedRoundRobin:
      return std::make_unique<WeightedRoundRobin>(servers);
    case Algorithm::kLeastConnections:
      return std::make_unique<LeastConnections>(servers);
    case Algorithm::kRandom:
      return std::make_unique<Random>(servers);
    case Algorithm::kP2cEwma:
      return std::make_unique<P2cEwma>(servers);
    case Algorithm::kSourceHash:
      return std::make_unique<SourceHash>(servers, o.maglev_table_size);
    case Algorithm::kConsistentHash:
      if (o.hash_kind == ConsistentHashKind::kRingHash) {
        return std::make_unique<RingHash>(servers, o.ring_points_per_server, o.ring_load_epsilon);
      }
      return std::make_unique<Maglev>(servers, o.maglev_table_size);
    case Algorithm::kFirst:
      return std::make_unique<First>(servers, o.max_connections);
  }
  return nullptr;
}

}  // namespace

std::string_view algorithm_name(Algorithm a) {
  for (const auto& [algorithm, name] : kNames) {
    if (algorithm == a) return name;
  }
  return "unknown";
}

bool hashes(Algorithm a) { return a == Algorithm::kSourceHash || a == Algorithm::kConsistentHash; }

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  for (const auto& [algorithm, n] : kNames) {
    if (n == name) return algorithm;
  }
  return std::nullopt;
}

std::unique_ptr<Balancer> make_balancer(Algorithm algorithm, std::span<Server* const> servers,
                                        const BalancerOptions& options) {
  std::vector<Server*> primaries, backups;
  for (Server* s : servers) (s->backup ? backups : primaries).push_back(s);
  // Without both tiers there is nothing to switch between: no wrapper, no extra call.
  std::unique_ptr<Balancer> b =
      backups.empty() || primaries.empty()
          ? make_one(algorithm, servers, options)
          : std::make_unique<Tiered>(primaries, make_one(algorithm, primaries, options),
                                     make_one(algorithm, backups, options));
  bool ramps = false;
  for (const Server* s : servers) ramps = ramps || s->slow_start.count() > 0;
  if (ramps && !hashes(algorithm)) b = std::make_unique<SlowStart>(std::move(b));
  return b;
}

std::unique_ptr<Balancer> make_round_robin(std::span<Server* const> servers) {
  return make_balancer(Algorithm::kRoundRobin, servers);
}

std::uint64_t hash_of(std::string_view key) {
  const std::uint64_t h = detail::hash_bytes(key);
  return h == 0 ? 1 : h;
}

std::uint64_t hash_of(const asio::ip::address& address) {
  // A v4 client seen through a dual-stack socket (::ffff:a.b.c.d) hashes as the v4 address, so
  // the listener's socket family does not change where a client goes.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return hash_of(
        asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6())));
  }
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    return hash_of(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  const auto bytes = address.to_v6().to_bytes();
  return hash_of(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace fulcrum::balance
