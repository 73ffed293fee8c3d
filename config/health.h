// config/health.h — how a backend's servers are checked, and the server attributes balancing
// reads. Plain structs; validated by the loader like the rest of config/.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/units.h"

namespace fulcrum::config {

// Active checks, run by the control thread (never by the workers).
struct HealthCheckConfig {
  enum class Type { kNone, kTcp, kHttp };
  Type type = Type::kNone;  // kNone: every server counts as up (unless ejected by outliers)
  Duration interval = std::chrono::seconds(2);
  Duration timeout = std::chrono::seconds(1);  // must be <= interval
  std::uint32_t rise = 2;                      // consecutive successes to come back up
  std::uint32_t fall = 3;                      // consecutive failures to go down
  // kHttp
  std::string method = "GET";
  std::string path = "/";
  std::string host;  // Host header; default: the server's address
  std::vector<std::pair<int, int>> expect_status = {{200, 399}};  // inclusive ranges
  std::string expect_body;  // substring the body must contain; empty: any
  std::string source;       // local address checks are sent from (IP, no port); empty: any
  bool operator==(const HealthCheckConfig&) const = default;
};

// Passive checks: what the workers see on real traffic ejects a server for a while.
struct OutlierConfig {
  bool enabled = false;
  std::uint32_t consecutive_5xx = 5;       // responses 500..599 in a row; 0 = not counted
  std::uint32_t consecutive_failures = 5;  // connect failures / timeouts in a row; 0 = off
  Duration base_ejection = std::chrono::seconds(30);  // doubles with each ejection
  Duration max_ejection = std::chrono::seconds(300);
  std::uint32_t max_ejection_percent = 50;  // never eject more of the pool than this
  bool operator==(const OutlierConfig&) const = default;
};

// What consistent / source hashing hashes.
struct HashKey {
  enum class Kind { kSource, kHeader, kCookie, kPath, kQuery };
  Kind kind = Kind::kSource;
  std::string name;  // header, cookie or query parameter name
  bool operator==(const HashKey&) const = default;
};

}  // namespace fulcrum::config
