// balance/server.h — a server as the balancers and the data plane see it.
//
// Immutable identity (name, endpoint, weight, backup) is fixed when a config snapshot is built.
// State that changes while the snapshot lives (health, admin state, load, latency) sits in
// atomics written by the control thread or by workers and read relaxed by pick(), so picking
// takes no lock. Relaxed is enough: a pick that sees a value one request late is still correct,
// and nothing else is published through these fields.
#pragma once

#include <asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace fulcrum::balance {

// Operator intent, separate from health: a drained server finishes what it has but gets no new
// picks; a disabled one gets nothing (the engine may also close its idle connections).
enum class AdminState : std::uint8_t { kEnabled = 0, kDrain = 1, kDisabled = 2 };

struct Server {
  std::string name;
  std::string backend;  // name of the backend it belongs to, for logs
  asio::ip::tcp::endpoint endpoint;
  std::uint32_t weight = 1;  // 1..256 from config; balancers treat 0 as 1
  // The value of the backend's sticky cookie that names this server (16 hex digits of a hash of
  // backend and server name, so it survives reloads and reveals nothing of the address), and
  // the whole "Set-Cookie: ...\r\n" line that pins a client to it, built once per load.
  std::string sticky_token;
  std::string sticky_set_cookie;
  // Stable across reloads for the same backend/name/address, so per-worker upstream
  // connection pools stay valid when a new snapshot keeps the server.
  std::uint32_t id = 0;
  // A backup server is picked only while no primary (non-backup) server of the backend is
  // usable; the make_* factories arrange that for every algorithm (see Tiered).
  bool backup = false;
  // Concurrent exchanges at which the server counts as full, 0 = unlimited. A full server is
  // passed over by every algorithm, like one that is down (see has_room()); the engine takes
  // its slot with try_acquire(), which never lets `active` exceed the limit.
  std::uint32_t max_connections = 0;
  // Length of the weight ramp after the server becomes usable again (0 = none). Applied by the
  // SlowStart wrapper (balance/slow_start.h) to the algorithms that spread load; hashing ones
  // keep their mapping instead.
  std::chrono::nanoseconds slow_start{0};

  // Written by health checks (control thread) and passive outlier detection.
  std::atomic<bool> up{true};
  // steady_clock time (ns since its epoch) at which the server last became usable after being
  // out, while its slow_start ramp may still run; 0 = no ramp. Set by the control thread;
  // cleared by the first pick that finds the ramp over (mutable for that), so picks stop
  // reading the clock.
  mutable std::atomic<std::int64_t> ramp_since_ns{0};
  // An AdminState, written by the admin API (control thread).
  // Mutable: the admin API changes it on the snapshot the workers hold (read-only otherwise).
  mutable std::atomic<std::uint8_t> admin{static_cast<std::uint8_t>(AdminState::kEnabled)};

  // Exchanges in flight on this server, across all workers. The engine increments it right
  // after a successful pick (before connecting) and decrements it exactly once when that
  // exchange ends, however it ends (response done, error, timeout, client gone). Read by
  // least_connections, p2c_ewma, ring_hash (bounded loads) and first (max_connections).
  // Mutable because workers only hold `const Server*` from pick().
  mutable std::atomic<std::uint32_t> active{0};

  // Smoothed upstream latency in nanoseconds (time to the response head), 0 = no sample yet.
  // Updated through record_latency() only; read by p2c_ewma.
  mutable std::atomic<std::uint64_t> ewma_ns{0};

  // Folds one latency sample into ewma_ns: ewma += (sample - ewma) / 8, i.e. each sample has
  // weight 1/8 and an old sample's influence halves every ~5.2 samples, so a slowdown shows
  // after a handful of requests while one outlier moves the mean by only 1/8 of its excess.
  // The first sample seeds the average. Load-compute-store without CAS: two workers recording
  // at once may lose one sample, which an average tolerates and which keeps this wait-free.
  // The decay is per sample, not per second; a server that gets no samples because it looks
  // slow is brought back by P2cEwma itself (see p2c_ewma.h).
  static void record_latency(const Server& s, std::uint64_t ns) {
    const std::uint64_t old = s.ewma_ns.load(std::memory_order_relaxed);
    std::uint64_t next = ns;
    if (old != 0) {
      next = ns >= old ? old + (ns - old) / 8 : old - (old - ns) / 8;
    }
    if (next == 0) next = 1;  // 0 means "unknown"; a measured 0 ns is still a measurement
    s.ewma_ns.store(next, std::memory_order_relaxed);
  }

  // Passive health (health/monitor.h): workers count what they see on real traffic, the control
  // thread polls the counts and ejects. A success resets a count only when it is not already 0,
  // so the common case reads a shared line without writing it.
  mutable std::atomic<std::uint32_t> consecutive_failures{0};  // connect failures, timeouts
  mutable std::atomic<std::uint32_t> consecutive_5xx{0};
};

// Called by workers after each exchange with `s` (passive health).
inline void record_success(const Server& s) {
  if (s.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    s.consecutive_failures.store(0, std::memory_order_relaxed);
  }
  if (s.consecutive_5xx.load(std::memory_order_relaxed) != 0) {
    s.consecutive_5xx.store(0, std::memory_order_relaxed);
  }
}
inline void record_failure(const Server& s) {
  s.consecutive_failures.fetch_add(1, std::memory_order_relaxed);
}
inline void record_5xx(const Server& s) {
  s.consecutive_5xx.fetch_add(1, std::memory_order_relaxed);
}

// Health and admin state allow new requests. Backup status is decided by the caller's tier.
inline bool usable(const Server& s) {
  return s.up.load(std::memory_order_relaxed) &&
         s.admin.load(std::memory_order_relaxed) == static_cast<std::uint8_t>(AdminState::kEnabled);
}

// Below max_connections (always, without a limit). A hint for pick(): another worker may take
// the last slot in between, which try_acquire() settles.
inline bool has_room(const Server& s) {
  return s.max_connections == 0 || s.active.load(std::memory_order_relaxed) < s.max_connections;
}

// Counts one exchange on `s` (the engine calls it right after pick()); false when the server is
// full, and then nothing was counted. Without a limit this is a plain increment; with one, a CAS
// loop keeps `active` from ever passing it, however many workers race for the last slot.
inline bool try_acquire(const Server& s) {
  if (s.max_connections == 0) {
    s.active.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::uint32_t a = s.active.load(std::memory_order_relaxed);
  do {
    if (a >= s.max_connections) return false;
  } while (!s.active.compare_exchange_weak(a, a + 1, std::memory_order_relaxed));
  return true;
}
// Ends the exchange try_acquire() counted.
inline void release(const Server& s) { s.active.fetch_sub(1, std::memory_order_relaxed); }

}  // namespace fulcrum::balance
