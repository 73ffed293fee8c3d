// core/worker.h — one data-plane thread with its own asio::io_context.
//
// A connection accepted by a worker lives and dies on it, with its upstream connections, so
// nothing on the request path is shared between workers. The control thread talks to a worker
// only by posting work to its io_context (post()).
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

#include "core/buffer.h"

namespace fulcrum {

class Worker {
 public:
  explicit Worker(unsigned index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index() const { return index_; }
  asio::io_context& io() { return io_; }
  BlockPool& blocks() { return blocks_; }

  // Runs the loop on a new thread; `on_exit` runs on that thread once the loop has ended.
  void start(std::function<void()> on_exit = {});
  // Lets the loop end once no work is left (sessions close themselves after draining).
  void release_guard() { guard_.reset(); }
  void stop() { io_.stop(); }  // hard stop after the shutdown timeout
  void join();
  // Runs `fn` on this worker's thread.
  void post(std::function<void()> fn);
  // How long the loop keeps polling for events after it ran out of them, before it sleeps
  // (config busy_poll; 0: sleep at once). Before start().
  void set_busy_poll(std::chrono::nanoseconds d) { busy_poll_ns_ = d.count(); }

 private:
  unsigned index_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  BlockPool blocks_;
  std::int64_t busy_poll_ns_ = 0;
  std::thread thread_;
  void run_loop();
};

}  // namespace fulcrum
