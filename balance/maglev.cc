#include "balance/maglev.h"

#include <algorithm>
#include <limits>

#include "balance/pick_helpers.h"

namespace fulcrum::balance {

namespace {

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  for (std::uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// Seeds for the two name hashes; any two distinct values do, but they must never change:
// they decide which keys go where.
constexpr std::uint64_t kOffsetSeed = 0x6d61676c65762d6fULL;  // "maglev-o"
constexpr std::uint64_t kSkipSeed = 0x6d61676c65762d73ULL;    // "maglev-s"

}  // namespace

Maglev::Maglev(std::span<Server* const> servers, std::uint32_t table_size)
    : servers_(servers.begin(), servers.end()) {
  const std::size_t n = servers_.size();
  if (n == 0) return;
  std::uint64_t m = std::max<std::uint64_t>({table_size, n, 2});
  while (!is_prime(m)) ++m;

  std::vector<std::uint64_t> position(n), skip(n), credit(n, 0);
  std::uint64_t max_weight = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& name = servers_[i]->name;
    position[i] = detail::hash_bytes(name, kOffsetSeed) % m;
    skip[i] = detail::hash_bytes(name, kSkipSeed) % (m - 1) + 1;  // m prime: visits every entry
    max_weight = std::max<std::uint64_t>(max_weight, detail::weight_of(*servers_[i]));
  }

  // Servers claim in name order, not config order, so reordering the config moves no key.
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return servers_[a]->name < servers_[b]->name;
  });

  constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();
  table_.assign(m, kEmpty);
  std::uint64_t filled = 0;
  while (filled < m) {
    for (std::size_t k = 0; k < n && filled < m; ++k) {
      const std::size_t i = order[k];
      credit[i] += detail::weight_of(*servers_[i]);
      if (credit[i] < max_weight) continue;
      credit[i] -= max_weight;
      // The next entry of this server's permutation that nobody claimed yet. Its permutation
      // covers the whole table, so this ends.
      while (table_[position[i]] != kEmpty) position[i] = (position[i] + skip[i]) % m;
      table_[position[i]] = static_cast<std::uint32_t>(i);
      position[i] = (position[i] + skip[i]) % m;
      ++filled;
    }
  }
}

const Server* Maglev::owner(std::uint64_t hash) const {
  if (table_.empty()) return nullptr;
  return servers_[table_[hash % table_.size()]];
}

const Server* Maglev::pick(const PickContext& ctx) {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  const std::uint64_t h = detail::key_hash(ctx);
  if (h == 0) {
    const std::uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
    const Server* s = servers_[turn % n];
    return detail::eligible(s, ctx) ? s : detail::nth_eligible(servers_, turn, ctx);
  }
  // Modulo rather than a multiply-shift: a caller's own hash may vary only in its low bits.
  const std::size_t m = table_.size();
  std::size_t entry = h % m;
  for (int step = 0; step < kMaxWalk; ++step) {
    const Server* s = servers_[table_[entry]];
    if (detail::eligible(s, ctx)) return s;
    if (++entry == m) entry = 0;
  }
  return detail::nth_eligible(servers_, detail::mix64(h), ctx);
}

}  // namespace fulcrum::balance
