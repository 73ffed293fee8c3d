#include "lbd/quick_mode.h"

#include <fmt/format.h>

#include <charconv>

#include "config/parse_enums.h"

namespace fulcrum::lbd {

const char* const kQuickModeUsage =
    "usage: lbd proxy --listen ADDR --to ADDR[,ADDR...] [--to ADDR ...] [options]\n"
    "\n"
    "Runs a one-listener proxy without a config file. ADDR is host:port, [v6]:port.\n"
    "  --listen ADDR             address to accept clients on (required)\n"
    "  --to ADDR[,ADDR...]       upstream servers (required, repeatable)\n"
    "  --mode http|tcp|udp       listener mode (default http); tcp relays bytes (L4),\n"
    "                            udp balances datagrams by client flow\n"
    "  --send-proxy v1|v2        tcp: send a PROXY protocol header to the servers\n"
    "  --balance NAME            round_robin (default), weighted_round_robin,\n"
    "                            least_connections, random, p2c_ewma, source_hash,\n"
    "                            consistent_hash (= maglev), maglev, ring_hash, first\n"
    "  --hash-key KEY            source | header:NAME | cookie:NAME | path | query:NAME\n"
    "  --to ADDR=WEIGHT          a server with a weight (1..256)\n"
    "  --health-check tcp|http:/PATH  active checks every 2s (rise 2, fall 3)\n"
    "  --eject-after N           passive: eject a server after N failures or 5xx in a row\n"
    "  --workers N|auto          worker threads (default auto: one per core)\n"
    "  --busy-poll DURATION      workers poll this long for events before sleeping (off)\n"
    "  --header-timeout DURATION client request-head timeout (default 10s)\n"
    "  --upstream-timeout DURATION  wait for the upstream's response (default 60s)\n"
    "  --access-log combined|json   one line per request on stdout (default off)\n"
    "  --h2c                     http: also serve cleartext HTTP/2 (prior knowledge)\n"
    "  --tls-cert FILE --tls-key FILE  http: terminate TLS with this PEM chain and key;\n"
    "                            repeatable (pairs by order), chosen by SNI, first = default\n"
    "  --hsts                    with TLS: Strict-Transport-Security, max-age one year\n"
    "  --metrics ADDR            serve Prometheus metrics at http://ADDR/metrics\n"
    "  --print-config            print the equivalent YAML config and exit\n";

namespace {

std::optional<std::string> take_value(const std::vector<std::string>& args, std::size_t& i,
                                      std::vector<std::string>& errors) {
  const std::string& flag = args[i];
  if (i + 1 >= args.size()) {
    errors.push_back(fmt::format("{}: missing value", flag));
    return std::nullopt;
  }
  return args[++i];
}

// Flags of features that have not landed yet: an error, never silently ignored.
bool not_yet(const std::string& flag, std::vector<std::string>& errors) {
  static const std::pair<const char*, const char*> kPending[] = {{"--admin", "the admin API"}};
  for (const auto& [name, feature] : kPending) {
    if (flag == name) {
      errors.push_back(fmt::format("{}: {} is not available in this version yet", flag, feature));
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<QuickMode> parse_quick_mode(const std::vector<std::string>& args,
                                          std::vector<std::string>& errors) {
  QuickMode q;
  config::Config& c = q.config;
  c.source = "<command line>";
  config::ListenerConfig listener;
  listener.name = "proxy";
  listener.backend = "proxy";
  config::BackendConfig backend;
  backend.name = "proxy";
  bool have_listen = false;
  bool hash_key_given = false;
  std::vector<std::string> tls_certs, tls_keys;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    std::string err;
    if (flag == "--tls-cert" || flag == "--tls-key") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      (flag == "--tls-cert" ? tls_certs : tls_keys).push_back(*v);
    } else if (flag == "--hsts") {
      listener.hsts.enabled = true;
    } else if (flag == "--h2c") {
      listener.http2.h2c = true;
    } else if (flag == "--print-config") {
      q.print_config = true;
    } else if (flag == "--listen") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (auto a = config::parse_address(*v, &err)) {
        listener.address = *a;
        have_listen = true;
      } else {
        errors.push_back(fmt::format("--listen {}: {}", *v, err));
      }
    } else if (flag == "--metrics") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      auto a = config::parse_address(*v, &err);
      if (a && a->kind == config::Address::Kind::kInet) {
        c.metrics.enabled = true;
        c.metrics.address = *a;
      } else {
        errors.push_back(fmt::format("--metrics {}: {}", *v, a ? "expected HOST:PORT" : err));
      }
    } else if (flag == "--to") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      std::string_view rest = *v;
      while (true) {
        const std::size_t comma = rest.find(',');
        std::string item(rest.substr(0, comma));
        // ADDR=WEIGHT
        std::uint32_t weight = 1;
        if (const std::size_t eq = item.rfind('='); eq != std::string::npos) {
          const std::string w = item.substr(eq + 1);
          auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), weight);
          if (ec != std::errc() || p != w.data() + w.size() || weight == 0 || weight > 256) {
            errors.push_back(fmt::format("--to {}: weight must be 1..256", item));
          }
          item.resize(eq);
        }
        if (auto a = config::parse_address(item, &err)) {
          config::ServerConfig s;
          s.name = fmt::format("s{}", backend.servers.size() + 1);
          s.address = *a;
          s.weight = weight;
          backend.servers.push_back(std::move(s));
        } else {
          errors.push_back(fmt::format("--to {}: {}", item, err));
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (flag == "--mode") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (*v == "http") {
        listener.mode = config::Mode::kHttp;
      } else if (*v == "tcp") {
        listener.mode = config::Mode::kTcp;
      } else if (*v == "udp") {
        listener.mode = config::Mode::kUdp;
      } else {
        errors.push_back(fmt::format("--mode {}: expected http, tcp or udp", *v));
      }
    } else if (flag == "--send-proxy") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (*v == "v1") {
        backend.send_proxy_protocol = config::ProxyProtocol::kV1;
      } else if (*v == "v2") {
        backend.send_proxy_protocol = config::ProxyProtocol::kV2;
      } else {
        errors.push_back(fmt::format("--send-proxy {}: expected v1 or v2", *v));
      }
    } else if (flag == "--balance") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (auto b = config::parse_balance(*v, &err)) {
        backend.balance = *b;
      } else {
        errors.push_back(fmt::format("--balance {}: {}", *v, err));
      }
    } else if (flag == "--hash-key") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (auto k = config::parse_hash_key(*v, &err)) {
        backend.hash_key = *k;
        hash_key_given = true;
      } else {
        errors.push_back(fmt::format("--hash-key {}: {}", *v, err));
      }
    } else if (flag == "--health-check") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (auto hc = config::parse_health_check_flag(*v, &err)) {
        backend.health_check = *hc;
      } else {
        errors.push_back(fmt::format("--health-check {}: {}", *v, err));
      }
    } else if (flag == "--eject-after") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      std::uint32_t n = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || p != v->data() + v->size() || n == 0) {
        errors.push_back(fmt::format("--eject-after {}: expected a positive count", *v));
      } else {
        backend.outlier.enabled = true;
        backend.outlier.consecutive_failures = n;
        backend.outlier.consecutive_5xx = n;
      }
    } else if (flag == "--workers") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      unsigned n = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (*v == "auto") {
        c.workers = 0;
      } else if (ec != std::errc() || p != v->data() + v->size() || n == 0 || n > 256) {
        errors.push_back(fmt::format("--workers {}: expected auto or 1..256", *v));
      } else {
        c.workers = n;
      }
    } else if (flag == "--busy-poll") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (auto d = config::parse_duration(*v, &err)) {
        c.busy_poll = *d;
      } else {
        errors.push_back(fmt::format("--busy-poll {}: {}", *v, err));
      }
    } else if (flag == "--header-timeout" || flag == "--upstream-timeout") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (auto d = config::parse_duration(*v, &err)) {
        (flag == "--header-timeout" ? listener.header_timeout : backend.response_timeout) = *d;
      } else {
        errors.push_back(fmt::format("{} {}: {}", flag, *v, err));
      }
    } else if (flag == "--access-log") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (*v == "combined" || *v == "json") {
        listener.access_log.enabled = true;
        listener.access_log.format = *v == "json" ? config::AccessLogConfig::Format::kJson
                                                  : config::AccessLogConfig::Format::kCombined;
      } else {
        errors.push_back(fmt::format("--access-log {}: expected combined or json", *v));
      }
    } else if (not_yet(flag, errors)) {
      if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) ++i;
    } else {
      errors.push_back(fmt::format("unknown option '{}' (see lbd proxy --help)", flag));
    }
  }
  if (hash_key_given && !config::uses_hash_key(backend.balance)) {
    errors.push_back("--hash-key: only source_hash, consistent_hash, maglev and ring_hash use it");
  }
  if (!have_listen) errors.push_back("--listen is required");
  if (backend.servers.empty()) errors.push_back("--to is required (at least one server)");
  if (!have_listen) listener.name = "proxy";
  if (tls_certs.size() != tls_keys.size()) {
    errors.push_back(fmt::format("--tls-cert and --tls-key come in pairs; got {} and {}",
                                 tls_certs.size(), tls_keys.size()));
  } else if (!tls_certs.empty()) {
    listener.tls.enabled = true;
    for (std::size_t k = 0; k < tls_certs.size(); ++k) {
      config::TlsCertConfig cert;
      cert.cert = tls_certs[k];
      cert.key = tls_keys[k];
      listener.tls.certificates.push_back(std::move(cert));
    }
  }
  // As in a config file: a TCP session may stay quiet for an hour.
  if (listener.mode == config::Mode::kTcp) listener.idle_timeout = std::chrono::hours(1);
  if (backend.send_proxy_protocol != config::ProxyProtocol::kNone &&
      listener.mode != config::Mode::kTcp) {
    errors.push_back("--send-proxy: only with --mode tcp");
  }
  c.listeners.push_back(std::move(listener));
  c.backends.push_back(std::move(backend));
  if (errors.empty()) {
    std::vector<config::ConfigError> cerrs;
    config::validate(c, cerrs);
    for (const auto& e : cerrs) errors.push_back(e.to_string());
  }
  if (!errors.empty()) return std::nullopt;
  return q;
}

}  // namespace fulcrum::lbd
