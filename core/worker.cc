#include "core/worker.h"

#include <pthread.h>

#include <asio/post.hpp>

#include "core/log.h"

namespace fulcrum {

// Concurrency hint 1: exactly one thread runs this io_context, which lets Asio skip work it
// would do to hand completions between threads.
Worker::Worker(unsigned index) : index_(index), io_(1), guard_(asio::make_work_guard(io_)) {}

Worker::~Worker() { join(); }

void Worker::start(std::function<void()> on_exit) {
  thread_ = std::thread([this, on_exit = std::move(on_exit)] {
    char name[16];
    snprintf(name, sizeof name, "lbd-worker-%u", index_);
    pthread_setname_np(pthread_self(), name);
    for (;;) {
      try {
        run_loop();
        if (on_exit) on_exit();
        return;
      } catch (const std::exception& e) {
        // Handlers report errors as values; an exception here is a bug, but one bad
        // connection must not take the worker down with it.
        LOG_ERROR("worker {}: unexpected exception: {}", index_, e.what());
      }
    }
  });
}

void Worker::run_loop() {
  for (;;) {
    const std::int64_t spin = busy_poll_ns_;
    if (spin == 0) {
      io_.run();
      return;
    }
    // poll() runs what is ready (the reactor is asked with a zero timeout) without sleeping.
    if (io_.poll() > 0) continue;
    if (io_.stopped()) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(spin);
    std::size_t ran = 0;
    while ((ran = io_.poll()) == 0 && !io_.stopped() && std::chrono::steady_clock::now() < until) {
    }
    if (io_.stopped()) return;
    if (ran == 0 && io_.run_one() == 0) return;
  }
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post(std::function<void()> fn) { asio::post(io_, std::move(fn)); }

}  // namespace fulcrum
