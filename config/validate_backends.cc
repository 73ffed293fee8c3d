// check_balancing(): the rules for a backend's balancing and health settings, part of
// validate(). The walk (backend_loader.cc) already refused keys that do not go together in the
// YAML; here the values are held to their bounds, for the YAML and the quick mode alike.
#include <algorithm>

#include "config/checks.h"
#include "config/parse_enums.h"
#include "config/text.h"

namespace fulcrum::config::detail {
namespace {

class BackendChecker {
 public:
  BackendChecker(const BackendConfig& b, const std::string& path, std::vector<ConfigError>& errors)
      : b_(b), p_(path), errors_(errors) {}

  void run() {
    hashing();
    health_check();
    outlier();
    servers();
  }

 private:
  void error(const std::string& key, std::string message) {
    errors_.push_back(ConfigError{{}, p_ + "." + key, std::move(message)});
  }
  void hashing();
  void health_check();
  void outlier();
  void servers();

  const BackendConfig& b_;
  const std::string& p_;
  std::vector<ConfigError>& errors_;
};

void BackendChecker::hashing() {
  const std::string now = "this backend's balance is " + std::string(balance_yaml_name(b_.balance));
  if (!uses_hash_key(b_.balance)) {
    if (b_.hash_key != HashKey{}) {
      error("hash_key",
            "hash_key is used only by balance: source_hash and consistent_hash (" + now + ")");
    }
  } else {
    std::string why;
    auto again = parse_hash_key(format_hash_key(b_.hash_key), &why);
    if (!again || *again != b_.hash_key) {
      error("hash_key", why + ", got " + quote(format_hash_key(b_.hash_key)));
    }
  }
  const double factor = b_.hash_balance_factor;
  if (b_.balance == BalanceAlgorithm::kRingHash) {
    if (!(factor > 1.0 && factor <= 100.0)) {
      error("consistent_hash.balance_factor",
            "must be greater than 1 and at most 100, got " + format_number(factor));
    }
  } else if (factor != BackendConfig{}.hash_balance_factor) {
    error("consistent_hash.balance_factor",
          "balance_factor applies only to method: ring_hash (bounded loads)");
  }
}

void BackendChecker::servers() {
  for (std::size_t i = 0; i < b_.servers.size(); ++i) {
    const ServerConfig& s = b_.servers[i];
    if (s.slow_start.count() < 0) {
      error("servers[" + std::to_string(i) + "].slow_start",
            "must be 0 or more, got " + format_duration(s.slow_start));
    } else if (s.slow_start.count() > 0 && uses_hash_key(b_.balance)) {
      // A ramp would move keys off the server and back; hashing keeps them put instead.
      error("servers[" + std::to_string(i) + "].slow_start",
            "slow_start does not apply to hashing (this backend's balance is " +
                std::string(balance_yaml_name(b_.balance)) +
                "); remove it or use a balance that spreads load");
    }
  }
}

void BackendChecker::health_check() {
  const HealthCheckConfig& hc = b_.health_check;
  const HealthCheckConfig defaults;
  if (hc.type == HealthCheckConfig::Type::kNone) {
    if (hc != defaults) error("health_check.type", "type is required: tcp or http");
    return;
  }
  bool times_ok = true;
  for (auto [key, d] : {std::pair{"interval", hc.interval}, std::pair{"timeout", hc.timeout}}) {
    if (d.count() <= 0) {
      error(std::string("health_check.") + key,
            "must be greater than 0, got " + format_duration(d));
      times_ok = false;
    }
  }
  if (times_ok && hc.timeout > hc.interval) {
    error("health_check.timeout", "must be at most the interval (" + format_duration(hc.interval) +
                                      "), got " + format_duration(hc.timeout));
  }
  for (auto [key, n] : {std::pair{"rise", hc.rise}, std::pair{"fall", hc.fall}}) {
    if (n < 1 || n > 100) {
      error(std::string("health_check.") + key,
            "expected a whole number from 1 to 100, got " + std::to_string(n));
    }
  }
  if (!hc.source.empty() &&
      (!is_address_or_cidr(hc.source) || hc.source.find('/') != std::string::npos)) {
    error("health_check.source",
          "expected an IP address like 10.0.0.5 or fd00::5 (no port), got " + quote(hc.source));
  }

  if (hc.type == HealthCheckConfig::Type::kTcp) {
    const std::pair<const char*, bool> http_only[] = {
        {"method", hc.method != defaults.method},
        {"path", hc.path != defaults.path},
        {"host", hc.host != defaults.host},
        {"expect_status", hc.expect_status != defaults.expect_status},
        {"expect_body", hc.expect_body != defaults.expect_body}};
    for (auto [key, set] : http_only) {
      if (set) {
        error(std::string("health_check.") + key,
              "'" + std::string(key) + "' is only for type: http (this check is tcp)");
      }
    }
    return;
  }
  if (!is_token(hc.method)) {
    error("health_check.method", "expected a method like GET or HEAD, got " + quote(hc.method));
  } else if (std::any_of(hc.method.begin(), hc.method.end(),
                         [](char c) { return c >= 'a' && c <= 'z'; })) {
    std::string upper = hc.method;
    for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    error("health_check.method", "methods are case-sensitive: " + quote(hc.method, '\'') +
                                     " is not what servers expect; did you mean '" + upper + "'?");
  }
  if (!hc.path.starts_with("/") || has_control(hc.path) || hc.path.find(' ') != std::string::npos) {
    error("health_check.path",
          "expected a path starting with / (no spaces), like /healthz, got " + quote(hc.path));
  }
  if (has_control(hc.host) || hc.host.find(' ') != std::string::npos) {
    error("health_check.host", "expected a host name like api.internal, got " + quote(hc.host));
  }
  if (hc.expect_status.empty()) {
    error("health_check.expect_status", "at least one status or range is required");
  }
  for (size_t i = 0; i < hc.expect_status.size(); ++i) {
    auto [lo, hi] = hc.expect_status[i];
    if (lo < 100 || hi > 599 || lo > hi) {
      error("health_check.expect_status[" + std::to_string(i) + "]",
            "expected a status from 100 to 599 or a range like \"200-399\", got " +
                quote(std::to_string(lo) + "-" + std::to_string(hi)));
    }
  }
  if (hc.expect_body.size() > kMaxFixedBody) {
    error("health_check.expect_body",
          "at most 8KiB, got " + std::to_string(hc.expect_body.size()) + " bytes");
  }
}

void BackendChecker::outlier() {
  const OutlierConfig& o = b_.outlier;
  if (!o.enabled) {
    if (o != OutlierConfig{}) {
      error("outlier", "outlier settings are given but detection is off (enabled is false)");
    }
    return;
  }
  if (o.consecutive_5xx == 0 && o.consecutive_failures == 0) {
    error("outlier",
          "consecutive_5xx and consecutive_failures are both 0, so no server would ever be "
          "ejected; leave outlier out to turn detection off");
  }
  if (o.base_ejection.count() <= 0) {
    error("outlier.base_ejection",
          "must be greater than 0, got " + format_duration(o.base_ejection));
  } else if (o.max_ejection < o.base_ejection) {
    error("outlier.max_ejection", "must be at least base_ejection (" +
                                      format_duration(o.base_ejection) + "), got " +
                                      format_duration(o.max_ejection));
  }
  if (o.max_ejection_percent > 100) {
    error("outlier.max_ejection_percent",
          "expected a whole number from 0 to 100, got " + std::to_string(o.max_ejection_percent));
  }
}

}  // namespace

void check_balancing(const BackendConfig& b, const std::string& path,
                     std::vector<ConfigError>& errors) {
  BackendChecker(b, path, errors).run();
}

}  // namespace fulcrum::config::detail
