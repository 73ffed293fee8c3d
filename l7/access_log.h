// l7/access_log.h — one line per request, written off the workers.
//
// Each worker formats its line and copies it into its own single-producer ring; one writer
// thread per output drains all rings every 100 ms (or sooner when a ring fills past half) and
// writes them with one write(2) per batch. A worker never blocks and never takes a lock: when
// its ring is full the line is dropped and counted, and the count is logged by the writer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fulcrum::l7 {

// What one access-log line says about one request. A session keeps one (allocated only when its
// listener logs) and reuses its strings' capacity from request to request.
struct AccessRecord {
  bool active = false;
  std::chrono::system_clock::time_point start_wall;
  std::chrono::steady_clock::time_point start;
  std::string client;
  std::string method, target, protocol, host, referer, user_agent;
  std::string_view listener, backend, server;  // point into the session's snapshot
  int status = 0;
  std::uint64_t bytes = 0;  // response body bytes sent to the client
};

enum class AccessLogFormat { kCombined, kJson };

// Appends one line (with '\n') in NGINX's "combined" format or as a JSON object.
void format_access_line(std::string& out, const AccessRecord& r, AccessLogFormat format);

// Single producer (a worker), single consumer (the writer thread).
class LogRing {
 public:
  explicit LogRing(std::size_t capacity) : buf_(capacity) {}
  // False when the line does not fit (dropped).
  bool push(std::string_view line);
  // Appends everything available to `out` and frees it.
  void drain(std::string& out);
  std::size_t used() const {
    return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
  }
  std::size_t capacity() const { return buf_.size(); }

 private:
  std::vector<char> buf_;
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the producer
  alignas(64) std::atomic<std::size_t> tail_{0};  // written by the consumer
};

class AccessLogSink {
 public:
  // Opens "stdout", "stderr" or a file (O_APPEND, created 0640). Null and `error` set on failure.
  static std::shared_ptr<AccessLogSink> open(const std::string& path, unsigned workers,
                                             std::string& error);
  ~AccessLogSink();
  AccessLogSink(const AccessLogSink&) = delete;
  AccessLogSink& operator=(const AccessLogSink&) = delete;

  // Called by worker `index` only.
  void write(unsigned index, std::string_view line);
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  AccessLogSink(int fd, bool owns_fd, std::string path, unsigned workers);
  void run();
  void flush(std::string& batch);

  int fd_;
  bool owns_fd_;
  std::string path_;
  std::vector<std::unique_ptr<LogRing>> rings_;
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> wake_{false};
  std::mutex mu_;  // only for the writer's sleep; workers never take it
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace fulcrum::l7
