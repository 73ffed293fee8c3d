// validate(): the rules that relate fields to each other or bound them, shared by the YAML
// loader and the quick mode, so a config is held to the same rules however it was written.
#include <algorithm>
#include <cctype>
#include <map>

#include "config/checks.h"
#include "config/loader.h"
#include "config/suggest.h"
#include "config/text.h"

namespace fulcrum::config {
namespace {

class Checker {
 public:
  explicit Checker(std::vector<ConfigError>& errors) : errors_(errors) {}

  void run(const Config& c);

 private:
  void error(const Mark& m, std::string path, std::string message) {
    errors_.push_back(ConfigError{m, std::move(path), std::move(message)});
  }
  void positive(const Duration& d, const KeyMarks& km, const Mark& item, const std::string& path,
                std::string_view key);
  void listener(const Config& c, size_t i);
  void backend(const Config& c, size_t i);
  void tcp_keys(const Config& c, size_t i);  // sni_routes, proxy_protocol_from, mode limits
  void udp_keys(const Config& c, size_t i);  // flow_idle_timeout, max_flows, mode limits

  std::vector<ConfigError>& errors_;
};

std::string index_path(std::string_view list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

// " (listeners[0], line 3)": where the first holder of a name or address is.
std::string first_at(const std::string& path, const Mark& m) {
  std::string s = " (" + path;
  if (m.line > 0) s += ", line " + std::to_string(m.line);
  return s + ")";
}

bool has_address(const Address& a) {
  return a.kind == Address::Kind::kUnix ? !a.path.empty() : !a.host.empty();
}

void Checker::positive(const Duration& d, const KeyMarks& km, const Mark& item,
                       const std::string& path, std::string_view key) {
  // Every wait has a timeout (DESIGN.md, data path rule 2), so 0 cannot mean "forever".
  if (d.count() <= 0) {
    error(km.at(key, item), path + "." + std::string(key),
          "must be greater than 0, got " + format_duration(d));
  }
}

void Checker::run(const Config& c) {
  if (c.workers > 256) {
    error(c.key_marks.at("workers", c.mark), "workers",
          "expected auto or a whole number from 1 to 256, got " + std::to_string(c.workers));
  }
  if (c.busy_poll > std::chrono::milliseconds(10)) {
    error(c.key_marks.at("busy_poll", c.mark), "busy_poll",
          "expected at most 10ms (a worker spins this long after each event), got " +
              format_duration(c.busy_poll));
  }
  if (c.listeners.empty()) {
    error(c.key_marks.at("listeners", c.mark), "listeners", "at least one listener is required");
  }
  if (c.backends.empty()) {
    error(c.key_marks.at("backends", c.mark), "backends", "at least one backend is required");
  }
  for (size_t i = 0; i < c.listeners.size(); ++i) listener(c, i);
  for (size_t i = 0; i < c.backends.size(); ++i) backend(c, i);
}

void Checker::listener(const Config& c, size_t i) {
  const ListenerConfig& l = c.listeners[i];
  const std::string p = index_path("listeners", i);
  const KeyMarks& km = l.key_marks;

  if (!has_address(l.address)) {
    error(l.mark, p + ".address", "address is required");
  } else {
    // Port 0 asks the kernel for any free port, so two such listeners do not collide.
    bool any_port = l.address.kind == Address::Kind::kInet && l.address.port == 0;
    for (size_t j = 0; j < i && !any_port; ++j) {
      if (c.listeners[j].address == l.address) {
        error(km.at("address", l.mark), p + ".address",
              "address " + format_address(l.address) + " is already used by listener '" +
                  c.listeners[j].name + "'" +
                  first_at(index_path("listeners", j), c.listeners[j].mark));
        break;
      }
    }
    if (l.name.empty()) error(km.at("name", l.mark), p + ".name", "name must not be empty");
  }
  for (size_t j = 0; j < i && !l.name.empty(); ++j) {
    // Equal names on a duplicate address (e.g. both defaulted) were reported just above.
    bool reported = has_address(l.address) && c.listeners[j].address == l.address;
    if (c.listeners[j].name == l.name && !reported) {
      error(km.at("name", l.mark), p + ".name",
            "listener name '" + l.name + "' is already used" +
                first_at(index_path("listeners", j), c.listeners[j].mark));
      break;
    }
  }

  if (l.mode != Mode::kHttp && l.mode != Mode::kTcp && l.mode != Mode::kUdp) {
    error(km.at("mode", l.mark), p + ".mode",
          "mode '" + std::string(to_string(l.mode)) + "' is not supported yet (only http and tcp)");
  }
  tcp_keys(c, i);
  udp_keys(c, i);
  // TLS terminates in the HTTP engine; a tcp listener passes TLS through (sni_routes).
  if (l.tls.enabled && l.mode != Mode::kHttp) {
    error(km.at("tls", l.mark), p + ".tls",
          "tls applies to mode: http only (a tcp listener passes TLS through; see sni_routes)");
  }
  if (l.hsts.enabled && !l.tls.enabled) {
    error(km.at("hsts", l.mark), p + ".hsts",
          "hsts applies to tls listeners only (browsers ignore it over plain HTTP)");
  }

  if (l.backend.empty()) {
    // With routes, a request no route takes gets 404; without, there is nowhere to send any.
    if (l.routes.empty() && l.sni_routes.empty()) {
      error(l.mark, p + ".backend",
            "backend is required (unless the listener has routes): the name of one of the "
            "backends");
    }
  } else if (!c.backends.empty()) {
    std::vector<std::string_view> names;
    for (const BackendConfig& b : c.backends) names.push_back(b.name);
    if (std::find(names.begin(), names.end(), l.backend) == names.end()) {
      std::string msg = "no backend named " + quote(l.backend, '\'');
      if (auto near = closest_match(l.backend, names)) {
        msg += "; did you mean '" + *near + "'?";
      } else {
        msg += "; defined backends: " + join(names);
      }
      error(km.at("backend", l.mark), p + ".backend", std::move(msg));
    }
  }

  // Positions of list items and map entries are not kept in the structs; the loader adds them
  // from the path.
  for (size_t t = 0; t < l.trusted_proxies.size(); ++t) {
    if (!is_address_or_cidr(l.trusted_proxies[t])) {
      error(
          {}, p + ".trusted_proxies[" + std::to_string(t) + "]",
          "expected an address or CIDR like 10.0.0.0/8 or ::1, got " + quote(l.trusted_proxies[t]));
    }
  }
  for (const auto& [status, body] : l.error_bodies) {
    const std::string ep = p + ".error_bodies." + std::to_string(status);
    if (std::find(std::begin(detail::kErrorStatuses), std::end(detail::kErrorStatuses), status) ==
        std::end(detail::kErrorStatuses)) {
      error({}, ep,
            "lbd generates no " + std::to_string(status) +
                " error; expected one of: 400, 404, 408, 413, 414, 431, 502, 503, 504");
    } else if (body.size() > detail::kMaxFixedBody) {
      error({}, ep, "at most 8KiB, got " + std::to_string(body.size()) + " bytes");
    }
  }
  if (l.access_log.enabled) {
    const std::string& path = l.access_log.path;
    if (path != "stdout" && path != "stderr" &&
        (!path.starts_with("/") || path.find('\0') != std::string::npos)) {
      std::string msg = "expected stdout, stderr or an absolute file path, got " + quote(path);
      if (auto near = closest_match(path, {"stdout", "stderr"})) {
        msg += "; did you mean '" + *near + "'?";
      }
      error({}, p + ".access_log.path", std::move(msg));
    }
  }
  detail::check_routes(c, i, errors_);

  positive(l.header_timeout, km, l.mark, p, "header_timeout");
  positive(l.idle_timeout, km, l.mark, p, "idle_timeout");
  constexpr Size kMinHead = 1024, kMaxHead = 1024 * 1024;
  if (l.max_header_size < kMinHead || l.max_header_size > kMaxHead) {
    error(km.at("max_header_size", l.mark), p + ".max_header_size",
          "must be from 1KiB to 1MiB, got " + format_size(l.max_header_size));
  }
}

// "api.example.com" or "*.example.com": DNS labels of letters, digits and '-'.
bool valid_sni_name(std::string_view n) {
  if (n.starts_with("*.")) n.remove_prefix(2);
  if (n.empty() || n.size() > 253) return false;
  std::size_t label = 0;
  for (char ch : n) {
    if (ch == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;
}

// Per worker: at ~200 bytes a flow plus a socket each, 16M flows is already far past what
// one worker's file descriptors allow.
constexpr std::uint32_t kMaxFlows = 16 * 1024 * 1024;

void Checker::udp_keys(const Config& c, size_t i) {
  const ListenerConfig& l = c.listeners[i];
  const std::string p = index_path("listeners", i);
  const KeyMarks& km = l.key_marks;
  if (l.mode != Mode::kUdp) {
    for (std::string_view key : {"flow_idle_timeout", "max_flows"}) {
      if (km.by_key.contains(key)) {
        error(km.at(key, l.mark), p + "." + std::string(key),
              std::string(key) + " applies to mode: udp only; this listener is mode: " +
                  std::string(to_string(l.mode)));
      }
    }
    return;
  }
  // A datagram relay has no requests, headers or connections: these keys would promise what
  // is not done. (The mode: tcp keys are refused by tcp_keys.)
  static constexpr std::string_view kNotUdp[] = {
      "routes",          "access_log",      "error_bodies",   "trusted_proxies", "max_body",
      "request_timeout", "max_header_size", "header_timeout", "idle_timeout",   "http2"};
  for (std::string_view key : kNotUdp) {
    const bool given = km.by_key.contains(key) || (key == "routes" && !l.routes.empty()) ||
                       (key == "access_log" && l.access_log.enabled) ||
                       (key == "error_bodies" && !l.error_bodies.empty()) ||
                       (key == "trusted_proxies" && !l.trusted_proxies.empty());
    if (given) {
      std::string msg = std::string(key) + " does not apply to mode: udp";
      if (key == "idle_timeout") msg += "; flows end after flow_idle_timeout";
      error(km.at(key, l.mark), p + "." + std::string(key), std::move(msg));
    }
  }
  positive(l.flow_idle_timeout, km, l.mark, p, "flow_idle_timeout");
  // Active checks speak TCP (and HTTP over it): against UDP servers they would fail and take
  // every server out. Passive outcomes (ICMP port unreachable) still eject.
  for (size_t j = 0; j < c.backends.size(); ++j) {
    const BackendConfig& b = c.backends[j];
    if (b.name != l.backend || b.health_check.type == HealthCheckConfig::Type::kNone) continue;
    error(b.key_marks.at("health_check", b.mark), index_path("backends", j) + ".health_check",
          "backend " + quote(b.name, '\'') + " serves the udp listener " + quote(l.name, '\'') +
              ": active checks (tcp, http) cannot check UDP servers and would take them all "
              "out; leave health_check out and use outlier: { consecutive_failures: N }");
  }
  if (l.max_flows < 1 || l.max_flows > kMaxFlows) {
    error(km.at("max_flows", l.mark), p + ".max_flows",
          "expected a whole number from 1 to " + std::to_string(kMaxFlows) + ", got " +
              std::to_string(l.max_flows));
  }
}

void Checker::tcp_keys(const Config& c, size_t i) {
  const ListenerConfig& l = c.listeners[i];
  const std::string p = index_path("listeners", i);
  const KeyMarks& km = l.key_marks;
  static constexpr std::string_view kTcpOnly[] = {"sni_routes", "max_connections",
                                                  "proxy_protocol_from"};
  // HTTP keys mean nothing to a byte relay; accepting them would promise what is not done.
  static constexpr std::string_view kHttpOnly[] = {
      "routes",   "access_log",      "error_bodies",   "trusted_proxies",
      "max_body", "request_timeout", "max_header_size", "http2"};
  if (l.mode == Mode::kTcp) {
    for (std::string_view key : kHttpOnly) {
      const bool given = km.by_key.contains(key) || (key == "routes" && !l.routes.empty()) ||
                         (key == "access_log" && l.access_log.enabled) ||
                         (key == "error_bodies" && !l.error_bodies.empty()) ||
                         (key == "trusted_proxies" && !l.trusted_proxies.empty());
      if (given) {
        error(km.at(key, l.mark), p + "." + std::string(key),
              std::string(key) + " applies to mode: http only; this listener is mode: tcp");
      }
    }
    // A tcp listener relays bytes (TLS passes through it): lbd is no TLS client there.
    for (size_t j = 0; j < c.backends.size(); ++j) {
      const BackendConfig& b = c.backends[j];
      const bool used = b.name == l.backend ||
                        std::any_of(l.sni_routes.begin(), l.sni_routes.end(),
                                    [&](const SniRouteConfig& r) { return r.backend == b.name; });
      if (!used || !b.tls.enabled) continue;
      error(b.key_marks.at("tls", b.mark), index_path("backends", j) + ".tls",
            "backend " + quote(b.name, '\'') + " serves the tcp listener " + quote(l.name, '\'') +
                ": tls applies to HTTP backends only (a tcp listener relays TLS as it is)");
    }
  } else {
    for (std::string_view key : kTcpOnly) {
      const bool given = km.by_key.contains(key) ||
                         (key == "sni_routes" && !l.sni_routes.empty()) ||
                         (key == "max_connections" && l.max_connections != 0) ||
                         (key == "proxy_protocol_from" && !l.proxy_protocol_from.empty());
      if (given) {
        error(km.at(key, l.mark), p + "." + std::string(key),
              std::string(key) + " applies to mode: tcp only; this listener is mode: " +
                  std::string(to_string(l.mode)));
      }
    }
    return;
  }
  for (size_t t = 0; t < l.proxy_protocol_from.size(); ++t) {
    if (!is_address_or_cidr(l.proxy_protocol_from[t])) {
      error({}, p + ".proxy_protocol_from[" + std::to_string(t) + "]",
            "expected an address or CIDR like 10.0.0.0/8 or ::1, got " +
                quote(l.proxy_protocol_from[t]));
    }
  }
  std::vector<std::string_view> backends;
  for (const BackendConfig& b : c.backends) backends.push_back(b.name);
  std::map<std::string, size_t> seen;  // lower-cased name -> route index
  for (size_t r = 0; r < l.sni_routes.size(); ++r) {
    const SniRouteConfig& route = l.sni_routes[r];
    const std::string rp = p + ".sni_routes[" + std::to_string(r) + "]";
    if (route.sni.empty()) {
      error(route.key_marks.at("sni", route.mark), rp + ".sni",
            "at least one server name is required, like api.example.com or *.example.com");
    }
    for (size_t k = 0; k < route.sni.size(); ++k) {
      const std::string& name = route.sni[k];
      const std::string np = rp + ".sni[" + std::to_string(k) + "]";
      if (!valid_sni_name(name)) {
        error({}, np,
              "expected a server name like api.example.com or *.example.com, got " + quote(name));
        continue;
      }
      std::string lower = name;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      auto [it, fresh] = seen.emplace(lower, r);
      if (!fresh) {
        error({}, np,
              "server name " + quote(name) + " is already routed by sni_routes[" +
                  std::to_string(it->second) + "]");
      }
    }
    if (route.backend.empty()) {
      error(route.mark, rp + ".backend", "backend is required: the name of one of the backends");
    } else if (!backends.empty() &&
               std::find(backends.begin(), backends.end(), route.backend) == backends.end()) {
      std::string msg = "no backend named " + quote(route.backend, '\'');
      if (auto near = closest_match(route.backend, backends)) {
        msg += "; did you mean '" + *near + "'?";
      } else {
        msg += "; defined backends: " + join(backends);
      }
      error(route.key_marks.at("backend", route.mark), rp + ".backend", std::move(msg));
    }
  }
}

void Checker::backend(const Config& c, size_t i) {
  const BackendConfig& b = c.backends[i];
  const std::string p = index_path("backends", i);
  const KeyMarks& km = b.key_marks;

  if (b.name.empty()) {
    error(b.mark, p + ".name", "name is required");
  } else {
    for (size_t j = 0; j < i; ++j) {
      if (c.backends[j].name == b.name) {
        error(km.at("name", b.mark), p + ".name",
              "backend name '" + b.name + "' is already used" +
                  first_at(index_path("backends", j), c.backends[j].mark));
        break;
      }
    }
  }
  positive(b.connect_timeout, km, b.mark, p, "connect_timeout");
  positive(b.response_timeout, km, b.mark, p, "response_timeout");
  positive(b.idle_timeout, km, b.mark, p, "idle_timeout");

  if (b.servers.empty()) {
    error(km.at("servers", b.mark), p + ".servers", "at least one server is required");
  }
  for (size_t k = 0; k < b.servers.size(); ++k) {
    const ServerConfig& s = b.servers[k];
    const std::string sp = p + index_path(".servers", k);
    if (s.name.empty()) {
      error(s.key_marks.at("name", s.mark), sp + ".name", "name must not be empty");
    }
    for (size_t j = 0; j < k && !s.name.empty(); ++j) {
      if (b.servers[j].name == s.name) {
        error(s.key_marks.at("name", s.mark), sp + ".name",
              "server name '" + s.name + "' is already used in this backend" +
                  first_at(p + index_path(".servers", j), b.servers[j].mark));
        break;
      }
    }
    if (s.kind == ServerKind::kNet) {
      if (!has_address(s.address)) {
        error(s.mark, sp + ".address", "address is required (unless kind: demo)");
      } else if (s.address.kind == Address::Kind::kInet && s.address.port == 0) {
        error(s.key_marks.at("address", s.mark), sp + ".address",
              "port 0 cannot be connected to; give the server's port");
      }
    }
    if (s.weight < 1 || s.weight > 256) {
      error(s.key_marks.at("weight", s.mark), sp + ".weight",
            "expected a whole number from 1 to 256, got " + std::to_string(s.weight));
    }
  }
  if (!b.servers.empty() && std::all_of(b.servers.begin(), b.servers.end(),
                                        [](const ServerConfig& s) { return s.backup; })) {
    error(km.at("servers", b.mark), p + ".servers",
          "at least one server must not be a backup (backup servers take over only when every "
          "other server is down)");
  }
  detail::check_balancing(b, p, errors_);
}

}  // namespace

void validate(const Config& config, std::vector<ConfigError>& errors) {
  Checker(errors).run(config);
}

}  // namespace fulcrum::config
