// to_yaml(): the config as a user would write it. Every key is written, defaults included, so
// the output doubles as a full reference of what lbd is running with. The exceptions are the
// keys whose absence means something: a listener's `backend` when it has routes and none,
// `access_log` when the log is off, a route's match conditions, header operations and rewrite
// when it has none, a backend's health_check and outlier when off, and hash settings for
// algorithms that do not hash.
#include <iomanip>
#include <sstream>

#include "config/checks.h"
#include "config/loader.h"
#include "config/parse_enums.h"
#include "config/text.h"

namespace fulcrum::config {
namespace {

// A scalar inside a flow list `[a, b]`: yaml_scalar's plain form, unless a ':' could be read
// as a mapping there.
std::string flow_scalar(std::string_view s) {
  std::string out = yaml_scalar(s);
  if (out.front() != '"' && out.find(':') != std::string::npos) out = "\"" + out + "\"";
  return out;
}

std::string flow_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + flow_scalar(items[i]);
  return out + "]";
}

void write_fields(std::ostream& out, const char* key, const std::vector<FieldMatch>& fs) {
  if (fs.empty()) return;
  out << "          " << key << ":\n";
  for (const FieldMatch& f : fs) {
    out << "            - name: " << yaml_scalar(f.name) << "\n";
    if (f.kind == FieldMatch::Kind::kEquals) {
      out << "              value: " << yaml_scalar(f.value) << "\n";
    } else if (f.kind == FieldMatch::Kind::kRegex) {
      out << "              regex: " << yaml_scalar(f.value) << "\n";
    }
  }
}

void write_match(std::ostream& out, const RouteMatch& m) {
  if (m == RouteMatch{}) return;
  out << "        match:\n";
  if (!m.hosts.empty()) out << "          host: " << flow_list(m.hosts) << "\n";
  switch (m.path_kind) {
    case RouteMatch::PathKind::kAny:
      break;
    case RouteMatch::PathKind::kExact:
      out << "          path: " << yaml_scalar(m.path) << "\n";
      break;
    case RouteMatch::PathKind::kPrefix:
      out << "          path_prefix: " << yaml_scalar(m.path) << "\n";
      break;
    case RouteMatch::PathKind::kRegex:
      out << "          path_regex: " << yaml_scalar(m.path) << "\n";
      break;
  }
  if (!m.methods.empty()) out << "          method: " << flow_list(m.methods) << "\n";
  write_fields(out, "headers", m.headers);
  write_fields(out, "query", m.query);
  write_fields(out, "cookies", m.cookies);
  if (!m.sources.empty()) out << "          source: " << flow_list(m.sources) << "\n";
}

void write_ops(std::ostream& out, const char* key, const HeaderOps& ops) {
  if (ops.empty()) return;
  out << "        " << key << ":\n";
  for (const auto* list : {&ops.set, &ops.add}) {
    if (list->empty()) continue;
    out << "          " << (list == &ops.set ? "set" : "add") << ":\n";
    for (const auto& [name, value] : *list) {
      out << "            " << yaml_scalar(name) << ": " << yaml_scalar(value) << "\n";
    }
  }
  if (!ops.remove.empty()) out << "          remove: " << flow_list(ops.remove) << "\n";
}

void write_route(std::ostream& out, const RouteConfig& r) {
  out << "      - name: " << yaml_scalar(r.name) << "\n";
  write_match(out, r.match);
  switch (r.action) {
    case RouteConfig::Action::kForward:
      out << "        backend: " << yaml_scalar(r.backend) << "\n";
      break;
    case RouteConfig::Action::kSplit:
      out << "        split:" << (r.split.empty() ? " []" : "") << "\n";
      for (const WeightedBackend& w : r.split) {
        out << "          - backend: " << yaml_scalar(w.backend) << "\n"
            << "            weight: " << w.weight << "\n";
      }
      break;
    case RouteConfig::Action::kRedirect:
      out << "        redirect:\n"
          << "          to: " << yaml_scalar(r.redirect_to) << "\n"
          << "          status: " << r.redirect_status << "\n";
      break;
    case RouteConfig::Action::kRespond:
      out << "        respond:\n"
          << "          status: " << r.respond_status << "\n"
          << "          body: " << yaml_scalar(r.respond_body) << "\n"
          << "          content_type: " << yaml_scalar(r.respond_content_type) << "\n";
      break;
  }
  write_ops(out, "request_headers", r.request_headers);
  write_ops(out, "response_headers", r.response_headers);
  if (!r.strip_prefix.empty() || !r.rewrite_regex.empty()) {
    out << "        rewrite:\n";
    if (!r.strip_prefix.empty())
      out << "          strip_prefix: " << yaml_scalar(r.strip_prefix) << "\n";
    if (!r.rewrite_regex.empty()) {
      out << "          regex: " << yaml_scalar(r.rewrite_regex) << "\n"
          << "          replace: " << yaml_scalar(r.rewrite_replace) << "\n";
    }
  }
}

// A tcp listener has its own keys, and the HTTP ones would be errors on it.
void write_tcp_listener(std::ostream& out, const ListenerConfig& l) {
  if (!l.backend.empty() || l.sni_routes.empty()) {
    out << "    backend: " << yaml_scalar(l.backend) << "\n";
  }
  out << "    header_timeout: " << format_duration(l.header_timeout) << "\n"
      << "    idle_timeout: " << format_duration(l.idle_timeout) << "\n"
      << "    max_connections: " << l.max_connections << "\n"
      << "    proxy_protocol_from: " << flow_list(l.proxy_protocol_from) << "\n"
      << "    sni_routes:" << (l.sni_routes.empty() ? " []" : "") << "\n";
  for (const SniRouteConfig& r : l.sni_routes) {
    out << "      - sni: " << flow_list(r.sni) << "\n"
        << "        backend: " << yaml_scalar(r.backend) << "\n";
  }
}

// mode: udp has its own few keys; the HTTP ones would not load back (validate refuses them).
void write_udp_listener(std::ostream& out, const ListenerConfig& l) {
  out << "    backend: " << yaml_scalar(l.backend) << "\n"
      << "    flow_idle_timeout: " << format_duration(l.flow_idle_timeout) << "\n"
      << "    max_flows: " << l.max_flows << "\n";
}

// Written only when on (its absence means plain HTTP); inside, every key is.
void write_tls(std::ostream& out, const TlsConfig& t) {
  out << "    tls:\n"
      << "      certificates:\n";
  for (const TlsCertConfig& c : t.certificates) {
    out << "        - cert: " << yaml_scalar(c.cert) << "\n"
        << "          key: " << yaml_scalar(c.key) << "\n";
    if (!c.ocsp_response.empty()) {
      out << "          ocsp_response: " << yaml_scalar(c.ocsp_response) << "\n";
    }
  }
  const char* verify = t.verify_client == TlsConfig::Verify::kRequired   ? "required"
                       : t.verify_client == TlsConfig::Verify::kOptional ? "optional"
                                                                         : "none";
  out << "      protocols: " << flow_list(t.protocols) << "\n"
      << "      ciphers: " << yaml_scalar(t.ciphers) << "\n"
      << "      ciphersuites: " << yaml_scalar(t.ciphersuites) << "\n"
      << "      curves: " << flow_list(t.curves) << "\n"
      << "      session_tickets: " << (t.session_tickets ? "true" : "false") << "\n"
      << "      ticket_rotation: " << format_duration(t.ticket_rotation) << "\n"
      << "      session_cache: " << t.session_cache << "\n"
      << "      handshake_timeout: " << format_duration(t.handshake_timeout) << "\n";
  if (!t.client_ca.empty()) out << "      client_ca: " << yaml_scalar(t.client_ca) << "\n";
  out << "      verify_client: " << verify << "\n";
  if (!t.client_subject_header.empty()) {
    out << "      client_subject_header: " << yaml_scalar(t.client_subject_header) << "\n";
  }
  out << "      alpn: " << flow_list(t.alpn) << "\n";
}

// Written only when on, as the listener's; inside, every key is (empty names are defaults).
void write_upstream_tls(std::ostream& out, const UpstreamTlsConfig& t) {
  out << "    tls:\n";
  if (!t.ca.empty()) out << "      ca: " << yaml_scalar(t.ca) << "\n";
  out << "      verify: " << (t.verify ? "true" : "false") << "\n";
  if (!t.sni.empty()) out << "      sni: " << yaml_scalar(t.sni) << "\n";
  if (!t.cert.empty()) {
    out << "      cert: " << yaml_scalar(t.cert) << "\n"
        << "      key: " << yaml_scalar(t.key) << "\n";
  }
  out << "      protocols: " << flow_list(t.protocols) << "\n"
      << "      ciphers: " << yaml_scalar(t.ciphers) << "\n"
      << "      ciphersuites: " << yaml_scalar(t.ciphersuites) << "\n"
      << "      session_reuse: " << (t.session_reuse ? "true" : "false") << "\n";
}

void write_listener(std::ostream& out, const ListenerConfig& l) {
  out << "  - name: " << yaml_scalar(l.name) << "\n"
      << "    address: " << yaml_scalar(format_address(l.address)) << "\n"
      << "    mode: " << to_string(l.mode) << "\n";
  if (l.mode == Mode::kTcp) return write_tcp_listener(out, l);
  if (l.mode == Mode::kUdp) return write_udp_listener(out, l);
  if (!l.backend.empty() || l.routes.empty()) {
    out << "    backend: " << yaml_scalar(l.backend) << "\n";
  }
  out << "    header_timeout: " << format_duration(l.header_timeout) << "\n"
      << "    idle_timeout: " << format_duration(l.idle_timeout) << "\n"
      << "    request_timeout: " << format_duration(l.request_timeout) << "\n"
      << "    max_header_size: " << format_size(l.max_header_size) << "\n"
      << "    max_body: " << format_size(l.max_body) << "\n"
      << "    trusted_proxies: " << flow_list(l.trusted_proxies) << "\n"
      << "    error_bodies:" << (l.error_bodies.empty() ? " {}" : "") << "\n";
  for (const auto& [status, body] : l.error_bodies) {
    out << "      " << status << ": " << yaml_scalar(body) << "\n";
  }
  if (l.access_log.enabled) {
    out << "    access_log:\n"
        << "      format: " << to_string(l.access_log.format) << "\n"
        << "      path: " << yaml_scalar(l.access_log.path) << "\n";
  }
  if (l.tls.enabled) write_tls(out, l.tls);
  if (l.hsts.enabled) {
    out << "    hsts:\n"
        << "      max_age: " << format_duration(l.hsts.max_age) << "\n"
        << "      include_subdomains: " << (l.hsts.include_subdomains ? "true" : "false") << "\n"
        << "      preload: " << (l.hsts.preload ? "true" : "false") << "\n";
  }
  // Like access_log: written when set, so configs without HTTP/2 settings print as before.
  if (l.http2 != Http2Config{}) {
    out << "    http2:\n"
        << "      h2c: " << (l.http2.h2c ? "true" : "false") << "\n"
        << "      max_concurrent_streams: " << l.http2.max_concurrent_streams << "\n"
        << "      max_header_list_size: " << format_size(l.http2.max_header_list_size) << "\n"
        << "      initial_window_size: " << format_size(l.http2.initial_window_size) << "\n"
        << "      max_frame_size: " << format_size(l.http2.max_frame_size) << "\n";
  }
  out << "    routes:" << (l.routes.empty() ? " []" : "") << "\n";
  for (const RouteConfig& r : l.routes) write_route(out, r);
}

std::string status_ranges(const std::vector<std::pair<int, int>>& ranges) {
  std::string out = "[";
  for (size_t i = 0; i < ranges.size(); ++i) {
    auto [lo, hi] = ranges[i];
    out += i ? ", " : "";
    out +=
        lo == hi ? std::to_string(lo) : "\"" + std::to_string(lo) + "-" + std::to_string(hi) + "\"";
  }
  return out + "]";
}

// Absent blocks mean something (no checks, no outlier detection), so they are written only when
// on; inside them, every key is.
void write_health(std::ostream& out, const HealthCheckConfig& hc, const OutlierConfig& o) {
  if (hc.type != HealthCheckConfig::Type::kNone) {
    out << "    health_check:\n"
        << "      type: " << to_string(hc.type) << "\n"
        << "      interval: " << format_duration(hc.interval) << "\n"
        << "      timeout: " << format_duration(hc.timeout) << "\n"
        << "      rise: " << hc.rise << "\n"
        << "      fall: " << hc.fall << "\n";
    if (hc.type == HealthCheckConfig::Type::kHttp) {
      out << "      method: " << yaml_scalar(hc.method) << "\n"
          << "      path: " << yaml_scalar(hc.path) << "\n"
          << "      host: " << yaml_scalar(hc.host) << "\n"
          << "      expect_status: " << status_ranges(hc.expect_status) << "\n"
          << "      expect_body: " << yaml_scalar(hc.expect_body) << "\n";
    }
    out << "      source: " << yaml_scalar(hc.source) << "\n";
  }
  if (o.enabled) {
    out << "    outlier:\n"
        << "      consecutive_5xx: " << o.consecutive_5xx << "\n"
        << "      consecutive_failures: " << o.consecutive_failures << "\n"
        << "      base_ejection: " << format_duration(o.base_ejection) << "\n"
        << "      max_ejection: " << format_duration(o.max_ejection) << "\n"
        << "      max_ejection_percent: " << o.max_ejection_percent << "\n";
  }
}

// Hash settings are written only for the algorithms that read them: anywhere else they are an
// error.
void write_backend(std::ostream& out, const BackendConfig& b) {
  out << "  - name: " << yaml_scalar(b.name) << "\n"
      << "    balance: " << balance_yaml_name(b.balance) << "\n";
  if (b.balance == BalanceAlgorithm::kMaglev || b.balance == BalanceAlgorithm::kRingHash) {
    bool ring = b.balance == BalanceAlgorithm::kRingHash;
    out << "    consistent_hash:\n"
        << "      method: " << (ring ? "ring_hash" : "maglev") << "\n"
        << "      key: " << yaml_scalar(format_hash_key(b.hash_key)) << "\n";
    if (ring) out << "      balance_factor: " << format_number(b.hash_balance_factor) << "\n";
  } else if (b.balance == BalanceAlgorithm::kSourceHash) {
    out << "    hash_key: " << yaml_scalar(format_hash_key(b.hash_key)) << "\n";
  }
  write_health(out, b.health_check, b.outlier);
  if (b.sticky.enabled) {
    out << "    sticky:\n      mode: " << to_string(b.sticky.mode) << "\n"
        << "      cookie: " << yaml_scalar(b.sticky.cookie) << "\n";
    if (b.sticky.mode == StickyConfig::Mode::kLearn) {
      out << "      ttl: " << format_duration(b.sticky.ttl) << "\n"
          << "      table_size: " << b.sticky.table_size << "\n";
    }
  }
  out << "    queue:\n      size: " << b.queue.size << "\n"
      << "      timeout: " << format_duration(b.queue.timeout) << "\n";
  out << "    connect_timeout: " << format_duration(b.connect_timeout) << "\n"
      << "    response_timeout: " << format_duration(b.response_timeout) << "\n"
      << "    idle_timeout: " << format_duration(b.idle_timeout) << "\n"
      << "    max_idle: " << b.max_idle << "\n"
      << "    send_proxy_protocol: " << to_string(b.send_proxy_protocol) << "\n"
      << "    retries: " << b.retries << "\n"
      << "    protocol: " << to_string(b.protocol) << "\n";
  if (b.tls.enabled) write_upstream_tls(out, b.tls);
  out << "    servers:" << (b.servers.empty() ? " []" : "") << "\n";
  for (const ServerConfig& s : b.servers) {
    out << "      - name: " << yaml_scalar(s.name) << "\n"
        << "        address: " << yaml_scalar(format_address(s.address)) << "\n"
        << "        kind: " << to_string(s.kind) << "\n"
        << "        weight: " << s.weight << "\n"
        << "        backup: " << (s.backup ? "true" : "false") << "\n"
        << "        max_connections: " << s.max_connections << "\n"
        << "        slow_start: " << format_duration(s.slow_start) << "\n"
        << "        admin: " << to_string(s.admin) << "\n";
  }
}

}  // namespace

std::string to_yaml(const Config& c) {
  std::ostringstream out;
  auto duration = [](Duration d) { return format_duration(d); };

  out << "workers: " << (c.workers == 0 ? std::string("auto") : std::to_string(c.workers)) << "\n"
      << "shutdown_timeout: " << duration(c.shutdown_timeout) << "\n"
      << "reload_grace: " << duration(c.reload_grace) << "\n"
      << "busy_poll: " << duration(c.busy_poll) << "\n"
      << "log_level: " << to_string(c.log_level) << "\n";
  if (c.metrics.enabled) {
    out << "metrics:\n  address: " << yaml_scalar(format_address(c.metrics.address)) << "\n";
  }
  if (c.admin.enabled) {
    out << "admin:\n  socket: " << yaml_scalar(c.admin.socket) << "\n"
        << "  mode: \"" << std::oct << std::setw(4) << std::setfill('0') << c.admin.mode << std::dec
        << std::setfill(' ') << "\"\n";
  }

  out << "listeners:" << (c.listeners.empty() ? " []" : "") << "\n";
  for (const ListenerConfig& l : c.listeners) write_listener(out, l);

  out << "backends:" << (c.backends.empty() ? " []" : "") << "\n";
  for (const BackendConfig& b : c.backends) write_backend(out, b);
  return out.str();
}

}  // namespace fulcrum::config
