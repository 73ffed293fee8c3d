// metrics/stats.h — counters the workers write and the exporter reads.
//
// Every counter has one writer: the worker that owns the slot. So counting is a relaxed load and
// store of a thread's own cache line, never a locked read-modify-write and never a line shared
// with another worker; the exporter (another thread) reads relaxed and sums the workers' slots
// at scrape time. A scrape may see one worker a count behind another, which a monotonic counter
// sampled every few seconds does not mind.
//
// Blocks live in the Registry (registry.h) by name or by Server::id, not in a config snapshot,
// so counters keep counting across reloads instead of dropping to zero.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace fulcrum::metrics {

class Count {
 public:
  void add(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A per-worker level (open connections): the worker that raises it lowers it, so the sum over
// workers is exact, while one worker's own value may go below zero only if a connection moved,
// which never happens.
class Level {
 public:
  void inc() { v_.store(v_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  void dec() { v_.store(v_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); }
  std::int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Latency buckets in seconds: 0.5 ms to 60 s, roughly x2.5 apart, so a p99 from
// histogram_quantile() is good to a bucket width from loopback to slow backends.
inline constexpr std::array<double, 15> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};

class Histogram {
 public:
  void observe(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < kLatencyBuckets.size() && s > kLatencyBuckets[i]) ++i;
    buckets_[i].add();  // i == size(): +Inf only
    sum_ns_.add(static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count()));
  }
  // Non-cumulative count of bucket i (i == kLatencyBuckets.size(): above the last bound).
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  std::uint64_t sum_ns() const { return sum_ns_.get(); }

 private:
  std::array<Count, kLatencyBuckets.size() + 1> buckets_;
  Count sum_ns_;
};

// Why the proxy answered a request itself (an error it generated) or cut it short. Labels of
// fulcrum_http_local_responses_total{reason=...}; keep in step with reason_name().
enum class Reason : std::uint8_t {
  kBadRequest,       // 400: malformed request
  kNotFound,         // 404: no route
  kMethod,           // 405
  kHeaderTimeout,    // 408
  kTooLarge,         // 413 / 414 / 431
  kNotImplemented,   // 501 / 505
  kUpstreamError,    // 502: connect failed, bad or cut response
  kNoServer,         // 503: no usable server
  kQueueFull,        // 503
  kQueueTimeout,     // 503
  kUpstreamTimeout,  // 504: connect, response or request_timeout
  kOther,
  kCount
};
const char* reason_name(Reason r);
Reason reason_for(int status, const char* text);

// Status classes: index 1..5 for 1xx..5xx, 0 for anything else.
inline std::size_t status_class(int status) {
  return status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100) : 0;
}

// Why a TLS handshake did not complete. Labels of fulcrum_tls_handshake_failures_total;
// keep in step with tls_failure_name() (registry.cc).
enum class TlsFailure : std::uint8_t {
  kTimeout,   // handshake_timeout passed (a silent or slow client)
  kProtocol,  // not TLS, no shared protocol or cipher, bad or missing client certificate
  kClosed,    // the client closed or reset the connection mid-handshake
  kCount
};
const char* tls_failure_name(TlsFailure f);

// One worker's counters of one HTTP or TCP listener.
struct alignas(64) ListenerSlot {
  Count connections;               // accepted
  Level open;                      // open client connections (or L4 sessions)
  std::array<Count, 6> responses;  // by status class
  Count bytes_in;                  // from clients
  Count bytes_out;                 // to clients
  std::array<Count, static_cast<std::size_t>(Reason::kCount)> local;
  Histogram duration;    // request head received -> response complete
  Count rejected;        // L4: connections closed at once (limits, PROXY, SNI)
  Count tls_handshakes;  // TLS handshakes completed (full or resumed)
  Count tls_resumed;     // of those, resumed from a ticket or the session cache
  std::array<Count, static_cast<std::size_t>(TlsFailure::kCount)> tls_failures;
};

struct alignas(64) BackendSlot {
  Count requests;  // exchanges started with a server (retries included)
  Count retries;
  Count queued;        // requests that had to wait for a slot
  Histogram upstream;  // request sent -> response head (time to first byte)
};

struct alignas(64) ServerSlot {
  std::array<Count, 6> responses;
  Count connect_failures;
  Count timeouts;
  Count bytes_in;   // from the server
  Count bytes_out;  // to the server
};

struct alignas(64) RouteSlot {
  Count requests;  // requests the route took (forwarded, split, redirected or answered)
};

template <class Slot>
struct Block {
  Block(std::string n, std::size_t workers)
      : name(std::move(n)), slots(std::make_unique<Slot[]>(workers)) {}
  std::string name;
  std::unique_ptr<Slot[]> slots;  // one per worker
};

}  // namespace fulcrum::metrics
