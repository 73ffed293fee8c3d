#include "l7/snapshot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/listen.h"

namespace fulcrum::l7 {

std::uint32_t ServerIds::get(const std::string& backend, const std::string& server,
                             const asio::ip::tcp::endpoint& ep) {
  std::string key =
      fmt::format("{}/{}@{}:{}", backend, server, ep.address().to_string(), ep.port());
  auto [it, inserted] = ids_.try_emplace(std::move(key), next_);
  if (inserted) ++next_;
  return it->second;
}

std::shared_ptr<balance::StickyTable> ServerIds::sticky_table(const std::string& backend,
                                                              std::uint32_t entries,
                                                              std::uint32_t ttl_seconds) {
  auto& t = sticky_tables_[backend];
  if (!t || t->capacity() != balance::StickyTable::capacity_for(entries) ||
      t->ttl_seconds() != ttl_seconds) {
    t = std::make_shared<balance::StickyTable>(entries, ttl_seconds);
  }
  return t;
}

metrics::Registry& ServerIds::registry() {
  if (registry_ != nullptr) return *registry_;
  if (!own_registry_) own_registry_ = std::make_unique<metrics::Registry>(256);
  return *own_registry_;
}

namespace {

std::unique_ptr<balance::Balancer> make_balancer(const config::BackendConfig& bc,
                                                 const std::vector<balance::Server*>& servers) {
  using config::BalanceAlgorithm;
  balance::BalancerOptions options;
  balance::Algorithm algorithm = balance::Algorithm::kRoundRobin;
  switch (bc.balance) {
    case BalanceAlgorithm::kRoundRobin: {
      // Like HAProxy's roundrobin, unequal weights are honoured (smoothly, without bursts).
      const bool weighted = std::any_of(bc.servers.begin(), bc.servers.end(), [&](const auto& s) {
        return s.weight != bc.servers[0].weight;
      });
      algorithm =
          weighted ? balance::Algorithm::kWeightedRoundRobin : balance::Algorithm::kRoundRobin;
      break;
    }
    case BalanceAlgorithm::kWeightedRoundRobin:
      algorithm = balance::Algorithm::kWeightedRoundRobin;
      break;
    case BalanceAlgorithm::kLeastConnections:
      algorithm = balance::Algorithm::kLeastConnections;
      break;
    case BalanceAlgorithm::kRandom:
      algorithm = balance::Algorithm::kRandom;
      break;
    case BalanceAlgorithm::kP2cEwma:
      algorithm = balance::Algorithm::kP2cEwma;
      break;
    case BalanceAlgorithm::kSourceHash:
      algorithm = balance::Algorithm::kSourceHash;
      break;
    case BalanceAlgorithm::kMaglev:
      algorithm = balance::Algorithm::kConsistentHash;
      options.hash_kind = balance::ConsistentHashKind::kMaglev;
      break;
    case BalanceAlgorithm::kRingHash:
      algorithm = balance::Algorithm::kConsistentHash;
      options.hash_kind = balance::ConsistentHashKind::kRingHash;
      options.ring_load_epsilon = bc.hash_balance_factor - 1.0;
      break;
    case BalanceAlgorithm::kFirst:
      algorithm = balance::Algorithm::kFirst;
      break;
  }
  return balance::make_balancer(algorithm, servers, options);
}

bool hashes(config::BalanceAlgorithm a) {
  return a == config::BalanceAlgorithm::kSourceHash || a == config::BalanceAlgorithm::kMaglev ||
         a == config::BalanceAlgorithm::kRingHash;
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> config,
                                               ServerIds& ids, std::uint64_t generation,
                                               const OpenAccessLog& open_log,
                                               std::vector<config::ConfigError>& errors) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->config = config;
  const std::size_t errors_before = errors.size();

  std::map<std::string, const Backend*> by_name;
  for (std::size_t b = 0; b < config->backends.size(); ++b) {
    const auto& bc = config->backends[b];
    auto backend = std::make_unique<Backend>();
    backend->name = bc.name;
    backend->stats = ids.registry().backend(bc.name);
    backend->connect_timeout = bc.connect_timeout;
    backend->response_timeout = bc.response_timeout;
    backend->idle_timeout = bc.idle_timeout;
    backend->max_idle = bc.max_idle;
    backend->hashes = hashes(bc.balance);
    backend->hash_key = bc.hash_key;
    backend->send_proxy_protocol = static_cast<std::uint8_t>(bc.send_proxy_protocol);
    backend->retries = bc.retries;
    backend->h2 = bc.protocol == config::UpstreamProtocol::kH2;
    if (bc.sticky.enabled) backend->sticky_cookie = bc.sticky.cookie;
    const bool learn = bc.sticky.enabled && bc.sticky.mode == config::StickyConfig::Mode::kLearn;
    if (learn) {
      const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(bc.sticky.ttl).count();
      backend->sticky_table = ids.sticky_table(
          bc.name, bc.sticky.table_size,
          static_cast<std::uint32_t>(std::clamp<std::int64_t>(ttl, 1, UINT32_MAX / 2)));
    }
    backend->queue_size = bc.queue.size;
    backend->queue_timeout = std::chrono::duration_cast<Millis>(bc.queue.timeout);
    std::vector<balance::Server*> raw;
    for (std::size_t s = 0; s < bc.servers.size(); ++s) {
      const auto& sc = bc.servers[s];
      auto server = std::make_unique<balance::Server>();
      server->name = sc.name;
      server->backend = bc.name;
      server->weight = sc.weight;
      server->backup = sc.backup;
      server->sticky_token = fmt::format("{:016x}", balance::hash_of(bc.name + "/" + sc.name));
      if (bc.sticky.enabled && !learn) {
        server->sticky_set_cookie = fmt::format("Set-Cookie: {}={}; Path=/; HttpOnly\r\n",
                                                bc.sticky.cookie, server->sticky_token);
      }
      server->max_connections = sc.max_connections;
      server->slow_start = sc.slow_start;
      server->admin.store(static_cast<std::uint8_t>(
          sc.admin == config::ServerConfig::Admin::kDrain      ? balance::AdminState::kDrain
          : sc.admin == config::ServerConfig::Admin::kDisabled ? balance::AdminState::kDisabled
                                                               : balance::AdminState::kEnabled));
      if (std::error_code ec = resolve_tcp(sc.address.host, sc.address.port, server->endpoint)) {
        errors.push_back({sc.mark, fmt::format("backends[{}].servers[{}].address", b, s),
                          fmt::format("cannot resolve '{}': {}", sc.address.host, ec.message())});
        continue;
      }
      server->id = ids.get(bc.name, sc.name, server->endpoint);
      if (bc.tls.enabled) backend->tls_hosts.emplace_back(server->id, sc.address.host);
      raw.push_back(server.get());
      backend->servers.push_back(std::move(server));
    }
    if (bc.tls.enabled) {
      // Read now, on every (re)load, as listener certificates are: a failed reload keeps the old.
      const std::vector<std::string> alpn = {backend->h2 ? "h2" : "http/1.1"};
      const std::string path = fmt::format("backends[{}].tls", b);
      backend->tls = tls::ClientContext::build(bc.tls, path, alpn, errors);
      backend->check_tls = backend->tls;
      if (backend->h2 && backend->tls) {
        backend->check_tls = tls::ClientContext::build(bc.tls, path, {"http/1.1"}, errors);
      }
    }
    backend->balancer = make_balancer(bc, raw);
    by_name[bc.name] = backend.get();
    snap->backends.push_back(std::move(backend));
  }

  std::map<std::string, int> seen_sockets;
  for (std::size_t i = 0; i < config->listeners.size(); ++i) {
    const auto& lc = config->listeners[i];
    Listener l;
    l.name = lc.name;
    l.mode = lc.mode;
    const std::string socket =
        fmt::format("{} {}", config::to_string(lc.mode), config::format_address(lc.address));
    l.key = fmt::format("{}#{}", socket, seen_sockets[socket]++);
    if (std::error_code ec = resolve_tcp(lc.address.host, lc.address.port, l.endpoint)) {
      errors.push_back({lc.mark, fmt::format("listeners[{}].address", i),
                        fmt::format("cannot resolve '{}': {}", lc.address.host, ec.message())});
      continue;
    }
    auto it = by_name.find(lc.backend);
    l.backend = it == by_name.end() ? nullptr : it->second;
    if (!lc.routes.empty()) {
      std::vector<std::string> route_errors;
      l.router = Router::compile(
          lc.routes,
          [&](const std::string& name) -> const Backend* {
            auto b = by_name.find(name);
            return b == by_name.end() ? nullptr : b->second;
          },
          fmt::format("listeners[{}].routes", i), route_errors);
      for (auto& e : route_errors) errors.push_back({lc.mark, {}, std::move(e)});
    }
    l.limits.max_head = lc.max_header_size;
    l.limits.max_request_line =
        std::min<std::size_t>(l.limits.max_request_line, lc.max_header_size);
    l.header_timeout = lc.header_timeout;
    l.http2 = lc.http2;
    l.idle_timeout = lc.idle_timeout;
    l.max_body = lc.max_body;
    l.request_timeout = lc.request_timeout;
    if (lc.access_log.enabled) {
      std::string error;
      l.access_log = open_log(lc.access_log.path, error);
      if (!l.access_log) {
        errors.push_back({lc.mark, fmt::format("listeners[{}].access_log.path", i),
                          fmt::format("cannot open '{}': {}", lc.access_log.path, error)});
      }
      l.access_log_format = lc.access_log.format == config::AccessLogConfig::Format::kJson
                                ? AccessLogFormat::kJson
                                : AccessLogFormat::kCombined;
    }
    l.error_bodies = lc.error_bodies;
    for (std::size_t t = 0; t < lc.trusted_proxies.size(); ++t) {
      if (!l.trusted_proxies.add(lc.trusted_proxies[t])) {
        errors.push_back(
            {lc.mark, fmt::format("listeners[{}].trusted_proxies[{}]", i, t),
             fmt::format("expected an address or CIDR, got '{}'", lc.trusted_proxies[t])});
      }
    }
    l.max_connections = lc.max_connections;
    for (std::size_t t = 0; t < lc.proxy_protocol_from.size(); ++t) {
      if (!l.proxy_protocol_from.add(lc.proxy_protocol_from[t])) {
        errors.push_back(
            {lc.mark, fmt::format("listeners[{}].proxy_protocol_from[{}]", i, t),
             fmt::format("expected an address or CIDR, got '{}'", lc.proxy_protocol_from[t])});
      }
    }
    for (const auto& route : lc.sni_routes) {
      auto b = by_name.find(route.backend);
      if (b == by_name.end()) continue;  // validate() has reported it
      l.sni_routing = true;
      for (std::string name : route.sni) {
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (name.starts_with("*.")) {
          l.sni_wildcards.emplace_back(name.substr(1), b->second);
        } else {
          l.sni_exact.emplace(std::move(name), b->second);
        }
      }
    }
    std::stable_sort(l.sni_wildcards.begin(), l.sni_wildcards.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    if (lc.tls.enabled) {
      // Certificates and keys are read now, on every (re)load: a failed reload keeps the old
      // snapshot and so the old certificates.
      l.tls = tls::ServerContext::build(lc.tls, lc.name, fmt::format("listeners[{}].tls", i),
                                        /*offer_h2=*/true, errors);
      l.handshake_timeout = std::chrono::duration_cast<Millis>(lc.tls.handshake_timeout);
      l.client_subject_header = lc.tls.client_subject_header;
      if (lc.hsts.enabled) {
        l.hsts_field =
            fmt::format("Strict-Transport-Security: max-age={}{}{}\r\n",
                        std::chrono::duration_cast<std::chrono::seconds>(lc.hsts.max_age).count(),
                        lc.hsts.include_subdomains ? "; includeSubDomains" : "",
                        lc.hsts.preload ? "; preload" : "");
      }
    }
    snap->listeners.push_back(std::move(l));
  }
  snap->server_id_limit = ids.limit();
  // Counters: blocks by name and id, so they carry on across reloads; only the config's own
  // names are exported.
  metrics::Registry& registry = ids.registry();
  snap->server_stats.assign(snap->server_id_limit, nullptr);
  std::vector<std::string> listener_names, backend_names;
  std::vector<std::uint32_t> server_ids;
  std::vector<std::pair<std::string, std::string>> route_names;
  for (auto& l : snap->listeners) {
    l.stats = registry.listener(l.name);
    listener_names.push_back(l.name);
    if (!l.router) continue;
    for (std::size_t r = 0; r < l.router->size(); ++r) {
      Route& route = l.router->at(r);
      route.stats = registry.route(l.name, route.name);
      route_names.emplace_back(l.name, route.name);
    }
  }
  for (const auto& b : snap->backends) {
    backend_names.push_back(b->name);
    for (const auto& s : b->servers) {
      snap->server_stats[s->id] = registry.server(s->id, b->name, s->name);
      server_ids.push_back(s->id);
    }
  }
  if (errors.size() == errors_before) {
    registry.set_current(std::move(listener_names), std::move(backend_names), std::move(server_ids),
                         std::move(route_names));
  }
  if (errors.size() != errors_before) return nullptr;
  return snap;
}

}  // namespace fulcrum::l7
