// balance/maglev.h — Maglev consistent hashing (Eisenbud et al., NSDI 2016).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {

// A lookup table of M entries (M prime), each naming a server. Every server has its own
// permutation of the entries, from two hashes of its name (offset, skip); servers take turns
// claiming their next unclaimed preferred entry until the table is full. A key's hash picks an
// entry: O(1) per pick, an even spread (each server within about one entry of its share), and
// when a server is added or removed, only about 1/N of the keys move.
//
// Weights: per round the heaviest server claims one entry and the others claim in proportion
// (a credit of weight / max_weight per round), so table shares follow the weights.
//
// The table is built from names only, so it is the same in every worker, in every daemon of an
// HA pair and across reloads that keep the server names. Health is applied at pick time
// instead of rebuilding: when a key's entry names a server that is out (or avoided), the pick
// walks to the next entries until one names an eligible server. Entries are claimed in
// pseudo-random order, so a failed server's keys spread over the others by their shares, and
// the keys of every other server do not move at all. After kMaxWalk entries (only when nearly
// every server is out) the key is rehashed over the eligible servers instead.
//
// A request without a key (PickContext::hash and hash_key both empty) gets round robin.
class Maglev final : public Balancer {
 public:
  static constexpr std::uint32_t kDefaultTableSize = 65537;
  static constexpr int kMaxWalk = 64;

  // table_size is rounded up to a prime, and to at least the server count.
  explicit Maglev(std::span<Server* const> servers, std::uint32_t table_size = kDefaultTableSize);
  const Server* pick(const PickContext& ctx) override;

  std::uint32_t table_size() const { return static_cast<std::uint32_t>(table_.size()); }
  // The server owning the entry of `hash`, health ignored; for tests and diagnostics.
  const Server* owner(std::uint64_t hash) const;

 private:
  std::vector<Server*> servers_;
  std::vector<std::uint32_t> table_;                // index into servers_ per entry
  alignas(64) std::atomic<std::uint64_t> next_{0};  // round robin for keyless requests
};

}  // namespace fulcrum::balance
