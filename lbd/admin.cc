// The admin API's commands (the transport is core/admin_socket.h). Protocol, version 1: one
// JSON object per line in, {"v":1,"cmd":"show servers app"}; one per line out,
// {"v":1,"ok":true,"data":...} or {"v":1,"ok":false,"error":"...","errors":[...]}. Commands
// run on the control thread, so they see the snapshot, the monitor and the overrides without
// locks; changes reach the workers through atomics (admin state) or a new snapshot (weight).
#include <fmt/format.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/loader.h"
#include "core/log.h"
#include "core/version.h"
#include "lbd/server.h"

namespace fulcrum::lbd {

namespace {

using nlohmann::json;

struct Command {
  const char* words;  // the fixed words; arguments follow
  const char* args;   // for help and completion: "", "[BACKEND]", "BACKEND/SERVER", ...
  const char* help;
};

constexpr Command kCommands[] = {
    {"help", "", "list the commands"},
    {"show info", "", "version, uptime, workers, config hash"},
    {"show stats", "", "counters and gauges (as on /metrics) summed over workers"},
    {"show backends", "", "backends: algorithm, servers usable, queue"},
    {"show servers", "[BACKEND]", "servers: state, weight, load, health"},
    {"show health", "", "health check detail of every server"},
    {"show listeners", "", "listeners: address, mode, connections"},
    {"show config", "", "the running configuration as YAML"},
    {"show errors", "", "the latest requests lbd refused or failed, with the reason"},
    {"enable server", "BACKEND/SERVER", "let the server take new requests again"},
    {"disable server", "BACKEND/SERVER", "take the server out (in-flight requests finish)"},
    {"drain server", "BACKEND/SERVER", "no new requests; in-flight ones finish"},
    {"set weight", "BACKEND/SERVER N", "change the server's weight (1..256)"},
    {"reload", "", "re-read the config file; on any error the running config stays"},
};

json error(std::string message, std::vector<std::string> errors = {}) {
  json out{{"v", 1}, {"ok", false}, {"error", std::move(message)}};
  if (!errors.empty()) out["errors"] = std::move(errors);
  return out;
}

json ok(json data) { return json{{"v", 1}, {"ok", true}, {"data", std::move(data)}}; }

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string admin_name(balance::AdminState a) {
  switch (a) {
    case balance::AdminState::kEnabled:
      return "enabled";
    case balance::AdminState::kDrain:
      return "drain";
    case balance::AdminState::kDisabled:
      return "disabled";
  }
  return "?";
}

std::string endpoint_string(const asio::ip::tcp::endpoint& ep) {
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

}  // namespace

bool Server::start_admin(const config::Config& cfg) {
  if (!cfg.admin.enabled) return true;
  admin_ = std::make_unique<AdminSocket>(control_,
                                         [this](std::string_view line) { return on_admin(line); });
  std::string detail;
  if (std::error_code ec = admin_->open(cfg.admin.socket, cfg.admin.mode, detail)) {
    const config::Mark& m = cfg.admin.mark;
    LOG_ERROR("{}:{}:{}: admin.socket: cannot serve the admin API on {}: {}{}", m.file, m.line,
              m.column, cfg.admin.socket, ec.message(), detail.empty() ? "" : " (" + detail + ")");
    admin_.reset();
    return false;
  }
  LOG_INFO("admin API on {} (mode {:04o})", cfg.admin.socket, cfg.admin.mode);
  return true;
}

std::string Server::on_admin(std::string_view line) {
  json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) {
    return error("expected one JSON object per line, like {\"v\":1,\"cmd\":\"show info\"}").dump();
  }
  if (!req.contains("v") || req["v"] != 1) {
    return error("unsupported protocol version: this lbd speaks v 1").dump();
  }
  if (!req.contains("cmd") || !req["cmd"].is_string()) {
    return error("missing \"cmd\" (a string such as \"show servers\")").dump();
  }
  const std::vector<std::string> w = split(req["cmd"].get<std::string>());
  auto is = [&](std::initializer_list<const char*> words) {
    if (w.size() < words.size()) return false;
    std::size_t i = 0;
    for (const char* word : words) {
      if (w[i++] != word) return false;
    }
    return true;
  };
  // Held: `set weight` and `reload` install a new snapshot while this one is still read.
  const std::shared_ptr<const l7::Snapshot> hold = snapshot_;
  const l7::Snapshot& snap = *hold;

  // Finds BACKEND/SERVER in the running snapshot.
  auto find_server =
      [&](const std::string& target,
          std::string& why) -> std::pair<const l7::Backend*, const balance::Server*> {
    const std::size_t slash = target.find('/');
    if (slash == std::string::npos) {
      why = "expected BACKEND/SERVER, got '" + target + "'";
      return {nullptr, nullptr};
    }
    const std::string b = target.substr(0, slash), s = target.substr(slash + 1);
    for (const auto& backend : snap.backends) {
      if (backend->name != b) continue;
      for (const auto& server : backend->servers) {
        if (server->name == s) return {backend.get(), server.get()};
      }
      why = "backend " + b + " has no server named '" + s + "'";
      return {nullptr, nullptr};
    }
    why = "no backend named '" + b + "'";
    return {nullptr, nullptr};
  };

  const auto health =
      monitor_ ? monitor_->state() : std::map<std::uint32_t, health::ServerHealth>{};
  auto server_json = [&](const l7::Backend& b, const balance::Server& s) {
    json j{{"backend", b.name},
           {"name", s.name},
           {"address", endpoint_string(s.endpoint)},
           {"weight", s.weight},
           {"backup", s.backup},
           {"admin", admin_name(static_cast<balance::AdminState>(s.admin.load()))},
           {"up", s.up.load()},
           {"usable", balance::usable(s)},
           {"active", s.active.load()},
           {"max_connections", s.max_connections}};
    if (auto h = health.find(s.id); h != health.end()) {
      const health::ServerHealth& st = h->second;
      j["health"] = {{"checked", st.checks > 0},
                     {"active_up", st.active_up},
                     {"ejected", st.ejected},
                     {"ejections", st.ejections},
                     {"checks", st.checks},
                     {"transitions", st.transitions},
                     {"last_result", st.last_result},
                     {"last_duration_ms", static_cast<double>(st.last_duration.count()) / 1000.0}};
    }
    return j;
  };

  if (is({"help"})) {
    json list = json::array();
    for (const Command& c : kCommands) {
      list.push_back({{"command", c.words}, {"args", c.args}, {"help", c.help}});
    }
    return ok(list).dump();
  }
  if (is({"show", "info"})) {
    const auto up = std::chrono::steady_clock::now() - started_at_;
    return ok({{"version", kVersion},
               {"pid", ::getpid()},
               {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(up).count()},
               {"workers", worker_count_},
               {"config", initial_.source},
               {"generation", snap.generation},
               {"config_hash",
                fmt::format("{:016x}", balance::hash_of(config::to_yaml(*snap.config)))}})
        .dump();
  }
  if (is({"show", "stats"})) {
    json out = json::object();
    auto add = [&](const std::string& name, json labels, double value) {
      out[name].push_back({{"labels", std::move(labels)}, {"value", value}});
    };
    for (const auto& f : registry_->collect(/*gauges=*/false)) {
      for (const auto& m : f.metric) {
        json labels = json::object();
        for (const auto& l : m.label) labels[l.name] = l.value;
        if (f.type == prometheus::MetricType::Histogram) {
          add(f.name + "_count", labels, static_cast<double>(m.histogram.sample_count));
          add(f.name + "_sum", labels, m.histogram.sample_sum);
        } else if (f.type == prometheus::MetricType::Counter) {
          add(f.name, labels, m.counter.value);
        } else {
          add(f.name, labels, m.gauge.value);
        }
      }
    }
    for (const auto& g : gauges()) {
      for (const auto& smp : g.samples) {
        json labels = json::object();
        for (const auto& [k, v] : smp.labels) labels[k] = v;
        add(g.name, labels, smp.value);
      }
    }
    return ok(out).dump();
  }
  if (is({"show", "backends"})) {
    json list = json::array();
    for (std::size_t i = 0; i < snap.backends.size(); ++i) {
      const auto& b = *snap.backends[i];
      int usable = 0, up = 0;
      std::uint64_t active = 0;
      for (const auto& s : b.servers) {
        usable += balance::usable(*s);
        up += s->up.load();
        active += s->active.load();
      }
      list.push_back({{"name", b.name},
                      {"balance", config::to_string(snap.config->backends[i].balance)},
                      {"servers", b.servers.size()},
                      {"up", up},
                      {"usable", usable},
                      {"active", active},
                      {"queued", b.queued.load()},
                      {"queue_size", b.queue_size}});
    }
    return ok(list).dump();
  }
  if (is({"show", "servers"}) || is({"show", "health"})) {
    if (w.size() > 3) return error("usage: show servers [BACKEND]").dump();
    const std::string only = w.size() == 3 ? w[2] : "";
    json list = json::array();
    bool found = only.empty();
    for (const auto& b : snap.backends) {
      if (!only.empty() && b->name != only) continue;
      found = true;
      for (const auto& s : b->servers) list.push_back(server_json(*b, *s));
    }
    if (!found) return error("no backend named '" + only + "'").dump();
    return ok(list).dump();
  }
  if (is({"show", "listeners"})) {
    json list = json::array();
    for (std::size_t i = 0; i < snap.listeners.size(); ++i) {
      const auto& l = snap.listeners[i];
      const auto& lc = snap.config->listeners[i];
      std::int64_t open = 0;
      std::uint64_t total = 0;
      for (std::size_t k = 0; k < registry_->workers(); ++k) {
        open += l.stats->slots[k].open.get();
        total += l.stats->slots[k].connections.get();
      }
      list.push_back({{"name", l.name},
                      {"address", endpoint_string(bound_endpoint(i))},
                      {"mode", config::to_string(l.mode)},
                      {"backend", lc.backend},
                      {"routes", lc.routes.size()},
                      {"connections_open", open},
                      {"connections_total", total}});
    }
    return ok(list).dump();
  }
  if (is({"show", "config"})) {
    return ok({{"source", initial_.source}, {"yaml", config::to_yaml(*snap.config)}}).dump();
  }
  if (is({"show", "errors"})) {
    std::vector<l7::RecentError> all;
    for (const auto& ctx : contexts_) {
      for (auto& e : ctx->recent_errors.copy()) all.push_back(std::move(e));
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
    json list = json::array();
    for (const auto& e : all) {
      list.push_back({{"time", iso_time(e.at)},
                      {"listener", e.listener},
                      {"client", e.client},
                      {"status", e.status},
                      {"reason", e.reason}});
    }
    return ok(list).dump();
  }
  for (const char* verb : {"enable", "disable", "drain"}) {
    if (!is({verb, "server"})) continue;
    if (w.size() != 3) return error(fmt::format("usage: {} server BACKEND/SERVER", verb)).dump();
    std::string why;
    auto [b, s] = find_server(w[2], why);
    if (!s) return error(why).dump();
    const std::string v = verb;
    const auto state = v == "enable"  ? balance::AdminState::kEnabled
                       : v == "drain" ? balance::AdminState::kDrain
                                      : balance::AdminState::kDisabled;
    admin_overrides_[b->name + "/" + s->name] =
        v == "enable"  ? config::ServerConfig::Admin::kEnabled
        : v == "drain" ? config::ServerConfig::Admin::kDrain
                       : config::ServerConfig::Admin::kDisabled;
    const auto before = static_cast<balance::AdminState>(s->admin.load());
    // Every worker reads this atomic on its next pick: in effect at once, no new snapshot.
    s->admin.store(static_cast<std::uint8_t>(state));
    if (state == balance::AdminState::kEnabled && before != state && monitor_) {
      monitor_->begin_ramp(s->id);
    }
    LOG_WARN("admin API: server {}/{} {} -> {}", b->name, s->name, admin_name(before),
             admin_name(state));
    return ok(server_json(*b, *s)).dump();
  }
  if (is({"set", "weight"})) {
    if (w.size() != 4) return error("usage: set weight BACKEND/SERVER N (1..256)").dump();
    std::string why;
    auto [b, s] = find_server(w[2], why);
    if (!s) return error(why).dump();
    unsigned weight = 0;
    const auto [p, ec] = std::from_chars(w[3].data(), w[3].data() + w[3].size(), weight);
    if (ec != std::errc() || p != w[3].data() + w[3].size() || weight < 1 || weight > 256) {
      return error("weight must be a whole number from 1 to 256, got '" + w[3] + "'").dump();
    }
    const std::string key = b->name + "/" + s->name;
    const std::uint32_t before = s->weight;
    const auto previous = weight_overrides_.find(key) != weight_overrides_.end()
                              ? std::optional<std::uint32_t>(weight_overrides_[key])
                              : std::nullopt;
    weight_overrides_[key] = weight;
    // Balancers precompute from weights (tables, rings): a new snapshot of the running config
    // carries the new weight to every worker, as a reload would.
    std::vector<std::string> errors;
    auto next = compile(*snap.config, &errors);
    if (!next) {
      if (previous) {
        weight_overrides_[key] = *previous;
      } else {
        weight_overrides_.erase(key);
      }
      return error("could not apply the weight", errors).dump();
    }
    install(next);
    LOG_WARN("admin API: server {} weight {} -> {} (generation {})", key, before, weight,
             next->generation);
    for (const auto& nb : next->backends) {
      if (nb->name != b->name) continue;
      for (const auto& ns : nb->servers) {
        if (ns->name == s->name) return ok(server_json(*nb, *ns)).dump();
      }
    }
    return ok(json::object()).dump();
  }
  if (is({"reload"})) {
    std::vector<std::string> errors;
    if (!reload(&errors))
      return error("reload failed; the previous config is running", errors).dump();
    return ok({{"generation", snapshot_->generation}}).dump();
  }
  return error("unknown command '" + req["cmd"].get<std::string>() + "'; try help").dump();
}

}  // namespace fulcrum::lbd
