#include "config/model.h"

namespace fulcrum::config {

const Mark& KeyMarks::at(std::string_view key, const Mark& fallback) const {
  auto it = by_key.find(key);
  return it == by_key.end() ? fallback : it->second;
}

// These spellings are the YAML spellings: the loader parses by comparing against them and
// to_yaml writes them, so each enum has exactly one place that names its values.
std::string_view to_string(LogLevel v) {
  switch (v) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

std::string_view to_string(Mode v) {
  switch (v) {
    case Mode::kHttp:
      return "http";
    case Mode::kTcp:
      return "tcp";
    case Mode::kUdp:
      return "udp";
  }
  return "?";
}

std::string_view to_string(BalanceAlgorithm v) {
  switch (v) {
    case BalanceAlgorithm::kRoundRobin:
      return "round_robin";
  }
  return "?";
}

std::string_view to_string(ServerKind v) {
  switch (v) {
    case ServerKind::kNet:
      return "net";
    case ServerKind::kDemo:
      return "demo";
  }
  return "?";
}

}  // namespace fulcrum::config
