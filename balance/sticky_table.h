// balance/sticky_table.h — learned session affinity: which server set a session cookie.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

namespace fulcrum::balance {

// A fixed-size table from a session key's hash to the Server::id that answered it, written by
// every worker as responses set the cookie and read by every worker as requests carry it
// (sticky `mode: learn`, like NGINX's `sticky learn` and HAProxy's stick tables). Sized once, so
// learning allocates nothing; each entry is one 64-bit atomic (40 bits of the key's hash and a
// 24-bit server id, so a reader never sees one key's tag with another's server) and a 32-bit
// last-use stamp in seconds. No lock: racing writers to one entry leave one of their values,
// which costs at most one session its affinity, as an eviction would.
//
// Keys live in buckets of eight entries (two cache lines); at half full, under 1% of keys find
// their bucket full, so size the table at about twice the sessions to remember; a new key takes an
// empty or expired entry of its bucket, else the least recently used. An entry expires `ttl` after
// its last use; a lookup refreshes the stamp at most once a second, so a busy session does not
// write a shared line per request. Carried across reloads by backend name (server ids are stable
// across reloads).
class StickyTable {
 public:
  static constexpr std::uint32_t kMaxServerId = (1u << 24) - 1;

  // `entries` is rounded up to a power of two (at least one bucket).
  StickyTable(std::uint32_t entries, std::uint32_t ttl_seconds);

  void learn(std::uint64_t key_hash, std::uint32_t server_id, std::uint32_t now_seconds);
  std::optional<std::uint32_t> find(std::uint64_t key_hash, std::uint32_t now_seconds);

  std::uint32_t capacity() const { return mask_ + 1; }
  // The capacity a table made for `entries` has (a power of two, at least one bucket).
  static std::uint32_t capacity_for(std::uint32_t entries);
  std::uint32_t ttl_seconds() const { return ttl_; }

  // Seconds on a steady clock, for `now_seconds`.
  static std::uint32_t now();

 private:
  struct Entry {
    std::atomic<std::uint64_t> tag_id{0};  // 0 = empty
    std::atomic<std::uint32_t> stamp{0};
  };
  static constexpr std::uint32_t kBucket = 8;

  std::unique_ptr<Entry[]> entries_;
  std::uint32_t mask_;
  std::uint32_t ttl_;
};

}  // namespace fulcrum::balance
