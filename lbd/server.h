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
#include <array>
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
  // One configured listener's sockets: a copy per worker (SO_REUSEPORT) in the engine of its
  // mode. Kept across reloads while its Listener::key stays in the config.
  struct OpenListener {
    std::string key;
    config::Mode mode = config::Mode::kHttp;
    std::vector<std::unique_ptr<l7::HttpAcceptor>> http;  // [worker], mode http
    std::vector<std::unique_ptr<l4::TcpAcceptor>> tcp;    // [worker], mode tcp
    std::vector<std::unique_ptr<l4::UdpListener>> udp;    // [worker], mode udp
    l4::TcpListenerCount count;                           // tcp sessions, all workers
    asio::ip::tcp::endpoint bound;  // worker 0's address (with the port when 0 was asked)
    void set_index(std::size_t worker, std::size_t index);
    void start(std::size_t worker);
    void close(std::size_t worker);
  };
  // Binds listener `pos` of `snap` on every worker (not started); null and `error` set when a
  // bind fails (what was opened is closed again).
  std::unique_ptr<OpenListener> open_listener(const l7::Snapshot& snap, std::size_t pos,
                                              std::string& error);
  // Makes `snap` the one new connections and requests use, and moves health checks onto it.
  // `added` listeners start and `removed` ones close on every worker as it takes the snapshot.
  void install(const std::shared_ptr<const l7::Snapshot>& snap,
               std::vector<OpenListener*> added = {}, std::vector<OpenListener*> removed = {});
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
  // Per-worker state of the L4 engines (mode: tcp, mode: udp).
  std::vector<std::unique_ptr<l4::TcpWorker>> tcp_workers_;
  std::vector<std::unique_ptr<l4::UdpWorker>> udp_workers_;
  // The sockets of the current snapshot's listeners, in its order (control thread). Those a
  // reload removed are closed and kept until the workers stop, as pending handlers and TCP
  // sessions still point at them. Destroyed before the workers they run on.
  std::vector<std::unique_ptr<OpenListener>> listeners_;
  std::vector<std::unique_ptr<OpenListener>> closed_listeners_;
  // [worker][mode]: that engine's timeout sweep runs on the worker (started when the first
  // listener of the mode appears: an idle timer would wake the worker for nothing).
  std::vector<std::array<bool, 3>> sweeping_;
  // The bound address of listener `l` (its worker 0 copy), whichever engine runs it.
  asio::ip::tcp::endpoint bound_endpoint(std::size_t l) const;
  void log_listener(const l7::Snapshot& snap, std::size_t l, std::string_view what) const;
  // Control thread: the sweeps worker `worker` must start for `snap` (marked as started).
  std::array<bool, 3> claim_sweeps(std::size_t worker, const l7::Snapshot& snap);
  // Worker thread (or before it runs): starts them.
  void start_sweeps(std::size_t worker, std::array<bool, 3> which);
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
