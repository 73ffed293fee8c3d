#include "lbd/server.h"

#include <fmt/format.h>
#include <signal.h>

#include <asio/post.hpp>
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

// Listener sets must match for a reload until hot listener changes land with the operations
// work: the acceptors are opened once, at startup.
bool same_listeners(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (std::size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].address != b.listeners[i].address ||
        a.listeners[i].mode != b.listeners[i].mode) {
      return false;
    }
  }
  return true;
}

}  // namespace

Server::Server(config::Config config)
    : initial_(std::move(config)), signals_(control_), shutdown_timer_(control_) {}

Server::~Server() {
  for (auto& per_worker : acceptors_) per_worker.clear();
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

std::shared_ptr<const l7::Snapshot> Server::compile(const config::Config& config) {
  std::vector<config::ConfigError> errors;
  auto open_log = [this](const std::string& path, std::string& error) {
    auto& sink = access_logs_[path];
    if (!sink) sink = l7::AccessLogSink::open(path, worker_count_, error);
    return sink;
  };
  auto snap = l7::build_snapshot(std::make_shared<const config::Config>(config), server_ids_,
                                 ++generation_, open_log, errors);
  for (const auto& e : errors) LOG_ERROR("{}", e.to_string());
  return snap;
}

int Server::run() {
  log::set_level(to_log_level(initial_.log_level));
  ::signal(SIGPIPE, SIG_IGN);
  config::Config cfg = initial_;
  const unsigned n =
      cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  worker_count_ = n;
  if (!start_demo_servers(cfg)) return 1;
  snapshot_ = compile(cfg);
  if (!snapshot_) return 1;
  monitor(snapshot_);

  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i));
    contexts_.push_back(std::make_unique<l7::WorkerContext>(*workers_.back()));
    contexts_.back()->snapshot = snapshot_;
    acceptors_.emplace_back();
    for (std::size_t l = 0; l < snapshot_->listeners.size(); ++l) {
      const auto& lis = snapshot_->listeners[l];
      auto acc = std::make_unique<l7::HttpAcceptor>(*contexts_.back(), l);
      // Port 0 would give every worker a different port: the first worker's choice is reused.
      auto ep = lis.endpoint;
      if (ep.port() == 0 && i > 0) ep = acceptors_[0][l]->local_endpoint();
      if (std::error_code ec = acc->open(ep)) {
        const auto& lc = cfg.listeners[l];
        const config::Mark& m = lc.key_marks.at("address", lc.mark);
        LOG_ERROR("{}:{}:{}: listeners[{}].address: cannot listen on {}: {}", m.file, m.line,
                  m.column, l, endpoint_text(ep), ec.message());
        return 1;
      }
      acceptors_.back().push_back(std::move(acc));
    }
  }
  for (std::size_t l = 0; l < snapshot_->listeners.size(); ++l) {
    const auto& lc = cfg.listeners[l];
    LOG_INFO("listener {} on {} ({}) -> {}", snapshot_->listeners[l].name,
             endpoint_text(acceptors_[0][l]->local_endpoint()),
             config::to_string(snapshot_->listeners[l].mode),
             lc.routes.empty() ? "backend " + lc.backend
                               : fmt::format("{} route(s), default {}", lc.routes.size(),
                                             lc.backend.empty() ? "404" : lc.backend));
  }

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
    for (auto& acc : acceptors_[w->index()]) acc->start();
    l7::start_sweep(*contexts_[w->index()]);
    w->start([this] {
      if (running_.fetch_sub(1) == 1) asio::post(control_, [this] { control_.stop(); });
    });
  }
  LOG_INFO("lbd started: {} worker(s), config {}", n, cfg.source);

  control_.run();
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
  if (signo == SIGHUP) return reload();
  if (stopping_) return;
  LOG_INFO("received {}: shutting down (up to {})", signo == SIGINT ? "SIGINT" : "SIGTERM",
           config::format_duration(initial_.shutdown_timeout));
  begin_shutdown();
}

void Server::reload() {
  if (initial_.source.empty() || initial_.source.front() == '<') {
    LOG_WARN("SIGHUP: the config came from the command line; nothing to reload");
    return;
  }
  LOG_INFO("SIGHUP: reloading {}", initial_.source);
  config::LoadResult r = config::load_file(initial_.source);
  if (!r.config) {
    for (const auto& e : r.errors) LOG_ERROR("{}", e.to_string());
    LOG_ERROR("reload failed with {} error(s); still running the previous config", r.errors.size());
    return;
  }
  if (!same_listeners(*snapshot_->config, *r.config)) {
    LOG_ERROR(
        "reload failed: listeners were added, removed or moved, which needs a restart "
        "in this version; still running the previous config");
    return;
  }
  config::Config cfg = *r.config;
  if (!start_demo_servers(cfg)) {
    LOG_ERROR("reload failed; still running the previous config");
    return;
  }
  auto snap = compile(cfg);
  if (!snap) {
    LOG_ERROR("reload failed; still running the previous config");
    return;
  }
  log::set_level(to_log_level(cfg.log_level));
  snapshot_ = snap;
  monitor(snap);
  for (auto& ctx : contexts_) {
    ctx->worker.post([c = ctx.get(), snap] { c->snapshot = snap; });
  }
  LOG_INFO("reloaded {} (generation {})", initial_.source, snap->generation);
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
    for (const auto& s : snap->backends[b]->servers) c.servers.push_back(s.get());
    backends.push_back(std::move(c));
  }
  monitor_ = std::make_unique<health::Monitor>(control_, std::move(backends), previous);
  monitor_->start();
}

void Server::begin_shutdown() {
  stopping_ = true;
  if (monitor_) monitor_->stop();
  std::error_code ec;
  signals_.cancel(ec);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto* ctx = contexts_[i].get();
    auto* accs = &acceptors_[i];
    workers_[i]->post([ctx, accs] {
      for (auto& a : *accs) a->close();
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
  for (auto& a : acceptors_[i]) a->close();
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
