// config/walker.h — internal to config/: the YAML walk that fills a Config.
//
// Split out of loader.cc so the route schema (routes_loader.cc) can share the walk's helpers.
// Nothing outside config/ includes this.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "config/parse_enums.h"
#include "config/suggest.h"
#include "config/text.h"

namespace fulcrum::config::detail {

inline const char* kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "something else";
}

// One key of a mapping (or one item of a list), with the position errors about its value
// should point at.
struct Field {
  std::string key;
  std::string path;
  YAML::Node value;
  Mark mark;      // the value's, or the key's when the value is empty (yaml-cpp puts an empty
                  // value's mark on the next line, which would mislead)
  Mark key_mark;  // the key's (the item's, for a list item)
};

class Walker {
 public:
  Walker(const std::string& file, std::vector<ConfigError>& errors)
      : file_(file), errors_(errors) {}

  Config read(const YAML::Node& root);

  // Paths the walk already complained about; validate() findings there are repeats. A rejected
  // value or item covers its whole subtree (the empty path: the document was unusable); a
  // misspelt key covers only the key it should have been, which is now "missing".
  struct Covered {
    std::string path;
    bool subtree;
  };
  std::vector<Covered> covered;

  // Where each value (by key path) was written: validate() knows paths but not positions for
  // values whose structs carry no marks (routes, list items), and the loader fills them in.
  std::map<std::string, Mark, std::less<>> marks;

 private:
  Mark mark(const YAML::Node& n) const { return mark(n.Mark()); }
  Mark mark(const YAML::Mark& m) const {
    Mark out;
    out.file = file_;
    if (m.line >= 0 && m.column >= 0) {
      out.line = m.line + 1;
      out.column = m.column + 1;
    }
    return out;
  }
  void error(const Mark& m, const std::string& path, std::string message, bool covers = true) {
    errors_.push_back(ConfigError{m, path, std::move(message)});
    if (covers) covered.push_back({path, true});
  }

  // Reports unknown and repeated keys, then calls on_field for each known key once.
  template <class F>
  void for_each_field(const YAML::Node& map, const std::string& path,
                      std::initializer_list<std::string_view> allowed, KeyMarks& marks,
                      F&& on_field);
  // Calls on_item for each item of a list, with the item's path and mark recorded.
  template <class F>
  void for_each_item(const Field& list, F&& on_item);

  std::optional<std::string> text(const Field& f, std::string_view expected);
  void bad_value(const Field& f, std::string_view expected, const std::string& got) {
    error(f.mark, f.path, std::string(expected) + ", got " + quote(got));
  }
  void read_duration(const Field& f, Duration& out);
  void read_size(const Field& f, Size& out);
  void read_address(const Field& f, Address& out);
  void read_name(const Field& f, std::string& out);
  void read_uint(const Field& f, std::uint64_t lo, std::uint64_t hi, std::uint32_t& out);
  void read_status(const Field& f, int& out);  // a three-digit number; ranges are validate()'s
  template <class E>
  void read_enum(const Field& f, std::initializer_list<E> values, E& out);

  // A list where a list belongs; reports anything else and returns false.
  bool expect_list(const Field& f, std::string_view what);
  // A list of texts (`items`, each `item`); with `single`, one text is short for a list of it.
  void read_texts(const Field& f, std::string_view items, std::string_view item, bool single,
                  std::vector<std::string>& out);

  void read_bool(const Field& f, bool& out);

  void read_http2(const Field& f, Http2Config& out);  // http2_loader.cc
  ListenerConfig read_listener(const YAML::Node& n, const std::string& path);
  BackendConfig read_backend(const YAML::Node& n, const std::string& path);
  ServerConfig read_server(const YAML::Node& n, const std::string& path);

  // backend_loader.cc: balancing and health keys of a backend.
  struct ConsistentHash {  // what a backend's `consistent_hash` block said
    bool given = false;
    bool ring = false;  // method: ring_hash
    bool has_key = false;
    std::optional<Mark> factor_mark;  // balance_factor was written here
    Mark mark;
    std::string path;
  };
  // Sets out to the algorithm; `consistent` when the word was consistent_hash. False when the
  // value was rejected.
  bool read_balance(const Field& f, BalanceAlgorithm& out, bool& consistent);
  void read_consistent_hash(const Field& f, BackendConfig& b, ConsistentHash& out);
  void read_hash_key(const Field& f, HashKey& out);
  // The relations between balance, consistent_hash and hash_key that only the YAML can show
  // (which keys were written); validate() checks the values.
  void check_balancing(BackendConfig& b, const std::string& path, bool balance_ok, bool consistent,
                       const ConsistentHash& ch);
  void read_health_check(const Field& f, HealthCheckConfig& out);
  void read_expect_status(const Field& f, std::vector<std::pair<int, int>>& out);
  void read_outlier(const Field& f, OutlierConfig& out);
  void read_sticky(const Field& f, StickyConfig& out);
  void read_queue(const Field& f, QueueConfig& out);
  void read_metrics(const Field& f, MetricsConfig& out);
  void read_admin(const Field& f, AdminConfig& out);
  void read_cookie_name(const Field& f, std::string& out);

  // routes_loader.cc
  void read_error_bodies(const Field& f, std::map<int, std::string>& out);
  void read_access_log(const Field& f, AccessLogConfig& out);
  // tls_loader.cc
  void file_path(const Field& f, std::string& dst);
  void read_tls(const Field& f, TlsConfig& out);
  void read_hsts(const Field& f, HstsConfig& out);
  void read_upstream_tls(const Field& f, UpstreamTlsConfig& out);  // a backend's `tls`
  RouteConfig read_route(const YAML::Node& n, const std::string& path, size_t index);
  void read_match(const Field& f, RouteMatch& out);
  void read_field_matches(const Field& f, std::string_view what, std::vector<FieldMatch>& out);
  void read_split(const Field& f, std::vector<WeightedBackend>& out);
  void read_header_ops(const Field& f, HeaderOps& out);
  void read_header_map(const Field& f, std::vector<std::pair<std::string, std::string>>& out);
  void read_rewrite(const Field& f, RouteConfig& out);

  const std::string& file_;
  std::vector<ConfigError>& errors_;
};

template <class F>
void Walker::for_each_field(const YAML::Node& map, const std::string& path,
                            std::initializer_list<std::string_view> allowed, KeyMarks& marks,
                            F&& on_field) {
  std::vector<std::string_view> keys(allowed);
  std::vector<std::pair<std::string, Mark>> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary pair, so a reference would dangle.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar()) {
      error(mark(key), path, std::string("expected a key name, got ") + kind_name(key), false);
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::find(keys.begin(), keys.end(), name) == keys.end()) {
      std::string msg = "unknown key " + quote(name, '\'');
      auto near = closest_match(name, keys);
      if (near) {
        msg += "; did you mean '" + *near + "'?";
      } else {
        msg += "; expected one of: " + join(keys);
      }
      error(mark(key), path, std::move(msg), false);
      // The key the user most likely meant is then missing; saying so again adds nothing.
      if (near) covered.push_back({path.empty() ? *near : path + "." + *near, false});
      continue;
    }
    auto first = std::find_if(seen.begin(), seen.end(), [&](auto& s) { return s.first == name; });
    if (first != seen.end()) {
      error(
          mark(key), path,
          "duplicate key '" + name + "' (first at line " + std::to_string(first->second.line) + ")",
          false);
      continue;
    }
    seen.emplace_back(name, mark(key));
    Field f{name, path.empty() ? name : path + "." + name, value, {}, mark(key)};
    f.mark = (f.value.IsNull() || !f.value.IsDefined()) ? mark(key) : mark(f.value);
    marks.by_key[name] = f.mark;
    this->marks[f.path] = f.mark;
    on_field(f);
  }
}

template <class F>
void Walker::for_each_item(const Field& list, F&& on_item) {
  for (size_t i = 0; i < list.value.size(); ++i) {
    Field item{list.key, list.path + "[" + std::to_string(i) + "]", list.value[i], {}, {}};
    item.mark = mark(item.value);
    // An empty item (`- ` alone) has no position of its own; the list's is the nearest.
    if (item.value.IsNull() || item.mark.line == 0) item.mark = list.mark;
    item.key_mark = item.mark;
    marks[item.path] = item.mark;
    on_item(item, i);
  }
}

template <class E>
void Walker::read_enum(const Field& f, std::initializer_list<E> values, E& out) {
  std::vector<std::string_view> names;
  for (E v : values) names.push_back(to_string(v));
  std::string expected = "expected one of: " + join(names);
  auto t = text(f, expected);
  if (!t) return;
  for (E v : values) {
    if (*t == to_string(v)) {
      out = v;
      return;
    }
  }
  std::string msg = expected + ", got " + quote(*t);
  if (auto near = closest_match(*t, names)) msg += "; did you mean '" + *near + "'?";
  error(f.mark, f.path, std::move(msg));
}

}  // namespace fulcrum::config::detail
