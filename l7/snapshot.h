// l7/snapshot.h — the immutable runtime form of a config, as the workers use it.
//
// Built on the control thread once per (re)load, then shared read-only by every worker through
// std::shared_ptr<const Snapshot>. A connection keeps the snapshot it started with, so a reload
// never changes the rules under a request in flight.
#pragma once

#include <asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "balance/server.h"
#include "balance/sticky_table.h"
#include "config/loader.h"
#include "config/model.h"
#include "l7/access_log.h"
#include "l7/http1/parser.h"
#include "l7/router/router.h"
#include "metrics/registry.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace fulcrum::l7 {

using Millis = std::chrono::milliseconds;

struct Backend {
  std::string name;
  std::vector<std::unique_ptr<balance::Server>> servers;
  std::unique_ptr<balance::Balancer> balancer;
  Millis connect_timeout{};
  Millis response_timeout{};
  Millis idle_timeout{};
  std::uint32_t max_idle = 0;
  bool hashes = false;        // the balancer wants PickContext::hash (source/consistent hashing)
  config::HashKey hash_key;   // what to hash, when it does
  std::string sticky_cookie;  // empty: no sticky sessions
  metrics::Block<metrics::BackendSlot>* stats = nullptr;  // never null in a built snapshot
  // Sticky mode learn: the table of which server set each session cookie value (null: insert).
  std::shared_ptr<balance::StickyTable> sticky_table;
  // Requests waiting for a slot when every usable server is at its max_connections
  // (l7/http_session.cc). `queued` counts them across workers; 0 size: no queue.
  std::uint32_t queue_size = 0;
  Millis queue_timeout{};
  mutable std::atomic<std::uint32_t> queued{0};
  // mode: tcp (l4/): the PROXY header sent to servers (0 none, 1 v1, 2 v2), and how many other
  // servers a session tries after a refused or timed-out connect.
  std::uint8_t send_proxy_protocol = 0;
  std::uint32_t retries = 2;
  bool h2 = false;  // protocol: h2 (l7/http2/h2_upstream.h)
  // tls: connections to the servers are TLS from this client context; null for plain backends.
  std::shared_ptr<const tls::ClientContext> tls;
  // For http health checks, which speak HTTP/1.1: `tls` itself, except for protocol: h2
  // backends, whose `tls` offers only h2 by ALPN.
  std::shared_ptr<const tls::ClientContext> check_tls;
  // With tls: each server's configured host (by Server::id), the name sent as SNI and verified
  // unless the tls block names one.
  std::vector<std::pair<std::uint32_t, std::string>> tls_hosts;
  const std::string& tls_host(std::uint32_t id) const {
    static const std::string kNone;
    for (const auto& [sid, host] : tls_hosts) {
      if (sid == id) return host;
    }
    return kNone;
  }

  // The server with this Server::id, or null (sticky tables remember ids, not pointers, so
  // that they survive reloads).
  const balance::Server* server_by_id(std::uint32_t id) const {
    for (const auto& s : servers) {
      if (s->id == id) return s.get();
    }
    return nullptr;
  }
};

struct Listener {
  std::string name;
  // Which socket the listener is, across reloads: mode, configured address and, for listeners
  // that share both (port 0 in tests), the occurrence. A reload keeps the sockets of the keys
  // that stay (lbd/server.cc) and sessions follow their listener by it, not by position.
  std::string key;
  metrics::Block<metrics::ListenerSlot>* stats = nullptr;  // never null in a built snapshot
  config::Mode mode = config::Mode::kHttp;
  asio::ip::tcp::endpoint endpoint;
  const Backend* backend = nullptr;  // for requests no route takes; null: 404
  std::unique_ptr<Router> router;    // null when the listener has no routes
  http1::Limits limits;
  Millis header_timeout{};
  Millis idle_timeout{};
  std::uint64_t max_body = 0;  // 0 = unlimited
  Millis request_timeout{};    // 0 = none
  CidrSet trusted_proxies;
  std::map<int, std::string> error_bodies;
  std::shared_ptr<AccessLogSink> access_log;  // null: off
  AccessLogFormat access_log_format = AccessLogFormat::kCombined;
  // mode: tcp (l4/tcp_session.cc). SNI routing: exact names (lower case), then wildcard
  // suffixes (".example.com", longest first); `backend` takes the rest. Off when no sni_routes.
  bool sni_routing = false;
  std::map<std::string, const Backend*, std::less<>> sni_exact;
  std::vector<std::pair<std::string, const Backend*>> sni_wildcards;
  std::uint32_t max_connections = 0;  // 0 = unlimited
  CidrSet proxy_protocol_from;        // empty: no PROXY header expected
  // TLS termination (mode: http): null for plain listeners.
  std::shared_ptr<const tls::ServerContext> tls;
  Millis handshake_timeout{};
  std::string client_subject_header;  // empty: none
  std::string hsts_field;             // "Strict-Transport-Security: ...\r\n", or empty
  config::Http2Config http2;          // l7/http2/: settings and whether h2c is on
};

struct Snapshot {
  std::uint64_t generation = 0;
  std::shared_ptr<const config::Config> config;
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<Listener> listeners;
  std::uint32_t server_id_limit = 0;  // every Server::id is below this
  // Counters of each server, by Server::id (null for ids of servers not in this snapshot).
  std::vector<metrics::Block<metrics::ServerSlot>*> server_stats;

  // The listener with this Listener::key, or null when this snapshot has none.
  const Listener* listener_by_key(std::string_view key) const {
    for (const auto& l : listeners) {
      if (l.key == key) return &l;
    }
    return nullptr;
  }
};

// Gives a server the same id in every snapshot as long as its backend, name and address stay,
// so pooled upstream connections survive a reload. Control thread only.
class ServerIds {
 public:
  std::uint32_t get(const std::string& backend, const std::string& server,
                    const asio::ip::tcp::endpoint& ep);
  std::uint32_t limit() const { return next_; }

  // The learned-sessions table of a backend, kept from one snapshot to the next while the
  // backend keeps its name, size and ttl, so a reload does not forget every session.
  std::shared_ptr<balance::StickyTable> sticky_table(const std::string& backend,
                                                     std::uint32_t entries,
                                                     std::uint32_t ttl_seconds);

  // Where the snapshot's counters live (the daemon's registry, sized for its workers). Without
  // one, an own registry with room for the most workers a config allows.
  void set_registry(metrics::Registry* r) { registry_ = r; }
  metrics::Registry& registry();

 private:
  std::map<std::string, std::shared_ptr<balance::StickyTable>> sticky_tables_;
  metrics::Registry* registry_ = nullptr;
  std::unique_ptr<metrics::Registry> own_registry_;
  std::map<std::string, std::uint32_t> ids_;
  std::uint32_t next_ = 0;
};

// Opens (or returns the already open) access-log output for a path; null and `error` set on
// failure.
using OpenAccessLog =
    std::function<std::shared_ptr<AccessLogSink>(const std::string& path, std::string& error)>;

// Compiles a validated config. Runtime-only failures (a server name that does not resolve, an
// access log that cannot be opened) are appended to `errors` with the config mark; the result
// is null then.
std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> config,
                                               ServerIds& ids, std::uint64_t generation,
                                               const OpenAccessLog& open_log,
                                               std::vector<config::ConfigError>& errors);

}  // namespace fulcrum::l7
