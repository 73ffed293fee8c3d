// metrics/registry.h — every counter block, and the Prometheus exposition of them.
//
// Blocks are created by the control thread when a config snapshot is built (by listener and
// backend name, by Server::id) and are never freed while the process runs, so workers hold
// plain pointers to them and counters carry on across reloads. A scrape (the exporter's own
// thread) sums the workers' slots; the gauges that describe the current config (health,
// weights, in-flight exchanges, queue lengths) come from a provider the daemon installs, run on
// its control thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/stats.h"

namespace prometheus {
struct MetricFamily;
class Exposer;
}  // namespace prometheus

namespace fulcrum::metrics {

// One sample of a gauge family, for the provider.
struct GaugeSample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};
struct GaugeFamily {
  std::string name;
  std::string help;
  bool counter = false;  // a monotonic value kept elsewhere (e.g. ejections in the monitor)
  std::vector<GaugeSample> samples;
};

class Registry {
 public:
  explicit Registry(std::size_t workers);
  ~Registry();

  std::size_t workers() const { return workers_; }

  // Control thread. The same name (id) gives the same block every time.
  Block<ListenerSlot>* listener(const std::string& name);
  Block<BackendSlot>* backend(const std::string& name);
  Block<ServerSlot>* server(std::uint32_t id, const std::string& backend, const std::string& name);
  Block<RouteSlot>* route(const std::string& listener, const std::string& name);
  // The names of the current config: only these are exported (a removed backend's series end).
  void set_current(std::vector<std::string> listeners, std::vector<std::string> backends,
                   std::vector<std::uint32_t> servers,
                   std::vector<std::pair<std::string, std::string>> routes = {});

  void count_reload(bool ok, std::uint64_t config_hash);

  // Gauges of the current state; called on each scrape, from the exporter's thread (the
  // provider hops to the right thread itself).
  void set_gauge_provider(std::function<std::vector<GaugeFamily>()> provider);

  // With `gauges`, the provider's families too (it must not be called on the thread the
  // provider hops to).
  std::vector<prometheus::MetricFamily> collect(bool gauges = true) const;

  // Serves /metrics on `address` ("host:port", port 0 for any); returns the bound port, or 0
  // with `error` set.
  int expose(const std::string& address, std::string& error);
  // Stops serving (waits for a scrape in progress) and drops the gauge provider.
  void close();

 private:
  struct ServerEntry {
    std::string backend, name;
    std::unique_ptr<Block<ServerSlot>> block;
  };
  class Collector;

  const std::size_t workers_;
  mutable std::mutex mu_;  // control thread vs scrapes; workers never take it
  std::map<std::string, std::unique_ptr<Block<ListenerSlot>>> listeners_;
  std::map<std::string, std::unique_ptr<Block<BackendSlot>>> backends_;
  std::map<std::uint32_t, ServerEntry> servers_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Block<RouteSlot>>> routes_;
  std::vector<std::pair<std::string, std::string>> current_routes_;
  std::vector<std::string> current_listeners_, current_backends_;
  std::vector<std::uint32_t> current_servers_;
  std::uint64_t reloads_ok_ = 0, reloads_failed_ = 0, config_hash_ = 0;
  double last_reload_ = 0;  // unix seconds
  std::function<std::vector<GaugeFamily>()> provider_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace fulcrum::metrics
