// YAML -> Config. The walk never stops at the first problem: a bad value is reported and
// skipped (the field keeps its default), and its siblings are still read, so one run of
// `lbd --check` lists everything that is wrong. validate() then checks the relations between
// fields; its findings on values the walk already reported are dropped as noise.
#include "config/loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <sstream>

#include "config/checks.h"
#include "config/suggest.h"
#include "config/text.h"
#include "config/walker.h"

namespace fulcrum::config {
namespace detail {

std::optional<std::string> Walker::text(const Field& f, std::string_view expected) {
  if (!f.value.IsScalar()) {
    error(f.mark, f.path, std::string(expected) + ", got " + kind_name(f.value));
    return std::nullopt;
  }
  return f.value.Scalar();
}

void Walker::read_duration(const Field& f, Duration& out) {
  auto t = text(f, "expected a duration like 5s or 250ms");
  if (!t) return;
  std::string why;
  if (auto d = parse_duration(*t, &why)) {
    out = *d;
  } else {
    bad_value(f, why, *t);
  }
}

void Walker::read_size(const Field& f, Size& out) {
  auto t = text(f, "expected a size like 512, 64KiB or 1MiB");
  if (!t) return;
  std::string why;
  if (auto s = parse_size(*t, &why)) {
    out = *s;
  } else {
    bad_value(f, why, *t);
  }
}

void Walker::read_address(const Field& f, Address& out) {
  auto t = text(f, "expected host:port, [v6]:port or unix:/path");
  if (!t) return;
  std::string why;
  if (auto a = parse_address(*t, &why)) {
    out = *a;
  } else {
    bad_value(f, why, *t);
  }
}

void Walker::read_name(const Field& f, std::string& out) {
  auto t = text(f, "expected a name");
  if (!t) return;
  if (t->empty()) {
    error(f.mark, f.path, "expected a name, got an empty string");
    return;
  }
  out = *t;
}

void Walker::read_uint(const Field& f, std::uint64_t lo, std::uint64_t hi, std::uint32_t& out) {
  std::string expected =
      hi == std::numeric_limits<std::uint32_t>::max()
          ? "expected a whole number of at least " + std::to_string(lo)
          : "expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  auto t = text(f, expected);
  if (!t) return;
  if (auto v = parse_uint(*t, hi); v && *v >= lo) {
    out = static_cast<std::uint32_t>(*v);
  } else {
    bad_value(f, expected, *t);
  }
}

void Walker::read_bool(const Field& f, bool& out) {
  constexpr std::string_view kWant = "expected true or false";
  auto t = text(f, kWant);
  if (!t) return;
  // YAML 1.2's core schema; yes/no/on/off (YAML 1.1) are refused rather than guessed.
  if (*t == "true" || *t == "True" || *t == "TRUE") {
    out = true;
  } else if (*t == "false" || *t == "False" || *t == "FALSE") {
    out = false;
  } else {
    bad_value(f, kWant, *t);
  }
}

bool Walker::expect_list(const Field& f, std::string_view what) {
  if (f.value.IsSequence()) return true;
  error(f.mark, f.path,
        "expected a list of " + std::string(what) + " (one '- ' item per line), got " +
            kind_name(f.value));
  return false;
}

void Walker::read_status(const Field& f, int& out) {
  constexpr std::string_view kWant = "expected an HTTP status code (a number from 100 to 599)";
  auto t = text(f, kWant);
  if (!t) return;
  if (auto v = parse_uint(*t, 999); v && *v >= 100) {
    out = static_cast<int>(*v);
  } else {
    bad_value(f, kWant, *t);
  }
}

void Walker::read_texts(const Field& f, std::string_view items, std::string_view item, bool single,
                        std::vector<std::string>& out) {
  if (single && f.value.IsScalar()) {
    marks[f.path + "[0]"] = f.mark;
    out.push_back(f.value.Scalar());
    return;
  }
  if (!f.value.IsSequence()) {
    error(f.mark, f.path,
          "expected " + (single ? std::string(item) + " or a list of " : "a list of ") +
              std::string(items) + ", got " + kind_name(f.value));
    return;
  }
  for_each_item(f, [&](const Field& one, size_t) {
    if (auto t = text(one, "expected " + std::string(item))) out.push_back(*t);
  });
}

Config Walker::read(const YAML::Node& root) {
  Config c;
  c.source = file_;
  c.mark = mark(root);
  if (root.IsNull() || !root.IsDefined()) {
    error(c.mark, "", "the configuration is empty; expected at least listeners and backends");
    return c;
  }
  if (!root.IsMap()) {
    error(c.mark, "",
          std::string("expected a mapping of settings (workers:, listeners:, backends:, ...), "
                      "got ") +
              kind_name(root));
    return c;
  }
  for_each_field(root, "",
                 {"workers", "shutdown_timeout", "reload_grace", "busy_poll", "log_level",
                  "listeners", "backends", "metrics", "admin"},
                 c.key_marks, [&](const Field& f) {
                   if (f.key == "workers") {
                     constexpr std::string_view kWant =
                         "expected auto or a whole number from 1 to 256";
                     auto t = text(f, kWant);
                     if (!t) return;
                     if (*t == "auto") {
                       c.workers = 0;
                     } else if (auto v = parse_uint(*t, 256); v && *v >= 1) {
                       c.workers = static_cast<unsigned>(*v);
                     } else {
                       bad_value(f, kWant, *t);
                     }
                   } else if (f.key == "shutdown_timeout") {
                     read_duration(f, c.shutdown_timeout);
                   } else if (f.key == "reload_grace") {
                     read_duration(f, c.reload_grace);
                   } else if (f.key == "busy_poll") {
                     read_duration(f, c.busy_poll);
                   } else if (f.key == "log_level") {
                     read_enum(f,
                               {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                                LogLevel::kWarn, LogLevel::kError},
                               c.log_level);
                   } else if (f.key == "listeners") {
                     if (!expect_list(f, "listeners")) return;
                     for_each_item(f, [&](const Field& item, size_t) {
                       c.listeners.push_back(read_listener(item.value, item.path));
                     });
                   } else if (f.key == "backends") {
                     if (!expect_list(f, "backends")) return;
                     for_each_item(f, [&](const Field& item, size_t) {
                       c.backends.push_back(read_backend(item.value, item.path));
                     });
                   } else if (f.key == "metrics") {
                     read_metrics(f, c.metrics);
                   } else if (f.key == "admin") {
                     read_admin(f, c.admin);
                   }
                 });
  return c;
}

ListenerConfig Walker::read_listener(const YAML::Node& n, const std::string& path) {
  ListenerConfig l;
  l.mark = mark(n);
  if (!n.IsMap()) {
    error(l.mark, path,
          std::string("expected a listener (a mapping with address: and backend:), got ") +
              kind_name(n));
    return l;
  }
  std::string address_text;
  for_each_field(
      n, path,
      {"name", "address", "mode", "backend", "header_timeout", "idle_timeout", "request_timeout",
       "max_header_size", "max_body", "trusted_proxies", "error_bodies", "access_log", "routes",
       "sni_routes", "max_connections", "proxy_protocol_from", "flow_idle_timeout", "max_flows", "tls", "hsts",
       "http2"},
      l.key_marks, [&](const Field& f) {
        if (f.key == "name") {
          read_name(f, l.name);
        } else if (f.key == "address") {
          if (f.value.IsScalar()) address_text = f.value.Scalar();
          read_address(f, l.address);
        } else if (f.key == "mode") {
          read_enum(f, {Mode::kHttp, Mode::kTcp, Mode::kUdp}, l.mode);
        } else if (f.key == "backend") {
          read_name(f, l.backend);
        } else if (f.key == "header_timeout") {
          read_duration(f, l.header_timeout);
        } else if (f.key == "idle_timeout") {
          read_duration(f, l.idle_timeout);
        } else if (f.key == "request_timeout") {
          read_duration(f, l.request_timeout);
        } else if (f.key == "max_header_size") {
          read_size(f, l.max_header_size);
        } else if (f.key == "max_body") {
          read_size(f, l.max_body);
        } else if (f.key == "trusted_proxies") {
          read_texts(f, "addresses or CIDRs", "an address or CIDR", false, l.trusted_proxies);
        } else if (f.key == "error_bodies") {
          read_error_bodies(f, l.error_bodies);
        } else if (f.key == "access_log") {
          read_access_log(f, l.access_log);
        } else if (f.key == "http2") {
          read_http2(f, l.http2);
        } else if (f.key == "routes") {
          if (!expect_list(f, "routes")) return;
          for_each_item(f, [&](const Field& item, size_t i) {
            l.routes.push_back(read_route(item.value, item.path, i));
          });
        } else if (f.key == "sni_routes") {
          if (!expect_list(f, "sni_routes")) return;
          for_each_item(f, [&](const Field& item, size_t) {
            SniRouteConfig r;
            r.mark = item.mark;
            if (!item.value.IsMap()) {
              error(item.mark, item.path,
                    std::string("expected an SNI route (a mapping with sni: and backend:), got ") +
                        kind_name(item.value));
              return;
            }
            for_each_field(item.value, item.path, {"sni", "backend"}, r.key_marks,
                           [&](const Field& g) {
                             if (g.key == "sni") {
                               read_texts(g, "server names", "a server name", true, r.sni);
                             } else {
                               read_name(g, r.backend);
                             }
                           });
            l.sni_routes.push_back(std::move(r));
          });
        } else if (f.key == "max_connections") {
          read_uint(f, 0, std::numeric_limits<std::uint32_t>::max(), l.max_connections);
        } else if (f.key == "proxy_protocol_from") {
          read_texts(f, "addresses or CIDRs", "an address or CIDR", true, l.proxy_protocol_from);
        } else if (f.key == "flow_idle_timeout") {
          read_duration(f, l.flow_idle_timeout);
        } else if (f.key == "max_flows") {
          read_uint(f, 0, std::numeric_limits<std::uint32_t>::max(), l.max_flows);
        } else if (f.key == "tls") {
          read_tls(f, l.tls);
        } else if (f.key == "hsts") {
          read_hsts(f, l.hsts);
        }
      });
  // A TCP session may sit quiet for long (a database connection, a websocket): an hour, as
  // Envoy's tcp_proxy, unless the listener says otherwise.
  if (l.mode == Mode::kTcp && !l.key_marks.by_key.contains("idle_timeout")) {
    l.idle_timeout = std::chrono::hours(1);
  }
  // The name defaults to the address as written, so logs show what the user typed.
  if (l.name.empty() && !l.key_marks.by_key.contains("name")) l.name = address_text;
  return l;
}

BackendConfig Walker::read_backend(const YAML::Node& n, const std::string& path) {
  BackendConfig b;
  b.mark = mark(n);
  if (!n.IsMap()) {
    error(
        b.mark, path,
        std::string("expected a backend (a mapping with name: and servers:), got ") + kind_name(n));
    return b;
  }
  bool balance_ok = true;
  bool consistent = false;  // balance: consistent_hash
  ConsistentHash ch;
  for_each_field(n, path,
                 {"name", "balance", "consistent_hash", "hash_key", "health_check", "outlier",
                  "sticky", "queue", "connect_timeout", "response_timeout", "idle_timeout",
                  "max_idle", "servers", "send_proxy_protocol", "retries", "protocol", "tls"},
                 b.key_marks, [&](const Field& f) {
                   if (f.key == "name") {
                     read_name(f, b.name);
                   } else if (f.key == "balance") {
                     balance_ok = read_balance(f, b.balance, consistent);
                   } else if (f.key == "consistent_hash") {
                     read_consistent_hash(f, b, ch);
                   } else if (f.key == "hash_key") {
                     read_hash_key(f, b.hash_key);
                   } else if (f.key == "health_check") {
                     read_health_check(f, b.health_check);
                   } else if (f.key == "outlier") {
                     read_outlier(f, b.outlier);
                   } else if (f.key == "sticky") {
                     read_sticky(f, b.sticky);
                   } else if (f.key == "queue") {
                     read_queue(f, b.queue);
                   } else if (f.key == "send_proxy_protocol") {
                     read_enum(f, {ProxyProtocol::kNone, ProxyProtocol::kV1, ProxyProtocol::kV2},
                               b.send_proxy_protocol);
                   } else if (f.key == "retries") {
                     read_uint(f, 0, 16, b.retries);
                   } else if (f.key == "protocol") {
                     read_enum(f, {UpstreamProtocol::kHttp1, UpstreamProtocol::kH2}, b.protocol);
                   } else if (f.key == "tls") {
                     read_upstream_tls(f, b.tls);
                   } else if (f.key == "connect_timeout") {
                     read_duration(f, b.connect_timeout);
                   } else if (f.key == "response_timeout") {
                     read_duration(f, b.response_timeout);
                   } else if (f.key == "idle_timeout") {
                     read_duration(f, b.idle_timeout);
                   } else if (f.key == "max_idle") {
                     read_uint(f, 0, std::numeric_limits<std::uint32_t>::max(), b.max_idle);
                   } else if (f.key == "servers") {
                     if (!expect_list(f, "servers")) return;
                     for_each_item(f, [&](const Field& item, size_t) {
                       b.servers.push_back(read_server(item.value, item.path));
                     });
                   }
                 });
  check_balancing(b, path, balance_ok, consistent, ch);
  // Defaults wait until the whole mapping is read: `servers:` may come before `name:`.
  for (size_t i = 0; i < b.servers.size(); ++i) {
    ServerConfig& s = b.servers[i];
    if (s.name.empty() && !s.key_marks.by_key.contains("name")) {
      s.name = b.name + "-" + std::to_string(i + 1);
    }
  }
  return b;
}

ServerConfig Walker::read_server(const YAML::Node& n, const std::string& path) {
  ServerConfig s;
  s.mark = mark(n);
  if (n.IsScalar()) {  // `- 10.0.0.1:80` is short for `- address: 10.0.0.1:80`
    Field f{"address", path, n, s.mark, s.mark};
    s.key_marks.by_key["address"] = s.mark;
    read_address(f, s.address);
    return s;
  }
  if (!n.IsMap()) {
    error(s.mark, path,
          std::string("expected a server (host:port, or a mapping with address:), got ") +
              kind_name(n));
    return s;
  }
  for_each_field(
      n, path,
      {"name", "address", "kind", "weight", "backup", "max_connections", "slow_start", "admin"},
      s.key_marks, [&](const Field& f) {
        if (f.key == "name") {
          read_name(f, s.name);
        } else if (f.key == "address") {
          read_address(f, s.address);
        } else if (f.key == "kind") {
          read_enum(f, {ServerKind::kNet, ServerKind::kDemo}, s.kind);
        } else if (f.key == "weight") {
          read_uint(f, 1, 256, s.weight);
        } else if (f.key == "backup") {
          read_bool(f, s.backup);
        } else if (f.key == "max_connections") {
          read_uint(f, 0, std::numeric_limits<std::uint32_t>::max(), s.max_connections);
        } else if (f.key == "slow_start") {
          read_duration(f, s.slow_start);
        } else if (f.key == "admin") {
          read_enum(f,
                    {ServerConfig::Admin::kEnabled, ServerConfig::Admin::kDrain,
                     ServerConfig::Admin::kDisabled},
                    s.admin);
        }
      });
  if (s.kind == ServerKind::kDemo && !s.key_marks.by_key.contains("address")) {
    s.address.host = "127.0.0.1";
    s.address.port = 0;
  }
  return s;
}

}  // namespace detail

namespace {

struct DocumentProblem {
  YAML::Mark mark;
  std::string message;
  bool fatal;  // the text is not valid YAML; nothing else can be said about it
};

// Counts the documents in `text` without building them. YAML::LoadAll would do, but in
// yaml-cpp 0.7 it loops forever, allocating, on a document that starts with a stray ','
// (jbeder/yaml-cpp#1040, fixed upstream by #1318/#1319): the parser reports the same document
// again without consuming anything. Here that stall is noticed and reported instead.
std::optional<DocumentProblem> scan_documents(const std::string& text) {
  struct Starts : YAML::EventHandler {
    std::vector<YAML::Mark> marks;
    void OnDocumentStart(const YAML::Mark& m) override { marks.push_back(m); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } starts;
  std::istringstream in(text);
  YAML::Parser parser(in);
  // Every real document consumes input, so only a stall could keep this going; the cap is a
  // second line of defence.
  for (int i = 0; i < 1000 && parser.HandleNextDocument(starts); ++i) {
    const auto& m = starts.marks;
    if (m.size() >= 2 && m[m.size() - 1].pos == m[m.size() - 2].pos) {
      std::string what = "unexpected character";
      if (m.back().pos >= 0 && static_cast<size_t>(m.back().pos) < text.size()) {
        what = "unexpected " + quote(std::string(1, text[m.back().pos]), '\'');
      }
      return DocumentProblem{m.back(), "invalid YAML: " + what, true};
    }
  }
  if (starts.marks.size() < 2) return std::nullopt;
  return DocumentProblem{starts.marks[1],
                         "the file holds more than one YAML document ('---'); expected one", false};
}

// True when `path` is `prefix` itself or lies inside it (`a.b` is inside `a`, and so is `a[0]`).
bool within(const std::string& path, const std::string& prefix) {
  if (prefix.empty()) return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '.' || path[prefix.size()] == '[';
}

// validate() has no positions for values whose structs carry no marks (routes, list items):
// the walk's mark for the path, or for the nearest enclosing path it knows, stands in.
Mark nearest_mark(const std::map<std::string, Mark, std::less<>>& marks, std::string_view path,
                  const Mark& fallback) {
  size_t end = path.size();
  while (end > 0) {
    auto it = marks.find(path.substr(0, end));
    if (it != marks.end()) return it->second;
    size_t cut = path.find_last_of(".[", end - 1);
    if (cut == std::string_view::npos) break;
    end = cut;
  }
  return fallback;
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string where = mark.file;
  if (mark.line > 0) {
    if (!where.empty()) where += ':';
    where += std::to_string(mark.line) + ":" + std::to_string(mark.column);
  }
  std::string out;
  const std::string* parts[] = {&where, &path, &message};
  for (const std::string* part : parts) {
    if (part->empty()) continue;
    if (!out.empty()) out += ": ";
    out += *part;
  }
  return out;
}

LoadResult load_string(std::string_view yaml, const std::string& name) {
  LoadResult result;
  auto to_mark = [&](const YAML::Mark& m) {
    return m.line < 0 ? Mark{name, 0, 0} : Mark{name, m.line + 1, m.column + 1};
  };
  YAML::Node root;
  try {
    std::string text(yaml);
    if (auto problem = scan_documents(text)) {
      result.errors.push_back(ConfigError{to_mark(problem->mark), "", problem->message});
      if (problem->fatal) return result;
    }
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    result.errors.push_back(ConfigError{to_mark(e.mark), "", "invalid YAML: " + e.msg});
    return result;
  }

  Config config;
  std::vector<detail::Walker::Covered> covered;
  std::map<std::string, Mark, std::less<>> marks;
  try {
    detail::Walker walker(name, result.errors);
    config = walker.read(root);
    covered = std::move(walker.covered);
    marks = std::move(walker.marks);
  } catch (const YAML::Exception& e) {
    // The walk only reads node types and scalars; this is a safety net, not a path we expect.
    result.errors.push_back(
        ConfigError{{name, 0, 0}, "", std::string("invalid YAML: ") + e.what()});
    return result;
  }

  // Relations between fields. A finding on a value the walk already rejected (the field kept
  // its default) would only repeat the first error in a more confusing way.
  std::vector<ConfigError> relations;
  validate(config, relations);
  for (ConfigError& e : relations) {
    bool repeat =
        std::any_of(covered.begin(), covered.end(), [&](const detail::Walker::Covered& c) {
          return c.subtree ? within(e.path, c.path) : e.path == c.path;
        });
    if (repeat) continue;
    if (e.mark.line == 0) e.mark = nearest_mark(marks, e.path, e.mark);
    result.errors.push_back(std::move(e));
  }

  // Reading order is easiest to act on; errors without a line go last.
  std::stable_sort(
      result.errors.begin(), result.errors.end(), [](const ConfigError& a, const ConfigError& b) {
        auto key = [](const ConfigError& e) {
          return std::pair(e.mark.line == 0 ? std::numeric_limits<int>::max() : e.mark.line,
                           e.mark.column);
        };
        return key(a) < key(b);
      });
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

LoadResult load_file(const std::string& path) {
  LoadResult result;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    result.errors.push_back(
        ConfigError{{path, 0, 0}, "", std::string("cannot open: ") + std::strerror(errno)});
    return result;
  }
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  int read_errno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (read_errno != 0) {
    result.errors.push_back(
        ConfigError{{path, 0, 0}, "", std::string("cannot read: ") + std::strerror(read_errno)});
    return result;
  }
  return load_string(text, path);
}

}  // namespace fulcrum::config
