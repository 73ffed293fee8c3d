// health/monitor.h — the face of health checking: one monitor per config snapshot.
//
// Runs on the control thread's io_context, never on a worker. Active checks (TCP connect, or an
// HTTP request with expected status and body) move a server down after `fall` failures and up
// after `rise` successes; passive outlier detection polls the failure counts the workers keep
// on each Server and ejects a server for a time that doubles with each ejection, never more than
// max_ejection_percent of a backend. The only thing the data plane reads is Server::up,
// written here as (active check up) && (not ejected).
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "balance/server.h"
#include "config/health.h"
#include "tls/client_context.h"

namespace fulcrum::health {

using Clock = std::chrono::steady_clock;

// What is known about one server; carried into the next snapshot's monitor by Server::id, so a
// reload keeps the health of servers that stay.
struct ServerHealth {
  bool active_up = true;  // optimistic start: traffic flows before the first check completes
  std::uint32_t successes = 0;
  std::uint32_t failures = 0;
  bool ejected = false;
  Clock::time_point ejected_until{};
  std::uint32_t ejections = 0;
  std::string last_result = "not checked yet";
  std::chrono::microseconds last_duration{0};
  std::uint64_t checks = 0;
  std::uint64_t transitions = 0;  // up/down changes, ejections and returns
  // What apply() last told the workers, and when the server last became usable again after
  // being out (the start of its slow_start ramp; default: never).
  bool applied_up = true;
  Clock::time_point ramp_since{};
};

struct BackendToCheck {
  std::string name;
  std::vector<balance::Server*> servers;
  config::HealthCheckConfig check;
  config::OutlierConfig outlier;
  // Backends with tls: http checks do the handshake (verified as requests are), then the
  // request (as HAProxy's check-ssl); tcp checks stay plain connects. `tls_hosts`: each
  // server's configured host, parallel to `servers`.
  std::shared_ptr<const tls::ClientContext> tls;
  std::vector<std::string> tls_hosts;
};

class Monitor {
 public:
  Monitor(asio::io_context& io, std::vector<BackendToCheck> backends,
          const std::map<std::uint32_t, ServerHealth>& previous);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void start();
  // Stops every timer and probe; pending handlers see the monitor is gone and do nothing.
  void stop();
  // The current state of every server, by Server::id (for the next monitor and the admin API).
  std::map<std::uint32_t, ServerHealth> state() const;
  // An operator put the server back into service (admin API `enable`): its slow_start ramp
  // starts now, as after a recovery.
  void begin_ramp(std::uint32_t server_id);

  struct Target;  // one checked server (monitor.cc)
  struct Group;   // one backend

 private:
  void schedule(Target& t, bool first);
  void run_check(Target& t);
  void on_result(Target& t, bool ok, std::string result, std::chrono::microseconds took);
  void poll_outliers();
  void apply(Target& t);

  asio::io_context& io_;
  std::vector<std::unique_ptr<Group>> groups_;
  asio::steady_timer outlier_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::uint64_t rng_ = 0x2545F4914F6CDD1Dull;
};

}  // namespace fulcrum::health
