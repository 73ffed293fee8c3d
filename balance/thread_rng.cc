#include "balance/thread_rng.h"

#include <atomic>

namespace fulcrum::balance {

namespace {

// Constant-initialised, so access compiles to a plain TLS load without an init guard.
thread_local std::uint64_t t_state = 0;
std::atomic<std::uint64_t> g_next_seed{0x2545F4914F6CDD1DULL};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

void ThreadRng::seed(std::uint64_t seed) {
  const std::uint64_t s = splitmix64(seed);
  t_state = s == 0 ? 0x9e3779b97f4a7c15ULL : s;  // xorshift's state must never be 0
}

std::uint64_t ThreadRng::next() {
  if (t_state == 0) seed(g_next_seed.fetch_add(1, std::memory_order_relaxed));
  std::uint64_t x = t_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  t_state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

}  // namespace fulcrum::balance
