// lbd/server.h — wires the parts together: startup order, signals, reload, shutdown.
//
// Startup: demo servers (their ports are needed by the snapshot), snapshot, workers with their
// listeners, then the control loop on the calling thread. Shutdown (SIGTERM/SIGINT): listeners
// close, idle connections close, in-flight exchanges finish until shutdown_timeout, exit 0.
// SIGHUP: re-read and validate the config file; on any error the old config stays and the log
// says why.
#pragma once

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "config/model.h"
#include "core/admin_socket.h"
#include "core/worker.h"
#include "health/monitor.h"
#include "l4/tcp_acceptor.h"
#include "l4/tcp_worker.h"
#include "l4/udp_listener.h"
#include "l4/udp_worker.h"
#include "l7/demo_server.h"
#include "l7/http_acceptor.h"
#include "l7/snapshot.h"
#include "l7/worker_context.h"
#include "metrics/registry.h"

namespace fulcrum::lbd {

class Server {
 public:
  explicit Server(config::Config config);
  ~Server();
  // Runs until a stop signal; returns the process exit code (0 clean, 1 runtime failure).
  int run();

 private:
  bool start_demo_servers(config::Config& config);
  // Builds a snapshot of `config` with the admin API's overrides applied; null on errors
  // (logged, and appended to `messages` when given).
  std::shared_ptr<const l7::Snapshot> compile(const config::Config& config,
                                              std::vector<std::string>* messages = nullptr);
  void on_signal(int signo);
  // Re-reads the config file; on any error the running config stays (errors appended).
  bool reload(std::vector<std::string>* errors);
  // Makes `snap` the one new connections and requests use, and moves health checks onto it.
  void install(const std::shared_ptr<const l7::Snapshot>& snap);
  // The admin API (lbd/admin.cc).
  bool start_admin(const config::Config& cfg);
  std::string on_admin(std::string_view line);
  void begin_shutdown();
  // Replaces the health monitor with one for `snap`, keeping the state of servers that stay.
  void monitor(const std::shared_ptr<const l7::Snapshot>& snap);
  void finish_worker(std::size_t i);
  // Starts the Prometheus exporter when the config asks for it; false on failure (logged).
  bool start_metrics(const config::Config& cfg);
  // The gauges of the current state for a scrape (control thread).
  std::vector<metrics::GaugeFamily> gauges() const;

  config::Config initial_;
  asio::io_context control_;
  asio::signal_set signals_;
  asio::steady_timer shutdown_timer_;
  l7::ServerIds server_ids_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<const l7::Snapshot> snapshot_;
  std::unique_ptr<health::Monitor> monitor_;
  std::map<std::string, std::unique_ptr<l7::DemoServer>> demo_;  // by "backend/server"
  // Access-log outputs by path, kept across reloads so a reload does not reopen them.
  std::map<std::string, std::shared_ptr<l7::AccessLogSink>> access_logs_;
  unsigned worker_count_ = 1;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<l7::WorkerContext>> contexts_;
  // [worker][listener]; an entry is null where the listener belongs to another engine.
  std::vector<std::vector<std::unique_ptr<l7::HttpAcceptor>>> acceptors_;
  // mode: tcp (l4/): per-worker state, acceptors [worker][listener], and per-listener session
  // counts shared by the workers (listeners never change on reload, so neither do these).
  std::vector<std::unique_ptr<l4::TcpWorker>> tcp_workers_;
  std::vector<std::vector<std::unique_ptr<l4::TcpAcceptor>>> tcp_acceptors_;
  std::vector<std::unique_ptr<l4::TcpListenerCount>> tcp_counts_;
  // mode: udp (l4/udp_listener.h): per-worker state and listener copies [worker][listener]
  // (null where the listener is not udp). Destroyed before the workers they run on.
  std::vector<std::unique_ptr<l4::UdpWorker>> udp_workers_;
  std::vector<std::vector<std::unique_ptr<l4::UdpListener>>> udp_listeners_;
  std::error_code open_udp(std::size_t worker, std::size_t listener,
                           const asio::ip::tcp::endpoint& ep);
  // The bound address of listener `l` (its worker 0 copy), whichever engine runs it.
  asio::ip::tcp::endpoint bound_endpoint(std::size_t l) const;
  std::atomic<unsigned> running_{0};
  bool stopping_ = false;
  // Counters of every worker; created once the worker count is known. Declared last so that
  // it (and its exporter thread) goes first.
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<AdminSocket> admin_;
  std::chrono::steady_clock::time_point started_at_;
  // Set through the admin API, by "backend/server"; applied by compile() to every snapshot.
  std::map<std::string, std::uint32_t> weight_overrides_;
  std::map<std::string, config::ServerConfig::Admin> admin_overrides_;
};

}  // namespace fulcrum::lbd
