// lbd — the Fulcrum load-balancer daemon.
//
// Exit codes: 0 ok, 1 runtime failure (e.g. a listener cannot bind), 2 bad config or usage.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "config/loader.h"
#include "core/version.h"
#include "lbd/quick_mode.h"
#include "lbd/server.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;

const char* const kUsage =
    "usage: lbd --config FILE        run the daemon on FILE (short: -c FILE)\n"
    "       lbd --check FILE         validate FILE: exit 0, or print every error and exit 2\n"
    "       lbd proxy --listen ADDR --to ADDR[,ADDR...] [options]\n"
    "                                quick mode without a config file (lbd proxy --help)\n"
    "       lbd --version | --help\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.\n"
    "Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the config file.\n";

int usage_error(const std::string& msg) {
  fmt::print(stderr, "lbd: {}\n{}", msg, kUsage);
  return kExitUsage;
}

int print_errors(const std::vector<fulcrum::config::ConfigError>& errors) {
  for (const auto& e : errors) fmt::print(stderr, "{}\n", e.to_string());
  fmt::print(stderr, "{} error(s)\n", errors.size());
  return kExitUsage;
}

int run_proxy(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      fmt::print("{}", fulcrum::lbd::kQuickModeUsage);
      return kExitOk;
    }
  }
  std::vector<std::string> errors;
  auto q = fulcrum::lbd::parse_quick_mode(args, errors);
  if (!q) {
    for (const auto& e : errors) fmt::print(stderr, "lbd proxy: {}\n", e);
    fmt::print(stderr, "\n{}", fulcrum::lbd::kQuickModeUsage);
    return kExitUsage;
  }
  if (q->print_config) {
    fmt::print("{}", fulcrum::config::to_yaml(q->config));
    return kExitOk;
  }
  fulcrum::lbd::Server server(std::move(q->config));
  return server.run();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("nothing to do");
  if (args[0] == "proxy") return run_proxy({args.begin() + 1, args.end()});

  std::string config_path;
  bool check = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      fmt::print("lbd {} — Fulcrum load balancer\n\n{}", fulcrum::kVersion, kUsage);
      return kExitOk;
    }
    if (a == "--version" || a == "-V") {
      fmt::print("lbd {}\n", fulcrum::kVersion);
      return kExitOk;
    }
    if (a == "--config" || a == "-c" || a == "--check") {
      if (i + 1 >= args.size()) return usage_error(a + " needs a FILE");
      if (!config_path.empty()) return usage_error("only one config file");
      check = check || a == "--check";
      config_path = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else {
      return usage_error("unknown option '" + a + "'");
    }
  }
  if (config_path.empty()) return usage_error("no config file (use --config FILE)");

  fulcrum::config::LoadResult r = fulcrum::config::load_file(config_path);
  if (!r.config) return print_errors(r.errors);
  if (check) {
    // Certificates and keys are read at startup and reload; --check reads them too, so a key
    // that does not match its certificate is found before a reload is tried.
    std::vector<fulcrum::config::ConfigError> tls_errors;
    for (std::size_t i = 0; i < r.config->listeners.size(); ++i) {
      const auto& l = r.config->listeners[i];
      if (!l.tls.enabled) continue;
      fulcrum::tls::ServerContext::build(l.tls, l.name, fmt::format("listeners[{}].tls", i), false,
                                         tls_errors);
    }
    for (std::size_t i = 0; i < r.config->backends.size(); ++i) {
      const auto& b = r.config->backends[i];
      if (!b.tls.enabled) continue;
      const bool h2 = b.protocol == fulcrum::config::UpstreamProtocol::kH2;
      fulcrum::tls::ClientContext::build(b.tls, fmt::format("backends[{}].tls", i),
                                         {h2 ? "h2" : "http/1.1"}, tls_errors);
    }
    if (!tls_errors.empty()) return print_errors(tls_errors);
    fmt::print("{}: ok\n", config_path);
    return kExitOk;
  }
  fulcrum::lbd::Server server(std::move(*r.config));
  return server.run();
}
