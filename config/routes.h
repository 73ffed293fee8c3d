// config/routes.h — L7 routing as plain structs: what a route matches and what it does.
//
// A listener holds an ordered list of routes; the first whose every condition holds wins. An
// empty condition matches anything. Each route has exactly one action (forward, split,
// redirect, respond). l7/router/ compiles these once per config load.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fulcrum::config {

// A condition on a named header, query parameter or cookie.
struct FieldMatch {
  enum class Kind { kPresent, kEquals, kRegex };
  std::string name;
  Kind kind = Kind::kPresent;
  std::string
      value;  // kEquals: exact value; kRegex: RE2 pattern searched in the value (^ $ anchor)
  bool operator==(const FieldMatch&) const = default;
};

struct RouteMatch {
  // Exact host names or "*.example.com" (one or more labels before the suffix). Compared
  // case-insensitively, without the port. Empty: any host.
  std::vector<std::string> hosts;
  enum class PathKind { kAny, kExact, kPrefix, kRegex };
  PathKind path_kind = PathKind::kAny;
  std::string path;  // the path (no query) for kExact/kPrefix; an RE2 pattern for kRegex
  std::vector<std::string> methods;  // e.g. GET, POST; empty: any
  std::vector<FieldMatch> headers;
  std::vector<FieldMatch> query;
  std::vector<FieldMatch> cookies;
  std::vector<std::string> sources;  // client address CIDRs, e.g. 10.0.0.0/8, ::1/128
  bool operator==(const RouteMatch&) const = default;
};

struct HeaderOps {
  std::vector<std::pair<std::string, std::string>> set;  // replace (or add when absent)
  std::vector<std::pair<std::string, std::string>> add;  // append, keeping existing ones
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
  bool operator==(const HeaderOps&) const = default;
};

struct WeightedBackend {
  std::string backend;
  std::uint32_t weight = 1;  // 0..10000; 0 takes no traffic (kept for quick shifts)
  bool operator==(const WeightedBackend&) const = default;
};

struct RouteConfig {
  enum class Action { kForward, kSplit, kRedirect, kRespond };
  std::string name;  // default "route-<index+1>"
  RouteMatch match;
  Action action = Action::kForward;

  std::string backend;                 // kForward
  std::vector<WeightedBackend> split;  // kSplit: at least one with weight > 0

  // kRedirect: `to` may use $scheme, $host (without port), $path (without query), $query
  // (without '?') and $request_uri (path and query as received). Status 301, 302, 307 or 308.
  std::string redirect_to;
  int redirect_status = 302;

  // kRespond: a fixed response.
  int respond_status = 200;
  std::string respond_body;
  std::string respond_content_type = "text/plain";

  HeaderOps request_headers;   // applied to the request sent upstream
  HeaderOps response_headers;  // applied to the response sent to the client

  // Path rewrite before forwarding: strip_prefix first, then regex replace (RE2, \1 groups).
  std::string strip_prefix;
  std::string rewrite_regex;
  std::string rewrite_replace;

  bool operator==(const RouteConfig&) const = default;
};

}  // namespace fulcrum::config
