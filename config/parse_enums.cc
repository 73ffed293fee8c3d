#include "config/parse_enums.h"

#include "config/suggest.h"
#include "config/text.h"

namespace fulcrum::config {

const std::vector<std::string_view>& balance_names() {
  static const std::vector<std::string_view> kNames = {
      "round_robin", "weighted_round_robin", "least_connections", "random",
      "p2c_ewma",    "source_hash",          "consistent_hash",   "first"};
  return kNames;
}

std::string_view balance_yaml_name(BalanceAlgorithm v) {
  if (v == BalanceAlgorithm::kMaglev || v == BalanceAlgorithm::kRingHash) return "consistent_hash";
  return to_string(v);
}

bool uses_hash_key(BalanceAlgorithm v) {
  return v == BalanceAlgorithm::kSourceHash || v == BalanceAlgorithm::kMaglev ||
         v == BalanceAlgorithm::kRingHash;
}

std::optional<BalanceAlgorithm> parse_balance(std::string_view name, std::string* error) {
  static constexpr BalanceAlgorithm kAll[] = {BalanceAlgorithm::kRoundRobin,
                                              BalanceAlgorithm::kWeightedRoundRobin,
                                              BalanceAlgorithm::kLeastConnections,
                                              BalanceAlgorithm::kRandom,
                                              BalanceAlgorithm::kP2cEwma,
                                              BalanceAlgorithm::kSourceHash,
                                              BalanceAlgorithm::kMaglev,
                                              BalanceAlgorithm::kRingHash,
                                              BalanceAlgorithm::kFirst};
  if (name == "consistent_hash") return BalanceAlgorithm::kMaglev;
  for (BalanceAlgorithm v : kAll) {
    if (name == to_string(v)) return v;
  }
  if (error != nullptr) {
    std::vector<std::string_view> names = balance_names();
    names.push_back("maglev");
    names.push_back("ring_hash");
    *error = "expected one of: " + join(names);
    if (auto near = closest_match(name, names)) *error += " (did you mean '" + *near + "'?)";
  }
  return std::nullopt;
}

namespace {

constexpr std::string_view kHashKeyForms =
    "expected source, header:NAME, cookie:NAME, path or query:NAME";

// A query parameter name as it appears in the query string: no separators, no spaces.
bool is_query_name(std::string_view s) {
  if (s.empty() || has_control(s)) return false;
  return s.find_first_of(" &=#?") == std::string_view::npos;
}

}  // namespace

std::optional<HashKey> parse_hash_key(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<HashKey> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  if (text == "source") return HashKey{HashKey::Kind::kSource, ""};
  if (text == "path") return HashKey{HashKey::Kind::kPath, ""};
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view name = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  struct Named {
    std::string_view word;
    HashKey::Kind kind;
    std::string_view what;
    std::string_view chars;
  };
  static constexpr Named kNamed[] = {
      {"header", HashKey::Kind::kHeader, "a header name", " (letters, digits, - and _)"},
      {"cookie", HashKey::Kind::kCookie, "a cookie name", " (letters, digits, - and _)"},
      {"query", HashKey::Kind::kQuery, "a query parameter name", " (no spaces, &, =, # or ?)"}};
  for (const Named& n : kNamed) {
    if (kind != n.word) continue;
    bool ok = n.kind == HashKey::Kind::kQuery ? is_query_name(name) : is_token(name);
    if (!ok) {
      return fail(std::string(kHashKeyForms) + "; '" + std::string(n.word) + ":' takes " +
                  std::string(n.what) + (name.empty() ? "" : std::string(n.chars)));
    }
    return HashKey{n.kind, std::string(name)};
  }
  std::string why(kHashKeyForms);
  if (auto near = closest_match(kind, {"source", "path", "header", "cookie", "query"})) {
    why += " (did you mean '" + *near + "'?)";
  }
  return fail(std::move(why));
}

std::string format_hash_key(const HashKey& k) {
  switch (k.kind) {
    case HashKey::Kind::kSource:
      return "source";
    case HashKey::Kind::kPath:
      return "path";
    case HashKey::Kind::kHeader:
      return "header:" + k.name;
    case HashKey::Kind::kCookie:
      return "cookie:" + k.name;
    case HashKey::Kind::kQuery:
      return "query:" + k.name;
  }
  return "?";
}

std::optional<HealthCheckConfig> parse_health_check_flag(std::string_view text,
                                                         std::string* error) {
  HealthCheckConfig hc;
  if (text == "tcp") {
    hc.type = HealthCheckConfig::Type::kTcp;
    return hc;
  }
  if (text == "http") {
    hc.type = HealthCheckConfig::Type::kHttp;
    return hc;
  }
  if (text.starts_with("http:")) {
    std::string_view path = text.substr(5);
    if (path.starts_with("/") && !has_control(path) && path.find(' ') == std::string_view::npos) {
      hc.type = HealthCheckConfig::Type::kHttp;
      hc.path = std::string(path);
      return hc;
    }
  }
  if (error != nullptr) *error = "expected tcp, http or http:/PATH (e.g. http:/healthz)";
  return std::nullopt;
}

std::string_view to_string(ServerConfig::Admin v) {
  switch (v) {
    case ServerConfig::Admin::kEnabled:
      return "enabled";
    case ServerConfig::Admin::kDrain:
      return "drain";
    case ServerConfig::Admin::kDisabled:
      return "disabled";
  }
  return "?";
}

std::string_view to_string(StickyConfig::Mode v) {
  return v == StickyConfig::Mode::kLearn ? "learn" : "insert";
}

std::string_view to_string(HealthCheckConfig::Type v) {
  switch (v) {
    case HealthCheckConfig::Type::kNone:
      return "none";
    case HealthCheckConfig::Type::kTcp:
      return "tcp";
    case HealthCheckConfig::Type::kHttp:
      return "http";
  }
  return "?";
}

}  // namespace fulcrum::config
