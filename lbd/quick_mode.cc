#include "lbd/quick_mode.h"

#include <fmt/format.h>

#include <charconv>

namespace fulcrum::lbd {

const char* const kQuickModeUsage =
    "usage: lbd proxy --listen ADDR --to ADDR[,ADDR...] [--to ADDR ...] [options]\n"
    "\n"
    "Runs a one-listener proxy without a config file. ADDR is host:port, [v6]:port.\n"
    "  --listen ADDR             address to accept clients on (required)\n"
    "  --to ADDR[,ADDR...]       upstream servers (required, repeatable)\n"
    "  --mode http               listener mode (tcp and udp are not available yet)\n"
    "  --balance round_robin     balancing algorithm\n"
    "  --workers N|auto          worker threads (default auto: one per core)\n"
    "  --header-timeout DURATION client request-head timeout (default 10s)\n"
    "  --upstream-timeout DURATION  wait for the upstream's response (default 60s)\n"
    "  --access-log combined|json   one line per request on stdout (default off)\n"
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
  static const std::pair<const char*, const char*> kPending[] = {
      {"--tls-cert", "TLS termination"}, {"--tls-key", "TLS termination"},
      {"--metrics", "the Prometheus exporter"}, {"--admin", "the admin API"},
{"--hash-key", "hash balancing"},
      {"--health-check", "health checks"}, {"--eject-after", "passive health checks"},
      {"--hsts", "TLS termination"}, {"--h2c", "HTTP/2"}};
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

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    std::string err;
    if (flag == "--print-config") {
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
    } else if (flag == "--to") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      std::string_view rest = *v;
      while (true) {
        const std::size_t comma = rest.find(',');
        const std::string item(rest.substr(0, comma));
        if (auto a = config::parse_address(item, &err)) {
          config::ServerConfig s;
          s.name = fmt::format("s{}", backend.servers.size() + 1);
          s.address = *a;
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
    } else if (flag == "--balance") {
      auto v = take_value(args, i, errors);
      if (!v) continue;
      if (*v == "round_robin") {
        backend.balance = config::BalanceAlgorithm::kRoundRobin;
      } else {
        errors.push_back(fmt::format("--balance {}: supported algorithms: round_robin", *v));
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
  if (!have_listen) errors.push_back("--listen is required");
  if (backend.servers.empty()) errors.push_back("--to is required (at least one server)");
  if (!have_listen) listener.name = "proxy";
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
