#include "core/log.h"

#include <unistd.h>

#include <chrono>
#include <ctime>

namespace fulcrum::log {

namespace {
constexpr std::string_view kNames[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
}

void write(Level level, std::string_view message) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = fmt::format("{}.{:03d}Z {:<5} {}\n", stamp, static_cast<int>(ms),
                                 kNames[static_cast<int>(level)], message);
  // One write per line keeps lines whole across threads; a short write to a pipe is not retried
  // because losing a log line beats blocking a worker.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace fulcrum::log
