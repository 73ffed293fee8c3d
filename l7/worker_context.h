// l7/worker_context.h — what one worker owns for HTTP: its current snapshot, its upstream pool,
// scratch space for parsing, and the list of its live sessions (for graceful shutdown).
#pragma once

#include <array>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/wait_queue.h"
#include "core/worker.h"
#include "l7/http1/parser.h"
#include "l7/snapshot.h"
#include "l7/upstream_pool.h"

namespace fulcrum::l7 {

class HttpSession;

// The last requests this worker refused or failed (status, reason), for the admin API's
// `show errors`. Written on the error path only; the lock is uncontended but for the rare
// reader on the control thread.
struct RecentError {
  std::chrono::system_clock::time_point at;
  std::string listener;
  std::string client;
  int status = 0;
  std::string reason;
};
class RecentErrors {
 public:
  static constexpr std::size_t kKept = 32;
  void push(RecentError e) {
    std::lock_guard lock(mu_);
    ring_[next_] = std::move(e);
    next_ = (next_ + 1) % kKept;
    if (count_ < kKept) ++count_;
  }
  std::vector<RecentError> copy() const {
    std::lock_guard lock(mu_);
    std::vector<RecentError> out;
    for (std::size_t i = 0; i < count_; ++i)
      out.push_back(ring_[(next_ + kKept - count_ + i) % kKept]);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::array<RecentError, kKept> ring_;
  std::size_t next_ = 0, count_ = 0;
};

struct WorkerContext {
  explicit WorkerContext(Worker& w) : worker(w), pool(w.io()), sweep_timer(w.io()) {}

  Worker& worker;
  // Replaced by the control thread through Worker::post, read only on this worker's thread.
  std::shared_ptr<const Snapshot> snapshot;
  UpstreamPool pool;
  asio::steady_timer sweep_timer;  // session timeouts (l7/http_session.cc: start_sweep)
  // Heads are parsed here and rewritten at once, so a session never holds the ~4 KiB header
  // array while it waits; only the few facts it needs later are copied out.
  http1::RequestHead req_scratch;
  http1::ResponseHead resp_scratch;
  std::string scratch;   // rewritten request targets
  std::string log_line;  // access-log lines are formatted here, then copied to the ring

  // xorshift64: weighted splits need randomness, and a per-worker generator shares nothing.
  std::uint32_t random() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return static_cast<std::uint32_t>(rng >> 32);
  }
  std::uint64_t rng = 0x9E3779B97F4A7C15ull ^ reinterpret_cast<std::uintptr_t>(this);
  // Intrusive list of live sessions (HttpSession links itself in and out).
  HttpSession* sessions = nullptr;
  std::size_t session_count = 0;
  bool draining = false;
  // Requests of this worker waiting for a server slot (max_connections), oldest first.
  WaitQueue<HttpSession> queue{worker.io()};
  RecentErrors recent_errors;
};

}  // namespace fulcrum::l7
