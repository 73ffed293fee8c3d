// core/wait_queue.h — one worker's queue of sessions waiting for a server slot (a backend's
// `queue`), oldest first; the HTTP/1.1 and tcp engines each keep one per worker.
//
// Slots freed on this worker wake it at once (wake()); slots freed by other workers are found
// by a short poll while anything waits, because telling every other worker about every
// release would cost a cross-thread post per exchange.
//
// Intrusive and single-threaded (the owning worker's). A waiter T has public `T* q_prev` and
// `T* q_next`, and the queue calls two of its members (it may be a friend to reach them):
// `bool try_dequeue()`, which takes a slot and leaves the queue (remove()) or returns false,
// and `const void* queue_key() const`: waiters with the same key compete for the same slots,
// so once the oldest of them finds none, the later ones are not asked.
#pragma once

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>

namespace fulcrum {

template <class T>
class WaitQueue {
 public:
  static constexpr std::chrono::milliseconds kPoll{2};

  explicit WaitQueue(asio::io_context& io) : io_(io), timer_(io) {}
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  bool empty() const { return head_ == nullptr; }

  void push(T& t) {
    t.q_prev = tail_;
    t.q_next = nullptr;
    (tail_ ? tail_->q_next : head_) = &t;
    tail_ = &t;
    arm();
  }

  void remove(T& t) {
    (t.q_prev ? t.q_prev->q_next : head_) = t.q_next;
    (t.q_next ? t.q_next->q_prev : tail_) = t.q_prev;
    t.q_prev = t.q_next = nullptr;
  }

  // Offers the slots free now to the waiters, in arrival order.
  void serve() {
    const void* full = nullptr;
    for (T* t = head_; t != nullptr;) {
      T* next = t->q_next;  // try_dequeue() unlinks t
      if (t->queue_key() != full && !t->try_dequeue()) full = t->queue_key();
      t = next;
    }
  }

  // A slot was freed on this worker: serve from the event loop (the caller is mid-release).
  void wake() {
    if (head_ == nullptr || wake_posted_) return;
    wake_posted_ = true;
    asio::post(io_, [this] {
      wake_posted_ = false;
      serve();
    });
  }

  void cancel() { timer_.cancel(); }

 private:
  void arm() {
    if (armed_) return;
    armed_ = true;
    timer_.expires_after(kPoll);
    timer_.async_wait([this](const std::error_code& ec) {
      armed_ = false;
      if (ec) return;
      serve();
      if (head_ != nullptr) arm();
    });
  }

  asio::io_context& io_;
  asio::steady_timer timer_;
  T* head_ = nullptr;
  T* tail_ = nullptr;
  bool armed_ = false;
  bool wake_posted_ = false;
};

}  // namespace fulcrum
