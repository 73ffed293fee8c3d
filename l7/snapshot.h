// l7/snapshot.h — the immutable runtime form of a config, as the workers use it.
//
// Built on the control thread once per (re)load, then shared read-only by every worker through
// std::shared_ptr<const Snapshot>. A connection keeps the snapshot it started with, so a reload
// never changes the rules under a request in flight.
#pragma once

#include <asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "balance/server.h"
#include "config/loader.h"
#include "config/model.h"
#include "l7/access_log.h"
#include "l7/http1/parser.h"
#include "l7/router/router.h"

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
};

struct Listener {
  std::string name;
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
};

struct Snapshot {
  std::uint64_t generation = 0;
  std::shared_ptr<const config::Config> config;
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<Listener> listeners;
  std::uint32_t server_id_limit = 0;  // every Server::id is below this
};

// Gives a server the same id in every snapshot as long as its backend, name and address stay,
// so pooled upstream connections survive a reload. Control thread only.
class ServerIds {
 public:
  std::uint32_t get(const std::string& backend, const std::string& server,
                    const asio::ip::tcp::endpoint& ep);
  std::uint32_t limit() const { return next_; }

 private:
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
