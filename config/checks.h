// config/checks.h — internal to config/: rules shared by the loader, validate() and to_yaml().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace fulcrum::config {

// The YAML spelling of an access log format (found by the loader's enum reader through ADL).
std::string_view to_string(AccessLogConfig::Format v);

namespace detail {

// The statuses whose bodies `error_bodies` may replace: the errors lbd itself generates.
inline constexpr int kErrorStatuses[] = {400, 404, 408, 413, 414, 431, 502, 503, 504};
// A fixed body (respond.body, error_bodies) goes out with its head from one 16 KiB buffer.
inline constexpr std::size_t kMaxFixedBody = 8 * 1024;

// The key that selects an action in YAML: backend, split, redirect, respond.
std::string_view action_key(RouteConfig::Action a);

// The routes of listeners[listener]: values (regexes, CIDRs, header names, statuses, ...) and
// references to backends. Errors carry paths; the loader adds positions.
void check_routes(const Config& c, std::size_t listener, std::vector<ConfigError>& errors);

// The balancing and health settings of backend `b` (at `path`): hash settings against the
// algorithm, health check and outlier bounds. Errors carry paths; the loader adds positions.
void check_balancing(const BackendConfig& b, const std::string& path,
                     std::vector<ConfigError>& errors);

}  // namespace detail
}  // namespace fulcrum::config
