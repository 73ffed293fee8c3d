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
#include "core/worker.h"
#include "health/monitor.h"
#include "l7/demo_server.h"
#include "l7/http_acceptor.h"
#include "l7/snapshot.h"
#include "l7/worker_context.h"

namespace fulcrum::lbd {

class Server {
 public:
  explicit Server(config::Config config);
  ~Server();
  // Runs until a stop signal; returns the process exit code (0 clean, 1 runtime failure).
  int run();

 private:
  bool start_demo_servers(config::Config& config);
  std::shared_ptr<const l7::Snapshot> compile(const config::Config& config);
  void on_signal(int signo);
  void reload();
  void begin_shutdown();
  // Replaces the health monitor with one for `snap`, keeping the state of servers that stay.
  void monitor(const std::shared_ptr<const l7::Snapshot>& snap);
  void finish_worker(std::size_t i);

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
  std::vector<std::vector<std::unique_ptr<l7::HttpAcceptor>>> acceptors_;  // [worker][listener]
  std::atomic<unsigned> running_{0};
  bool stopping_ = false;
};

}  // namespace fulcrum::lbd
