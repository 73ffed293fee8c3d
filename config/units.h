// config/units.h — the one parser each for durations, sizes and addresses.
//
// Every place that reads one of these (YAML, quick-mode flags, admin commands) goes through
// these functions, so `5s` means the same thing everywhere. Parsers return std::nullopt and
// set `error` to a short phrase ("expected a duration like 5s or 250ms") on bad input.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fulcrum::config {

using Duration = std::chrono::milliseconds;
using Size = std::uint64_t;  // bytes

// "250ms", "5s", "2m", "1h", "1.5s", "0" (zero needs no unit). Units: ms s m h. Up to 1 year.
std::optional<Duration> parse_duration(std::string_view text, std::string* error = nullptr);
std::string format_duration(Duration d);  // shortest exact form: "250ms", "5s", "2m"

// "512", "512B", "64KiB", "1MiB", "2GiB": plain bytes or IEC units (KiB = 1024) only, so
// "64KB" (is that 1000 or 1024?) is rejected rather than guessed.
std::optional<Size> parse_size(std::string_view text, std::string* error = nullptr);
std::string format_size(Size s);  // "64KiB" when exact, else bytes

struct Address {
  enum class Kind { kInet, kUnix };
  Kind kind = Kind::kInet;
  std::string host;        // kInet: IPv4 literal, IPv6 literal without brackets, or a name
  std::uint16_t port = 0;  // kInet
  std::string path;        // kUnix
  bool operator==(const Address&) const = default;
};

// "127.0.0.1:8080", "[::1]:80", "*:80" (all IPv4), "localhost:80", "unix:/run/x.sock".
// A port is required for kInet (0 means "any free port", used by tests).
std::optional<Address> parse_address(std::string_view text, std::string* error = nullptr);
std::string format_address(const Address& a);  // inverse of parse_address

}  // namespace fulcrum::config
