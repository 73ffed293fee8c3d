#include "lbd/server.h"

#include <fmt/format.h>
#include <signal.h>

#include <asio/post.hpp>
#include <future>
#include <thread>

#include "config/loader.h"
#include "core/listen.h"
#include "core/log.h"
#include "l7/http_session.h"

namespace fulcrum::lbd {

namespace {

log::Level to_log_level(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::kTrace:
      return log::Level::kTrace;
    case config::LogLevel::kDebug:
      return log::Level::kDebug;
    case config::LogLevel::kInfo:
      return log::Level::kInfo;
    case config::LogLevel::kWarn:
      return log::Level::kWarn;
    case config::LogLevel::kError:
      return log::Level::kError;
  }
  return log::Level::kInfo;
}

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

}  // namespace

Server::Server(config::Config config)
    : initial_(std::move(config)), signals_(control_), shutdown_timer_(control_) {}

Server::~Server() {
  listeners_.clear();
  closed_listeners_.clear();
  udp_workers_.clear();
  tcp_workers_.clear();
  contexts_.clear();
  workers_.clear();
}

bool Server::start_demo_servers(config::Config& config) {
  for (auto& backend : config.backends) {
    for (auto& server : backend.servers) {
      if (server.kind != config::ServerKind::kDemo) continue;
      const std::string key = backend.name + "/" + server.name;
      auto it = demo_.find(key);
      if (it == demo_.end()) {
        asio::ip::tcp::endpoint ep;
        const std::string host = server.address.host.empty() ? "127.0.0.1" : server.address.host;
        std::error_code ec = resolve_tcp(host, server.address.port, ep);
        auto demo = std::make_unique<l7::DemoServer>(control_, server.name);
        if (!ec) ec = demo->open(ep);
        if (ec) {
          LOG_ERROR("{}:{}: demo server {}: cannot listen on {}: {}", server.mark.file,
                    server.mark.line, key, config::format_address(server.address), ec.message());
          return false;
        }
        LOG_INFO("demo server {} on {}", key, endpoint_text(demo->local_endpoint()));
        it = demo_.emplace(key, std::move(demo)).first;
      }
      const auto ep = it->second->local_endpoint();
      server.address.kind = config::Address::Kind::kInet;
      server.address.host = ep.address().to_string();
      server.address.port = ep.port();
    }
  }
  return true;
}

std::shared_ptr<const l7::Snapshot> Server::compile(const config::Config& given,
                                                    std::vector<std::string>* messages) {
  // Changes made through the admin API (weights, admin states) outlive reloads while the
  // server they name stays.
  config::Config config = given;
  for (auto& b : config.backends) {
    for (auto& sc : b.servers) {
      const std::string key = b.name + "/" + sc.name;
      if (auto w = weight_overrides_.find(key); w != weight_overrides_.end()) sc.weight = w->second;
      if (auto a = admin_overrides_.find(key); a != admin_overrides_.end()) sc.admin = a->second;
    }
  }
  std::vector<config::ConfigError> errors;
  auto open_log = [this](const std::string& path, std::string& error) {
    auto& sink = access_logs_[path];
    if (!sink) sink = l7::AccessLogSink::open(path, worker_count_, error);
    return sink;
  };
  auto snap = l7::build_snapshot(std::make_shared<const config::Config>(config), server_ids_,
                                 ++generation_, open_log, errors);
  for (const auto& e : errors) {
    LOG_ERROR("{}", e.to_string());
    if (messages) messages->push_back(e.to_string());
  }
  return snap;
}

int Server::run() {
  log::set_level(to_log_level(initial_.log_level));
  ::signal(SIGPIPE, SIG_IGN);
  config::Config cfg = initial_;
  const unsigned n =
      cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  worker_count_ = n;
  registry_ = std::make_unique<metrics::Registry>(n);
  server_ids_.set_registry(registry_.get());
  if (!start_demo_servers(cfg)) return 1;
  snapshot_ = compile(cfg);
  if (!snapshot_) return 1;
  monitor(snapshot_);

  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i));
    workers_.back()->set_busy_poll(cfg.busy_poll);
    contexts_.push_back(std::make_unique<l7::WorkerContext>(*workers_.back()));
    contexts_.back()->snapshot = snapshot_;
    tcp_workers_.push_back(std::make_unique<l4::TcpWorker>(*workers_.back()));
    tcp_workers_.back()->snapshot = snapshot_;
    udp_workers_.push_back(std::make_unique<l4::UdpWorker>(*workers_.back()));
    udp_workers_.back()->snapshot = snapshot_;
  }
  sweeping_.assign(n, {false, false, false});
  for (std::size_t l = 0; l < snapshot_->listeners.size(); ++l) {
    std::string error;
    auto ol = open_listener(*snapshot_, l, error);
    if (!ol) {
      LOG_ERROR("{}", error);
      return 1;
    }
    listeners_.push_back(std::move(ol));
    log_listener(*snapshot_, l, "listener");
  }

  if (!start_metrics(cfg)) return 1;
  if (!start_admin(cfg)) return 1;
  started_at_ = std::chrono::steady_clock::now();
  registry_->count_reload(true, balance::hash_of(config::to_yaml(cfg)));

  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGHUP);
  std::function<void(const std::error_code&, int)> on_sig = [&](const std::error_code& ec, int s) {
    if (ec) return;
    on_signal(s);
    if (!stopping_) signals_.async_wait(on_sig);
  };
  signals_.async_wait(on_sig);

  // A stopped worker tells the control loop, which ends when all have stopped.
  running_ = n;
  for (auto& w : workers_) {
    for (auto& ol : listeners_) ol->start(w->index());
    start_sweeps(w->index(), claim_sweeps(w->index(), *snapshot_));
    w->start([this] {
      if (running_.fetch_sub(1) == 1) asio::post(control_, [this] { control_.stop(); });
    });
  }
  LOG_INFO("lbd started: {} worker(s), config {}", n, cfg.source);

  control_.run();
  registry_->close();
  if (admin_) admin_->close();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->join();
    finish_worker(i);
  }
  monitor_.reset();
  demo_.clear();
  snapshot_.reset();
  for (auto& ctx : contexts_) ctx->snapshot.reset();
  access_logs_.clear();  // the writers flush what is left as they stop
  LOG_INFO("lbd stopped");
  return 0;
}

void Server::on_signal(int signo) {
  if (signo == SIGHUP) {
    LOG_INFO("SIGHUP received");
    reload(nullptr);
    return;
  }
  if (stopping_) return;
  LOG_INFO("received {}: shutting down (up to {})", signo == SIGINT ? "SIGINT" : "SIGTERM",
           config::format_duration(initial_.shutdown_timeout));
  begin_shutdown();
}

bool Server::reload(std::vector<std::string>* errors) {
  auto fail = [&](const std::string& message) {
    LOG_ERROR("{}", message);
    if (errors) errors->push_back(message);
  };
  if (stopping_) {
    fail("shutting down; reload refused");
    return false;
  }
  if (initial_.source.empty() || initial_.source.front() == '<') {
    fail("the config came from the command line; there is no file to reload");
    return false;
  }
  LOG_INFO("reloading {}", initial_.source);
  config::LoadResult r = config::load_file(initial_.source);
  if (!r.config) {
    for (const auto& e : r.errors) fail(e.to_string());
    LOG_ERROR("reload failed with {} error(s); still running the previous config", r.errors.size());
    registry_->count_reload(false, 0);
    return false;
  }
  config::Config cfg = *r.config;
  if (!start_demo_servers(cfg)) {
    fail("reload failed: a demo server could not start; still running the previous config");
    registry_->count_reload(false, 0);
    return false;
  }
  auto snap = compile(cfg, errors);
  if (!snap) {
    fail("reload failed; still running the previous config");
    registry_->count_reload(false, 0);
    return false;
  }
  // Listeners: the sockets of keys that stay are kept (no connection notices the reload); new
  // ones are bound now, before anything changes, so a port already taken fails the reload.
  std::vector<std::unique_ptr<OpenListener>> next(snap->listeners.size());
  std::vector<OpenListener*> added;
  for (std::size_t l = 0; l < snap->listeners.size(); ++l) {
    const auto kept = std::find_if(listeners_.begin(), listeners_.end(), [&](const auto& ol) {
      return ol && ol->key == snap->listeners[l].key;
    });
    if (kept != listeners_.end()) continue;
    std::string error;
    next[l] = open_listener(*snap, l, error);
    if (!next[l]) {
      fail(error);
      fail("reload failed; still running the previous config");
      registry_->count_reload(false, 0);
      return false;  // `next` closes what it opened
    }
    added.push_back(next[l].get());
  }
  for (std::size_t l = 0; l < snap->listeners.size(); ++l) {
    if (next[l]) continue;
    for (auto& ol : listeners_) {
      if (ol && ol->key == snap->listeners[l].key) next[l] = std::move(ol);
    }
  }
  std::vector<OpenListener*> removed;
  for (auto& ol : listeners_) {
    if (!ol) continue;
    removed.push_back(ol.get());
    closed_listeners_.push_back(std::move(ol));
  }
  listeners_ = std::move(next);
  if (cfg.metrics != snapshot_->config->metrics) {
    LOG_WARN("metrics: a changed exporter address takes effect at the next start");
  }
  if (cfg.busy_poll != snapshot_->config->busy_poll) {
    LOG_WARN("busy_poll: a changed value takes effect at the next start");
  }
  if (cfg.admin != snapshot_->config->admin) {
    LOG_WARN("admin: a changed socket takes effect at the next start");
  }
  registry_->count_reload(true, balance::hash_of(config::to_yaml(cfg)));
  log::set_level(to_log_level(cfg.log_level));
  for (OpenListener* ol : removed) {
    const l7::Listener* was = snapshot_->listener_by_key(ol->key);
    LOG_INFO("listener {} closes (removed from the config)", was ? was->name : ol->key);
  }
  for (std::size_t l = 0; l < snap->listeners.size(); ++l) {
    if (std::find(added.begin(), added.end(), listeners_[l].get()) != added.end()) {
      log_listener(*snap, l, "new listener");
    }
  }
  install(snap, std::move(added), std::move(removed));
  LOG_INFO("reloaded {} (generation {})", initial_.source, snap->generation);
  return true;
}

void Server::install(const std::shared_ptr<const l7::Snapshot>& snap,
                     std::vector<OpenListener*> added, std::vector<OpenListener*> removed) {
  snapshot_ = snap;
  monitor(snap);
  const auto grace =
      std::chrono::duration_cast<std::chrono::milliseconds>(snap->config->reload_grace);
  std::vector<OpenListener*> now;
  for (auto& ol : listeners_) now.push_back(ol.get());
  // Each worker takes the snapshot and the listener changes in one step on its own thread, so
  // an acceptor never looks its listener up in a snapshot that does not have it.
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->post([this, i, snap, grace, now, added, removed,
                       sweeps = claim_sweeps(i, *snap)] {
      contexts_[i]->snapshot = snap;
      tcp_workers_[i]->snapshot = snap;
      udp_workers_[i]->snapshot = snap;
      for (std::size_t l = 0; l < now.size(); ++l) now[l]->set_index(i, l);
      for (OpenListener* ol : removed) ol->close(i);
      for (OpenListener* ol : added) ol->start(i);
      start_sweeps(i, sweeps);
      l7::retire_sessions(*contexts_[i], grace);
      l4::retire_sessions(*tcp_workers_[i], grace);
    });
  }
}

std::array<bool, 3> Server::claim_sweeps(std::size_t worker, const l7::Snapshot& snap) {
  std::array<bool, 3> start{false, false, false};
  for (const auto& l : snap.listeners) {
    const auto m = static_cast<std::size_t>(l.mode);
    if (!sweeping_[worker][m]) start[m] = sweeping_[worker][m] = true;
  }
  return start;
}

void Server::start_sweeps(std::size_t worker, std::array<bool, 3> which) {
  if (which[static_cast<std::size_t>(config::Mode::kHttp)]) l7::start_sweep(*contexts_[worker]);
  if (which[static_cast<std::size_t>(config::Mode::kTcp)]) l4::start_sweep(*tcp_workers_[worker]);
  // The UDP sweep stops when a worker's last UDP listener closes, so it is asked every time.
  l4::start_udp_sweep(*udp_workers_[worker]);
}

std::unique_ptr<Server::OpenListener> Server::open_listener(const l7::Snapshot& snap,
                                                            std::size_t pos, std::string& error) {
  const l7::Listener& lis = snap.listeners[pos];
  auto ol = std::make_unique<OpenListener>();
  ol->key = lis.key;
  ol->mode = lis.mode;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    // Port 0 would give every worker a different port: the first worker's choice is reused.
    auto ep = lis.endpoint;
    if (ep.port() == 0 && i > 0) ep = ol->bound;
    std::error_code ec;
    asio::ip::tcp::endpoint bound;
    switch (lis.mode) {
      case config::Mode::kUdp: {
        auto u = std::make_unique<l4::UdpListener>(*udp_workers_[i], pos);
        ec = u->open(asio::ip::udp::endpoint(ep.address(), ep.port()),
                     snap.config->listeners[pos].max_flows);
        const auto local = u->local_endpoint();
        bound = {local.address(), local.port()};
        ol->udp.push_back(std::move(u));
        break;
      }
      case config::Mode::kTcp: {
        auto a = std::make_unique<l4::TcpAcceptor>(*tcp_workers_[i], pos, &ol->count);
        ec = a->open(ep);
        bound = a->local_endpoint();
        ol->tcp.push_back(std::move(a));
        break;
      }
      case config::Mode::kHttp: {
        auto a = std::make_unique<l7::HttpAcceptor>(*contexts_[i], pos);
        ec = a->open(ep);
        bound = a->local_endpoint();
        ol->http.push_back(std::move(a));
        break;
      }
    }
    if (ec) {
      const auto& lc = snap.config->listeners[pos];
      const config::Mark& m = lc.key_marks.at("address", lc.mark);
      error = fmt::format("{}:{}:{}: listeners[{}].address: cannot listen on {}: {}", m.file,
                          m.line, m.column, pos, endpoint_text(ep), ec.message());
      for (std::size_t w = 0; w <= i; ++w) ol->close(w);
      return nullptr;
    }
    if (i == 0) ol->bound = bound;
  }
  return ol;
}

void Server::OpenListener::set_index(std::size_t worker, std::size_t index) {
  if (worker < http.size()) http[worker]->set_index(index);
  if (worker < tcp.size()) tcp[worker]->set_index(index);
  if (worker < udp.size()) udp[worker]->set_index(index);
}

void Server::OpenListener::start(std::size_t worker) {
  if (worker < http.size()) http[worker]->start();
  if (worker < tcp.size()) tcp[worker]->start();
  if (worker < udp.size()) udp[worker]->start();
}

void Server::OpenListener::close(std::size_t worker) {
  if (worker < http.size()) http[worker]->close();
  if (worker < tcp.size()) tcp[worker]->close();
  if (worker < udp.size()) udp[worker]->close();
}

void Server::log_listener(const l7::Snapshot& snap, std::size_t l, std::string_view what) const {
  const auto& lc = snap.config->listeners[l];
  LOG_INFO("{} {} on {} ({}) -> {}", what, snap.listeners[l].name,
           endpoint_text(listeners_[l]->bound), config::to_string(snap.listeners[l].mode),
           lc.routes.empty() ? "backend " + lc.backend
                             : fmt::format("{} route(s), default {}", lc.routes.size(),
                                           lc.backend.empty() ? "404" : lc.backend));
}

bool Server::start_metrics(const config::Config& cfg) {
  if (!cfg.metrics.enabled) return true;
  const std::string address = config::format_address(cfg.metrics.address);
  std::string error;
  const int port = registry_->expose(address, error);
  if (port == 0) {
    const config::Mark& m = cfg.metrics.mark;
    LOG_ERROR("{}:{}:{}: metrics.address: cannot serve metrics on {}: {}", m.file, m.line, m.column,
              address, error.empty() ? "no port bound" : error);
    return false;
  }
  LOG_INFO("metrics on http://{}:{}/metrics", cfg.metrics.address.host, port);
  // A scrape runs on the exporter's thread; the state it reports belongs to the control
  // thread, so it asks there and waits (bounded: a stopping daemon answers no more).
  registry_->set_gauge_provider([this] {
    auto task = std::make_shared<std::packaged_task<std::vector<metrics::GaugeFamily>()>>(
        [this] { return gauges(); });
    auto result = task->get_future();
    asio::post(control_, [task] { (*task)(); });
    if (result.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
      return std::vector<metrics::GaugeFamily>{};
    }
    return result.get();
  });
  return true;
}

std::vector<metrics::GaugeFamily> Server::gauges() const {
  // Sized once: the references below stay valid while the samples are added.
  std::vector<metrics::GaugeFamily> out(10);
  auto& up = out[0];
  up = {"fulcrum_server_up",
        "1 when the server's health allows traffic (checks and ejection).",
        false,
        {}};
  auto& admin = out[1];
  admin = {
      "fulcrum_server_admin_state", "Operator state: 0 enabled, 1 drain, 2 disabled.", false, {}};
  auto& weight = out[2];
  weight = {"fulcrum_server_weight", "Configured weight.", false, {}};
  auto& active = out[3];
  active = {"fulcrum_server_active_exchanges",
            "Requests (or TCP sessions) in flight on the server, all workers.",
            false,
            {}};
  auto& duration = out[4];
  duration = {
      "fulcrum_server_check_duration_seconds", "Duration of the last active check.", false, {}};
  auto& ejections = out[5];
  ejections = {
      "fulcrum_server_ejections_total", "Passive-health ejections of the server.", true, {}};
  auto& transitions = out[6];
  transitions = {"fulcrum_server_health_transitions_total",
                 "Health changes of the server (down, up, ejected, returned).",
                 true,
                 {}};
  auto& queue = out[7];
  queue = {"fulcrum_backend_queue_length",
           "Requests waiting for a server slot (max_connections) now.",
           false,
           {}};
  auto& usable = out[8];
  usable = {"fulcrum_backend_servers_usable",
            "Servers of the backend that may take requests now.",
            false,
            {}};
  std::size_t idle = 0;
  for (const auto& ctx : contexts_) idle += ctx->pool.idle_count();
  out[9] = {"fulcrum_upstream_connections_idle",
            "Pooled idle connections to servers, kept for reuse (all workers).",
            false,
            {{{}, static_cast<double>(idle)}}};
  if (!snapshot_) return out;
  const auto health =
      monitor_ ? monitor_->state() : std::map<std::uint32_t, health::ServerHealth>{};
  for (const auto& b : snapshot_->backends) {
    queue.samples.push_back(
        {{{"backend", b->name}}, static_cast<double>(b->queued.load(std::memory_order_relaxed))});
    int n_usable = 0;
    for (const auto& s : b->servers) {
      const std::vector<std::pair<std::string, std::string>> l{{"backend", b->name},
                                                               {"server", s->name}};
      const bool is_up = s->up.load(std::memory_order_relaxed);
      n_usable += balance::usable(*s) ? 1 : 0;
      up.samples.push_back({l, is_up ? 1.0 : 0.0});
      admin.samples.push_back({l, static_cast<double>(s->admin.load(std::memory_order_relaxed))});
      weight.samples.push_back({l, static_cast<double>(s->weight)});
      active.samples.push_back({l, static_cast<double>(s->active.load(std::memory_order_relaxed))});
      const auto h = health.find(s->id);
      if (h != health.end()) {
        duration.samples.push_back({l, static_cast<double>(h->second.last_duration.count()) / 1e6});
        ejections.samples.push_back({l, static_cast<double>(h->second.ejections)});
        transitions.samples.push_back({l, static_cast<double>(h->second.transitions)});
      }
    }
    usable.samples.push_back({{{"backend", b->name}}, static_cast<double>(n_usable)});
  }
  // UDP flows and datagrams: per-worker counters of the UDP engine, summed here.
  auto udp_sum = [&](auto field) {
    double total = 0;
    for (const auto& uw : udp_workers_) total += static_cast<double>((uw->counters.*field).get());
    return total;
  };
  using C = l4::UdpCounters;
  out.push_back({"fulcrum_udp_datagrams_total",
                 "UDP datagrams by direction.",
                 true,
                 {{{{"direction", "from_clients"}}, udp_sum(&C::datagrams_in)},
                  {{{"direction", "to_servers"}}, udp_sum(&C::datagrams_up)},
                  {{{"direction", "from_servers"}}, udp_sum(&C::replies_in)},
                  {{{"direction", "to_clients"}}, udp_sum(&C::datagrams_out)}}});
  out.push_back({"fulcrum_udp_flows_total",
                 "UDP flows created and ended, by event.",
                 true,
                 {{{{"event", "created"}}, udp_sum(&C::flows_created)},
                  {{{"event", "expired"}}, udp_sum(&C::flows_expired)},
                  {{{"event", "refused"}}, udp_sum(&C::flows_refused)}}});
  out.push_back({"fulcrum_udp_flows_open",
                 "UDP flows in the flow tables now.",
                 false,
                 {{{}, udp_sum(&C::flows_created) - udp_sum(&C::flows_closed)}}});
  out.push_back({"fulcrum_udp_dropped_total",
                 "UDP datagrams dropped, by reason.",
                 true,
                 {{{{"reason", "table_full"}}, udp_sum(&C::table_full_drops)},
                  {{{"reason", "no_server"}}, udp_sum(&C::no_server_drops)},
                  {{{"reason", "send_failed"}}, udp_sum(&C::send_drops)}}});
  return out;
}

void Server::monitor(const std::shared_ptr<const l7::Snapshot>& snap) {
  std::map<std::uint32_t, health::ServerHealth> previous;
  if (monitor_) {
    previous = monitor_->state();
    monitor_->stop();
  }
  std::vector<health::BackendToCheck> backends;
  for (std::size_t b = 0; b < snap->backends.size(); ++b) {
    const auto& bc = snap->config->backends[b];
    health::BackendToCheck c{bc.name, {}, bc.health_check, bc.outlier};
    c.tls = snap->backends[b]->check_tls;
    for (const auto& s : snap->backends[b]->servers) {
      c.servers.push_back(s.get());
      if (c.tls) c.tls_hosts.push_back(snap->backends[b]->tls_host(s->id));
    }
    backends.push_back(std::move(c));
  }
  monitor_ = std::make_unique<health::Monitor>(control_, std::move(backends), previous);
  monitor_->start();
}

asio::ip::tcp::endpoint Server::bound_endpoint(std::size_t l) const {
  return l < listeners_.size() && listeners_[l] ? listeners_[l]->bound : asio::ip::tcp::endpoint{};
}

void Server::begin_shutdown() {
  stopping_ = true;
  if (monitor_) monitor_->stop();
  std::error_code ec;
  signals_.cancel(ec);
  std::vector<OpenListener*> open;
  for (auto& ol : listeners_) open.push_back(ol.get());
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto* ctx = contexts_[i].get();
    auto* tcp = tcp_workers_[i].get();
    workers_[i]->post([ctx, tcp, open, i] {
      for (OpenListener* ol : open) {
        if (ol->mode != config::Mode::kUdp) ol->close(i);
      }
      l4::drain_sessions(*tcp);
      ctx->draining = true;
      ctx->pool.close_all();
      // drain() may close a session, which unlinks it: step to the next one first.
      for (l7::HttpSession* s = ctx->sessions; s != nullptr;) {
        l7::HttpSession* next = s->list_next;
        s->drain();
        s = next;
      }
      ctx->worker.release_guard();
    });
  }
  // UDP has nothing to drain: its listeners and flows close at once.
  for (auto& uw : udp_workers_) {
    uw->worker.post([u = uw.get()] { l4::close_udp(*u); });
  }
  shutdown_timer_.expires_after(initial_.shutdown_timeout);
  shutdown_timer_.async_wait([this](const std::error_code& e) {
    if (e) return;
    LOG_WARN("shutdown_timeout reached: closing the connections still open");
    for (auto& w : workers_) w->stop();
  });
}

// After the worker's thread has ended: close whatever is left and let the aborted handlers
// run (on this thread, now that the worker's own is gone), so every session is destroyed
// while its WorkerContext still exists.
void Server::finish_worker(std::size_t i) {
  auto& ctx = *contexts_[i];
  for (auto& ol : listeners_) ol->close(i);
  l4::abort_sessions(*tcp_workers_[i]);
  l4::close_udp(*udp_workers_[i]);
  for (l7::HttpSession* s = ctx.sessions; s != nullptr;) {
    l7::HttpSession* next = s->list_next;
    s->abort();
    s = next;
  }
  ctx.pool.close_all();
  ctx.sweep_timer.cancel();
  workers_[i]->release_guard();
  workers_[i]->io().restart();
  workers_[i]->io().run();
}

}  // namespace fulcrum::lbd
