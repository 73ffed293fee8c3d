#include "balance/slow_start.h"

#include <chrono>

#include "balance/thread_rng.h"

namespace fulcrum::balance {

std::uint32_t SlowStart::share(const Server& s, std::int64_t now_ns) {
  constexpr std::uint32_t kFull = 1u << 16;
  const std::int64_t since = s.ramp_since_ns.load(std::memory_order_relaxed);
  const std::int64_t length = s.slow_start.count();
  if (since == 0 || length <= 0) return kFull;
  const std::int64_t elapsed = now_ns - since;
  if (elapsed >= length) return kFull;
  if (elapsed <= 0) return 0;
  return static_cast<std::uint32_t>((static_cast<unsigned __int128>(elapsed) * kFull) /
                                    static_cast<unsigned __int128>(length));
}

const Server* SlowStart::pick(const PickContext& ctx) {
  const Server* s = inner_->pick(ctx);
  if (s == nullptr) return s;
  std::int64_t since = s->ramp_since_ns.load(std::memory_order_relaxed);
  if (since == 0) return s;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  const std::uint32_t share = SlowStart::share(*s, now);
  if (share >= (1u << 16)) {
    // The ramp is over: end it for every worker. The CAS leaves a ramp the control thread
    // restarted meanwhile alone.
    s->ramp_since_ns.compare_exchange_strong(since, 0, std::memory_order_relaxed);
    return s;
  }
  if ((ThreadRng::next() & 0xffff) < share) return s;
  PickContext again = ctx;
  // The caller's own second avoid (a full server) would be dropped here; keeping the ramping
  // one out matters more, and try_acquire() still guards the full one.
  again.avoid_also = s;
  const Server* other = inner_->pick(again);
  return other != nullptr ? other : s;
}

}  // namespace fulcrum::balance
