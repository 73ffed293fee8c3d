#include "config/model.h"

namespace fulcrum::config {

const Mark& KeyMarks::at(std::string_view key, const Mark& fallback) const {
  auto it = by_key.find(key);
  return it == by_key.end() ? fallback : it->second;
}

// These spellings are the YAML spellings (BalanceAlgorithm aside, see below): the loader parses
// by comparing against them and to_yaml writes them, so each enum has exactly one place that
// names its values.
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

std::string_view to_string(UpstreamProtocol v) {
  switch (v) {
    case UpstreamProtocol::kHttp1:
      return "http1";
    case UpstreamProtocol::kH2:
      return "h2";
  }
  return "?";
}

std::string_view to_string(ProxyProtocol v) {
  switch (v) {
    case ProxyProtocol::kNone:
      return "none";
    case ProxyProtocol::kV1:
      return "v1";
    case ProxyProtocol::kV2:
      return "v2";
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
    case BalanceAlgorithm::kWeightedRoundRobin:
      return "weighted_round_robin";
    case BalanceAlgorithm::kLeastConnections:
      return "least_connections";
    case BalanceAlgorithm::kRandom:
      return "random";
    case BalanceAlgorithm::kP2cEwma:
      return "p2c_ewma";
    case BalanceAlgorithm::kSourceHash:
      return "source_hash";
    // YAML writes these two as `balance: consistent_hash` with `consistent_hash.method`
    // (balance_yaml_name() in parse_enums.h); these names are for logs, metrics and flags.
    case BalanceAlgorithm::kMaglev:
      return "maglev";
    case BalanceAlgorithm::kRingHash:
      return "ring_hash";
    case BalanceAlgorithm::kFirst:
      return "first";
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
