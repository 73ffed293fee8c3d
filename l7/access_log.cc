#include "l7/access_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>

#include "core/log.h"

namespace fulcrum::l7 {

namespace {

void json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// Combined-format fields are quoted; a quote or control byte inside would break the line's
// grammar for log parsers, so those are escaped as \xHH like NGINX does.
void quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  if (s.empty()) out.push_back('-');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || u < 0x20 || u >= 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02X}", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void format_access_line(std::string& out, const AccessRecord& r, AccessLogFormat format) {
  const auto secs = std::chrono::system_clock::to_time_t(r.start_wall);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const double duration =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - r.start).count();
  if (format == AccessLogFormat::kCombined) {
    char when[40];
    std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    out += r.client;
    out += " - - [";
    out += when;
    out += "] ";
    std::string request = r.method;
    if (!r.target.empty()) request += " " + r.target + " " + r.protocol;
    quoted(out, request);
    fmt::format_to(std::back_inserter(out), " {} {} ", r.status, r.bytes);
    quoted(out, r.referer);
    out.push_back(' ');
    quoted(out, r.user_agent);
    out.push_back('\n');
    return;
  }
  char when[40];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  // Each string field as ,"key":"escaped value" (the first without the comma).
  auto field = [&out](std::string_view key, std::string_view value) {
    out += out.back() == '{' ? "\"" : ",\"";
    out += key;
    out += "\":";
    json_string(out, value);
  };
  out += '{';
  field("time", when);
  field("client", r.client);
  field("listener", r.listener);
  field("method", r.method);
  field("target", r.target);
  field("protocol", r.protocol);
  field("host", r.host);
  fmt::format_to(std::back_inserter(out), ",\"status\":{},\"bytes\":{},\"duration\":{:.6f}",
                 r.status, r.bytes, duration);
  field("backend", r.backend);
  field("server", r.server);
  field("referer", r.referer);
  field("user_agent", r.user_agent);
  out += "}\n";
}

bool LogRing::push(std::string_view line) {
  const std::size_t head = head_.load(std::memory_order_relaxed);
  const std::size_t tail = tail_.load(std::memory_order_acquire);
  const std::size_t cap = buf_.size();
  if (line.size() > cap - (head - tail)) return false;
  const std::size_t at = head % cap;
  const std::size_t first = std::min(line.size(), cap - at);
  std::memcpy(buf_.data() + at, line.data(), first);
  std::memcpy(buf_.data(), line.data() + first, line.size() - first);
  head_.store(head + line.size(), std::memory_order_release);
  return true;
}

void LogRing::drain(std::string& out) {
  const std::size_t tail = tail_.load(std::memory_order_relaxed);
  const std::size_t head = head_.load(std::memory_order_acquire);
  const std::size_t n = head - tail;
  if (n == 0) return;
  const std::size_t cap = buf_.size();
  const std::size_t at = tail % cap;
  const std::size_t first = std::min(n, cap - at);
  out.append(buf_.data() + at, first);
  out.append(buf_.data(), n - first);
  tail_.store(head, std::memory_order_release);
}

std::shared_ptr<AccessLogSink> AccessLogSink::open(const std::string& path, unsigned workers,
                                                   std::string& error) {
  int fd;
  bool owns = false;
  if (path == "stdout") {
    fd = STDOUT_FILENO;
  } else if (path == "stderr") {
    fd = STDERR_FILENO;
  } else {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
      error = std::strerror(errno);
      return nullptr;
    }
    owns = true;
  }
  return std::shared_ptr<AccessLogSink>(new AccessLogSink(fd, owns, path, workers));
}

AccessLogSink::AccessLogSink(int fd, bool owns_fd, std::string path, unsigned workers)
    : fd_(fd), owns_fd_(owns_fd), path_(std::move(path)) {
  for (unsigned i = 0; i < workers; ++i) rings_.push_back(std::make_unique<LogRing>(1 << 20));
  thread_ = std::thread([this] { run(); });
}

AccessLogSink::~AccessLogSink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
  if (owns_fd_) ::close(fd_);
}

void AccessLogSink::write(unsigned index, std::string_view line) {
  LogRing& ring = *rings_[index];
  if (!ring.push(line)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Past half full, ask the writer to come early; the flag keeps this to one notify per batch.
  if (ring.used() > ring.capacity() / 2 && !wake_.exchange(true, std::memory_order_relaxed)) {
    cv_.notify_one();
  }
}

void AccessLogSink::run() {
  std::string batch;
  std::uint64_t reported = 0;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [this] { return stop_.load() || wake_.load(std::memory_order_relaxed); });
      stopping = stop_;
    }
    wake_.store(false, std::memory_order_relaxed);
    for (auto& ring : rings_) ring->drain(batch);
    flush(batch);
    const std::uint64_t d = dropped();
    if (d != reported) {
      LOG_WARN("access log {}: {} line(s) dropped (writer too slow)", path_, d - reported);
      reported = d;
    }
    if (stopping) return;
  }
}

void AccessLogSink::flush(std::string& batch) {
  std::size_t off = 0;
  while (off < batch.size()) {
    const ssize_t n = ::write(fd_, batch.data() + off, batch.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      LOG_WARN("access log {}: write failed: {}", path_, std::strerror(errno));
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  batch.clear();
}

}  // namespace fulcrum::l7
