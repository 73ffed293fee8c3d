// l4/tcp_worker.h — what one worker owns for `mode: tcp` listeners: its current snapshot, its
// pipe pool, the list of its live sessions and the timeout sweep over them.
//
// Everything here is touched only on the worker's own thread (the control thread reaches it
// through Worker::post), so nothing is locked.
#pragma once

#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "core/wait_queue.h"
#include "core/worker.h"
#include "l4/tcp_pipe_pool.h"
#include "l7/snapshot.h"

namespace fulcrum::l4 {

class TcpSession;
using Clock = std::chrono::steady_clock;

// Live sessions of one tcp listener across all workers, for its max_connections. Owned by the
// server, one per listener; outlives the acceptors and sessions that point at it.
struct TcpListenerCount {
  std::atomic<std::uint32_t> sessions{0};
};

struct TcpWorker {
  explicit TcpWorker(Worker& w) : worker(w), sweep_timer(w.io()), now(Clock::now()) {}

  Worker& worker;
  // Replaced by the control thread through Worker::post; new sessions take the current one and
  // keep it until they end, so a reload never changes a session under way.
  std::shared_ptr<const l7::Snapshot> snapshot;
  PipePool pipes;
  asio::steady_timer sweep_timer;
  // Refreshed by every sweep tick: sessions stamp their deadlines with it, so moving an idle
  // deadline on each transfer costs a store, not a clock read.
  Clock::time_point now;
  // Intrusive list of live sessions (TcpSession links itself in and out).
  TcpSession* sessions = nullptr;
  std::size_t session_count = 0;
  bool draining = false;
  // Sessions waiting for a server slot, oldest first (TcpSession::enqueue).
  WaitQueue<TcpSession> queue{worker.io()};
};

// The timeout sweep: one timer per worker, not one per session (timeouts fire up to one tick,
// 100 ms, late). It stops once the worker drains and its last session has ended.
void start_sweep(TcpWorker& w);
// Graceful shutdown: sessions relaying keep going until they end (or the server's
// shutdown_timeout aborts them); sessions still before their upstream is chosen close now.
void drain_sessions(TcpWorker& w);
// Closes every session at once (shutdown timeout, or the worker's loop has ended).
void abort_sessions(TcpWorker& w);
// After the worker took a new snapshot: sessions whose listener or backend it no longer has
// are closed once `grace` has passed; the rest carry on untouched.
void retire_sessions(TcpWorker& w, std::chrono::milliseconds grace);

}  // namespace fulcrum::l4
