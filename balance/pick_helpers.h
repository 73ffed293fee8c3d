// balance/pick_helpers.h — small pieces every algorithm shares. Internal to balance/.
//
// All of these are pure functions over the server list and the per-pick context, so they keep
// pick() free of locks, allocation and shared writes.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "balance/balancer.h"

namespace fulcrum::balance::detail {

// May this request go to `s`? Health and admin state allow it, it has room below its
// max_connections, and it is not a server the caller asked to pass over.
inline bool eligible(const Server* s, const PickContext& ctx) {
  return s != ctx.avoid && s != ctx.avoid_also && usable(*s) && has_room(*s);
}

// Config allows 1..256; a 0 from elsewhere must not divide by zero or starve a server forever.
inline std::uint32_t weight_of(const Server& s) { return s.weight == 0 ? 1 : s.weight; }

// Maps a uniform 64-bit value onto [0, n) without a division (Lemire's multiply-shift).
inline std::uint64_t scale(std::uint64_t r, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

// Murmur3's finaliser: spreads every input bit over the output, so sequential or structured
// keys land uniformly.
inline std::uint64_t mix64(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// FNV-1a over the bytes, then mixed. Stable across builds and machines (unlike std::hash), which
// consistent hashing needs: every worker and every daemon must map a key the same way.
inline std::uint64_t hash_bytes(std::string_view bytes, std::uint64_t seed = 0) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

// The request's key as a hash, or 0 when the caller gave none.
inline std::uint64_t key_hash(const PickContext& ctx) {
  if (ctx.hash != 0) return ctx.hash;
  if (ctx.hash_key.empty()) return 0;
  const std::uint64_t h = hash_bytes(ctx.hash_key);
  return h == 0 ? 1 : h;
}

inline std::size_t count_eligible(std::span<Server* const> servers, const PickContext& ctx) {
  std::size_t n = 0;
  for (const Server* s : servers) n += eligible(s, ctx) ? 1 : 0;
  return n;
}

// The turn counted over eligible servers only: when one is out, its turns spread over all the
// others instead of doubling the share of its neighbour in the list. O(n); slow paths only.
// Health may change between the two scans (the control thread does not wait for us); if the
// k-th eligible server is gone by the second scan, the last eligible one seen answers, so a
// pick never fails while some server stays usable.
inline const Server* nth_eligible(std::span<Server* const> servers, std::uint64_t turn,
                                  const PickContext& ctx) {
  const std::size_t n = count_eligible(servers, ctx);
  if (n == 0) return nullptr;
  std::size_t k = turn % n;
  const Server* last = nullptr;
  for (const Server* s : servers) {
    if (!eligible(s, ctx)) continue;
    if (k-- == 0) return s;
    last = s;
  }
  return last;
}

// A weighted choice among eligible servers: `r` uniform over 64 bits selects a point in the
// total eligible weight. O(n); slow paths only.
inline const Server* weighted_eligible(std::span<Server* const> servers, std::uint64_t r,
                                       const PickContext& ctx) {
  std::uint64_t total = 0;
  for (const Server* s : servers) total += eligible(s, ctx) ? weight_of(*s) : 0;
  if (total == 0) return nullptr;
  std::uint64_t point = scale(r, total);
  const Server* last = nullptr;  // answers if health changed between the scans
  for (const Server* s : servers) {
    if (!eligible(s, ctx)) continue;
    const std::uint32_t w = weight_of(*s);
    if (point < w) return s;
    point -= w;
    last = s;
  }
  return last;
}

}  // namespace fulcrum::balance::detail
