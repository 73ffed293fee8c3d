// core/log.h — leveled, line-oriented logging to stderr (journald picks it up under systemd).
//
// One call writes one whole line with a single write(2), so lines from different threads never
// interleave. The level check is a relaxed load, so a disabled LOG_DEBUG on a hot path costs a
// compare and a branch; its arguments are not evaluated.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <string_view>

namespace fulcrum::log {

enum class Level : int { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4 };

inline std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

inline void set_level(Level l) { g_level.store(static_cast<int>(l), std::memory_order_relaxed); }
inline bool enabled(Level l) {
  return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed);
}

// Writes "<timestamp> <level> <message>\n" to stderr.
void write(Level level, std::string_view message);

}  // namespace fulcrum::log

#define FULCRUM_LOG(level, ...)                                                                   \
  do {                                                                                            \
    if (::fulcrum::log::enabled(level)) ::fulcrum::log::write(level, ::fmt::format(__VA_ARGS__)); \
  } while (0)
#define LOG_TRACE(...) FULCRUM_LOG(::fulcrum::log::Level::kTrace, __VA_ARGS__)
#define LOG_DEBUG(...) FULCRUM_LOG(::fulcrum::log::Level::kDebug, __VA_ARGS__)
#define LOG_INFO(...) FULCRUM_LOG(::fulcrum::log::Level::kInfo, __VA_ARGS__)
#define LOG_WARN(...) FULCRUM_LOG(::fulcrum::log::Level::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) FULCRUM_LOG(::fulcrum::log::Level::kError, __VA_ARGS__)
