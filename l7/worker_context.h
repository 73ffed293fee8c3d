// l7/worker_context.h — what one worker owns for HTTP: its current snapshot, its upstream pool,
// scratch space for parsing, and the list of its live sessions (for graceful shutdown).
#pragma once

#include <asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "core/worker.h"
#include "l7/http1/parser.h"
#include "l7/snapshot.h"
#include "l7/upstream_pool.h"

namespace fulcrum::l7 {

class HttpSession;

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
};

}  // namespace fulcrum::l7
