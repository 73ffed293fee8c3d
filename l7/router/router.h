// l7/router/router.h — the face of routing: first matching route of a listener.
//
// Routes are compiled once per config load (RE2 programs, lower-cased host tables, parsed
// CIDRs, prebuilt fixed responses), so matching a request reads the parsed head and allocates
// nothing. The Router is immutable and shared by all workers through the snapshot.
#pragma once

#include <array>
#include <asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/routes.h"
#include "l7/http1/parser.h"
#include "metrics/stats.h"

namespace re2 {
class RE2;
}

namespace fulcrum::l7 {

struct Backend;

// A set of address prefixes (CIDRs), parsed at load time.
class CidrSet {
 public:
  // Adds "10.0.0.0/8", "::1/128" or a plain address; false if `text` is not one.
  bool add(std::string_view text);
  bool contains(const asio::ip::address& a) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
    unsigned prefix = 0;
  };
  std::vector<Entry> entries_;
};

// Header operations as applied while a head is rewritten (l7/forward.h).
struct CompiledHeaderOps {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
  // True when a received field of this name must not be copied (removed, or replaced by set).
  bool drops(std::string_view name) const;
};

struct Route {
  Route();
  ~Route();
  Route(Route&&) noexcept;

  std::string name;
  config::RouteConfig::Action action = config::RouteConfig::Action::kForward;
  metrics::Block<metrics::RouteSlot>* stats = nullptr;  // set by build_snapshot

  const Backend* backend = nullptr;                             // kForward
  std::vector<std::pair<const Backend*, std::uint32_t>> split;  // kSplit: cumulative weights
  std::uint32_t split_total = 0;

  // kRedirect: the template cut into literal and variable pieces at load time.
  struct Piece {
    enum class Kind { kLiteral, kScheme, kHost, kPath, kQuery, kRequestUri } kind;
    std::string text;
  };
  std::vector<Piece> redirect;
  int redirect_status = 302;

  // kRespond: status line and fields (no Connection, no final CRLF), then the body.
  int respond_status = 200;
  std::string respond_head;
  std::string respond_body;

  CompiledHeaderOps request_ops;
  CompiledHeaderOps response_ops;
  std::string strip_prefix;
  std::unique_ptr<re2::RE2> rewrite_regex;
  std::string rewrite_replace;
  bool rewrites_path() const { return !strip_prefix.empty() || rewrite_regex != nullptr; }

  // Picks the split's backend from a uniform random number.
  const Backend* pick_split(std::uint32_t random) const;

  // Matching data (see RouteMatcher in router.cc).
  struct Match;
  std::unique_ptr<Match> match;
};

// What a route sees of a request.
struct RequestView {
  const http1::RequestHead& head;
  std::string_view path;   // target without query (absolute-form reduced to its path)
  std::string_view query;  // after '?', without it
  std::string_view host;   // Host without port, as received (case-insensitive compares)
  const asio::ip::address& source;
};

// Calls fn(name, value) for each "name=value" item of a query string (sep '&') or a Cookie
// value (sep ';', leading spaces skipped) until fn returns true; returns whether one did.
template <class Fn>
bool for_each_pair(std::string_view s, char sep, Fn&& fn) {
  while (!s.empty()) {
    const std::size_t end = s.find(sep);
    std::string_view item = s.substr(0, end);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const std::size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (fn(name, value)) return true;
    if (end == std::string_view::npos) break;
    s.remove_prefix(end + 1);
  }
  return false;
}

// Splits a request target into path and query; absolute-form "http://h/p?q" gives "/p", "q".
void split_target(std::string_view target, std::string_view& path, std::string_view& query);
// Host field value without its port ("[::1]:80" -> "[::1]", "ex.com:8080" -> "ex.com").
std::string_view host_without_port(std::string_view host);

class Router {
 public:
  // Compiles the routes of one listener. `find_backend` maps a name to its runtime backend (or
  // nullptr). Errors (bad regex, unknown backend, bad CIDR) are appended with their key path
  // under `path_prefix` (e.g. "listeners[0].routes").
  template <class FindBackend>
  static std::unique_ptr<Router> compile(const std::vector<config::RouteConfig>& routes,
                                         FindBackend&& find_backend, const std::string& path_prefix,
                                         std::vector<std::string>& errors);

  // The first route whose every condition holds, or nullptr.
  const Route* match(const RequestView& req) const;
  std::size_t size() const { return routes_.size(); }
  Route& at(std::size_t i) { return routes_[i]; }

 private:
  static bool compile_one(const config::RouteConfig& rc, Route& out, const std::string& path,
                          std::vector<std::string>& errors);
  std::vector<Route> routes_;
};

template <class FindBackend>
std::unique_ptr<Router> Router::compile(const std::vector<config::RouteConfig>& routes,
                                        FindBackend&& find_backend, const std::string& path_prefix,
                                        std::vector<std::string>& errors) {
  auto router = std::make_unique<Router>();
  const std::size_t before = errors.size();
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& rc = routes[i];
    const std::string path = path_prefix + "[" + std::to_string(i) + "]";
    Route r;
    if (!compile_one(rc, r, path, errors)) continue;
    if (rc.action == config::RouteConfig::Action::kForward) {
      r.backend = find_backend(rc.backend);
      if (!r.backend) errors.push_back(path + ".backend: no backend named '" + rc.backend + "'");
    } else if (rc.action == config::RouteConfig::Action::kSplit) {
      for (std::size_t k = 0; k < rc.split.size(); ++k) {
        const Backend* b = find_backend(rc.split[k].backend);
        if (!b) {
          errors.push_back(path + ".split[" + std::to_string(k) + "].backend: no backend named '" +
                           rc.split[k].backend + "'");
          continue;
        }
        if (rc.split[k].weight == 0) continue;
        r.split_total += rc.split[k].weight;
        r.split.emplace_back(b, r.split_total);
      }
      if (r.split_total == 0) errors.push_back(path + ".split: every weight is 0");
    }
    router->routes_.push_back(std::move(r));
  }
  if (errors.size() != before) return nullptr;
  return router;
}

}  // namespace fulcrum::l7
