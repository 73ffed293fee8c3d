#include "balance/sticky_table.h"

#include <bit>
#include <chrono>

namespace fulcrum::balance {

namespace {

// The top 40 bits of the hash, never 0 (0 marks an empty entry).
std::uint64_t tag_of(std::uint64_t h) {
  const std::uint64_t t = h >> 24;
  return t == 0 ? 1 : t;
}

}  // namespace

std::uint32_t StickyTable::capacity_for(std::uint32_t entries) {
  return std::bit_ceil(entries < kBucket ? kBucket : entries);
}

StickyTable::StickyTable(std::uint32_t entries, std::uint32_t ttl_seconds)
    : mask_(capacity_for(entries) - 1), ttl_(ttl_seconds) {
  entries_ = std::make_unique<Entry[]>(static_cast<std::size_t>(mask_) + 1);
}

std::uint32_t StickyTable::now() {
  // Offset by one so that a stamp of 0 is never a real time (stamps start from the epoch of
  // steady_clock, usually boot).
  return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count()) +
         1;
}

void StickyTable::learn(std::uint64_t key_hash, std::uint32_t server_id,
                        std::uint32_t now_seconds) {
  if (server_id > kMaxServerId) return;
  const std::uint64_t tag = tag_of(key_hash);
  const std::uint64_t value = (tag << 24) | server_id;
  Entry* bucket = &entries_[static_cast<std::uint32_t>(key_hash) & mask_ & ~(kBucket - 1)];
  Entry* victim = nullptr;
  std::uint32_t victim_age = 0;
  for (std::uint32_t i = 0; i < kBucket; ++i) {
    Entry& e = bucket[i];
    const std::uint64_t cur = e.tag_id.load(std::memory_order_relaxed);
    if (cur >> 24 == tag) {  // known key: refresh, and move it if another server answered
      if (cur != value) e.tag_id.store(value, std::memory_order_relaxed);
      if (e.stamp.load(std::memory_order_relaxed) != now_seconds) {
        e.stamp.store(now_seconds, std::memory_order_relaxed);
      }
      return;
    }
    const std::uint32_t stamp = e.stamp.load(std::memory_order_relaxed);
    const std::uint32_t age =
        cur == 0 || now_seconds - stamp >= ttl_ ? UINT32_MAX : now_seconds - stamp;
    if (victim == nullptr || age > victim_age) {
      victim = &e;
      victim_age = age;
    }
  }
  victim->stamp.store(now_seconds, std::memory_order_relaxed);
  victim->tag_id.store(value, std::memory_order_relaxed);
}

std::optional<std::uint32_t> StickyTable::find(std::uint64_t key_hash, std::uint32_t now_seconds) {
  const std::uint64_t tag = tag_of(key_hash);
  Entry* bucket = &entries_[static_cast<std::uint32_t>(key_hash) & mask_ & ~(kBucket - 1)];
  for (std::uint32_t i = 0; i < kBucket; ++i) {
    Entry& e = bucket[i];
    const std::uint64_t cur = e.tag_id.load(std::memory_order_relaxed);
    if (cur >> 24 != tag) continue;
    const std::uint32_t stamp = e.stamp.load(std::memory_order_relaxed);
    if (now_seconds - stamp >= ttl_) return std::nullopt;  // expired: balance afresh
    if (stamp != now_seconds) e.stamp.store(now_seconds, std::memory_order_relaxed);
    return static_cast<std::uint32_t>(cur & kMaxServerId);
  }
  return std::nullopt;
}

}  // namespace fulcrum::balance
