#include "metrics/registry.h"

#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <cstring>

#include "core/version.h"

namespace fulcrum::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr const char* kClass[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

ClientMetric sample(std::vector<ClientMetric::Label> labels, double value, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

// Sums one field over a block's worker slots.
template <class Slot, class Fn>
std::uint64_t sum(const Block<Slot>& b, std::size_t workers, Fn&& field) {
  std::uint64_t total = 0;
  for (std::size_t w = 0; w < workers; ++w) total += field(b.slots[w]);
  return total;
}

template <class Slot, class Fn>
ClientMetric histogram(const Block<Slot>& b, std::size_t workers,
                       std::vector<ClientMetric::Label> labels, Fn&& field) {
  ClientMetric m;
  m.label = std::move(labels);
  std::uint64_t cumulative = 0, sum_ns = 0;
  for (std::size_t i = 0; i <= kLatencyBuckets.size(); ++i) {
    for (std::size_t w = 0; w < workers; ++w) cumulative += field(b.slots[w]).bucket(i);
    ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound =
        i < kLatencyBuckets.size() ? kLatencyBuckets[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(bucket);
  }
  for (std::size_t w = 0; w < workers; ++w) sum_ns += field(b.slots[w]).sum_ns();
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = static_cast<double>(sum_ns) / 1e9;
  return m;
}

template <class Slot>
struct CounterDef {
  const char* name;
  const char* help;
  Count Slot::*field;
};

template <class Slot>
using Labelled = std::vector<std::pair<std::vector<ClientMetric::Label>, const Block<Slot>*>>;

// One counter family per definition, one sample per block, summed over the workers.
template <class Slot, std::size_t N>
void counters(std::vector<MetricFamily>& out, const CounterDef<Slot> (&defs)[N],
              const Labelled<Slot>& blocks, std::size_t workers) {
  for (const CounterDef<Slot>& d : defs) {
    MetricFamily f = family(d.name, d.help, MetricType::Counter);
    for (const auto& [labels, b] : blocks) {
      const double v =
          static_cast<double>(sum(*b, workers, [&](const Slot& s) { return (s.*d.field).get(); }));
      f.metric.push_back(sample(labels, v, MetricType::Counter));
    }
    out.push_back(std::move(f));
  }
}

// One sample per block with one more label, into `f`.
template <class Slot, class Fn>
void by_label(MetricFamily& f, const Labelled<Slot>& blocks, std::size_t workers, const char* label,
              const char* value, Fn&& field) {
  for (const auto& [labels, b] : blocks) {
    auto l = labels;
    l.push_back({label, value});
    f.metric.push_back(
        sample(std::move(l), static_cast<double>(sum(*b, workers, field)), MetricType::Counter));
  }
}

}  // namespace

const char* reason_name(Reason r) {
  switch (r) {
    case Reason::kBadRequest:
      return "bad_request";
    case Reason::kNotFound:
      return "no_route";
    case Reason::kMethod:
      return "method_not_allowed";
    case Reason::kHeaderTimeout:
      return "header_timeout";
    case Reason::kTooLarge:
      return "too_large";
    case Reason::kNotImplemented:
      return "not_implemented";
    case Reason::kUpstreamError:
      return "upstream_error";
    case Reason::kNoServer:
      return "no_server";
    case Reason::kQueueFull:
      return "queue_full";
    case Reason::kQueueTimeout:
      return "queue_timeout";
    case Reason::kUpstreamTimeout:
      return "upstream_timeout";
    case Reason::kOther:
    case Reason::kCount:
      break;
  }
  return "other";
}

const char* tls_failure_name(TlsFailure f) {
  switch (f) {
    case TlsFailure::kTimeout:
      return "timeout";
    case TlsFailure::kProtocol:
      return "protocol";
    case TlsFailure::kClosed:
      return "closed";
    case TlsFailure::kCount:
      break;
  }
  return "other";
}

Reason reason_for(int status, const char* text) {
  switch (status) {
    case 400:
      return Reason::kBadRequest;
    case 404:
      return Reason::kNotFound;
    case 405:
      return Reason::kMethod;
    case 408:
      return Reason::kHeaderTimeout;
    case 413:
    case 414:
    case 431:
      return Reason::kTooLarge;
    case 501:
    case 505:
      return Reason::kNotImplemented;
    case 502:
      return Reason::kUpstreamError;
    case 503:
      if (std::strcmp(text, "queue full") == 0) return Reason::kQueueFull;
      if (std::strcmp(text, "queue timeout") == 0) return Reason::kQueueTimeout;
      return Reason::kNoServer;
    case 504:
      return Reason::kUpstreamTimeout;
    default:
      return Reason::kOther;
  }
}

class Registry::Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const Registry& r) : r_(r) {}
  std::vector<MetricFamily> Collect() const override { return r_.collect(); }

 private:
  const Registry& r_;
};

Registry::Registry(std::size_t workers) : workers_(workers == 0 ? 1 : workers) {}
Registry::~Registry() = default;

Block<ListenerSlot>* Registry::listener(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& b = listeners_[name];
  if (!b) b = std::make_unique<Block<ListenerSlot>>(name, workers_);
  return b.get();
}

Block<BackendSlot>* Registry::backend(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& b = backends_[name];
  if (!b) b = std::make_unique<Block<BackendSlot>>(name, workers_);
  return b.get();
}

Block<ServerSlot>* Registry::server(std::uint32_t id, const std::string& backend,
                                    const std::string& name) {
  std::lock_guard lock(mu_);
  auto& e = servers_[id];
  if (!e.block) {
    e.backend = backend;
    e.name = name;
    e.block = std::make_unique<Block<ServerSlot>>(name, workers_);
  }
  return e.block.get();
}

Block<RouteSlot>* Registry::route(const std::string& listener, const std::string& name) {
  std::lock_guard lock(mu_);
  auto& b = routes_[{listener, name}];
  if (!b) b = std::make_unique<Block<RouteSlot>>(name, workers_);
  return b.get();
}

void Registry::set_current(std::vector<std::string> listeners, std::vector<std::string> backends,
                           std::vector<std::uint32_t> servers,
                           std::vector<std::pair<std::string, std::string>> routes) {
  std::lock_guard lock(mu_);
  current_routes_ = std::move(routes);
  current_listeners_ = std::move(listeners);
  current_backends_ = std::move(backends);
  current_servers_ = std::move(servers);
}

void Registry::count_reload(bool ok, std::uint64_t config_hash) {
  std::lock_guard lock(mu_);
  if (ok) {
    ++reloads_ok_;
    config_hash_ = config_hash;
    last_reload_ =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  } else {
    ++reloads_failed_;
  }
}

void Registry::set_gauge_provider(std::function<std::vector<GaugeFamily>()> provider) {
  std::lock_guard lock(mu_);
  provider_ = std::move(provider);
}

std::vector<MetricFamily> Registry::collect(bool gauges) const {
  std::function<std::vector<GaugeFamily>()> provider;
  std::vector<MetricFamily> out;
  {
    std::lock_guard lock(mu_);
    if (gauges) provider = provider_;
    const std::size_t n = workers_;

    auto build = family("fulcrum_build_info", "Version of lbd; always 1.", MetricType::Gauge);
    build.metric.push_back(sample({{"version", kVersion}}, 1, MetricType::Gauge));
    out.push_back(std::move(build));
    auto reloads = family("fulcrum_config_reloads_total",
                          "Configuration loads after the first, by result.", MetricType::Counter);
    reloads.metric.push_back(
        sample({{"result", "success"}}, static_cast<double>(reloads_ok_), MetricType::Counter));
    reloads.metric.push_back(
        sample({{"result", "failure"}}, static_cast<double>(reloads_failed_), MetricType::Counter));
    out.push_back(std::move(reloads));
    auto hash = family("fulcrum_config_hash",
                       "Hash of the configuration in use (53 bits, to compare nodes and loads).",
                       MetricType::Gauge);
    hash.metric.push_back(
        sample({}, static_cast<double>(config_hash_ & ((1ull << 53) - 1)), MetricType::Gauge));
    out.push_back(std::move(hash));
    auto last = family("fulcrum_config_last_reload_success_timestamp_seconds",
                       "When the configuration in use was loaded (Unix time).", MetricType::Gauge);
    last.metric.push_back(sample({}, last_reload_, MetricType::Gauge));
    out.push_back(std::move(last));

    // Per listener, backend and server: plain counters from tables, then the labelled ones.
    std::vector<std::pair<std::vector<ClientMetric::Label>, const Block<ListenerSlot>*>> ls;
    for (const std::string& name : current_listeners_) {
      if (auto it = listeners_.find(name); it != listeners_.end()) {
        ls.push_back({{{"listener", name}}, it->second.get()});
      }
    }
    std::vector<std::pair<std::vector<ClientMetric::Label>, const Block<BackendSlot>*>> bs;
    for (const std::string& name : current_backends_) {
      if (auto it = backends_.find(name); it != backends_.end()) {
        bs.push_back({{{"backend", name}}, it->second.get()});
      }
    }
    std::vector<std::pair<std::vector<ClientMetric::Label>, const Block<ServerSlot>*>> ss;
    for (std::uint32_t id : current_servers_) {
      if (auto it = servers_.find(id); it != servers_.end()) {
        ss.push_back({{{"backend", it->second.backend}, {"server", it->second.name}},
                      it->second.block.get()});
      }
    }

    static constexpr CounterDef<ListenerSlot> kListener[] = {
        {"fulcrum_connections_total", "Client connections accepted.", &ListenerSlot::connections},
        {"fulcrum_connections_rejected_total",
         "Client connections closed at once (limits, PROXY header, SNI).", &ListenerSlot::rejected},
        {"fulcrum_received_bytes_total", "Bytes received from clients.", &ListenerSlot::bytes_in},
        {"fulcrum_sent_bytes_total", "Bytes sent to clients.", &ListenerSlot::bytes_out},
        {"fulcrum_tls_handshakes_total", "TLS handshakes completed with clients.",
         &ListenerSlot::tls_handshakes},
        {"fulcrum_tls_resumed_total", "TLS handshakes that resumed a session (ticket or cache).",
         &ListenerSlot::tls_resumed}};
    static constexpr CounterDef<BackendSlot> kBackend[] = {
        {"fulcrum_backend_requests_total",
         "Exchanges started with a server of the backend (retries included).",
         &BackendSlot::requests},
        {"fulcrum_backend_retries_total", "Requests retried on another connection or server.",
         &BackendSlot::retries},
        {"fulcrum_backend_queued_total", "Requests that waited in the queue for a server slot.",
         &BackendSlot::queued}};
    static constexpr CounterDef<ServerSlot> kServer[] = {
        {"fulcrum_server_connect_failures_total",
         "Connections to the server that were refused or timed out.",
         &ServerSlot::connect_failures},
        {"fulcrum_server_timeouts_total",
         "Exchanges with the server that timed out waiting for a response.", &ServerSlot::timeouts},
        {"fulcrum_server_received_bytes_total", "Bytes received from the server.",
         &ServerSlot::bytes_in},
        {"fulcrum_server_sent_bytes_total", "Bytes sent to the server.", &ServerSlot::bytes_out}};
    Labelled<RouteSlot> rs;
    for (const auto& key : current_routes_) {
      if (auto it = routes_.find(key); it != routes_.end()) {
        rs.push_back({{{"listener", key.first}, {"route", key.second}}, it->second.get()});
      }
    }
    static constexpr CounterDef<RouteSlot> kRoute[] = {
        {"fulcrum_route_requests_total", "Requests each route took.", &RouteSlot::requests}};
    counters(out, kRoute, rs, n);
    counters(out, kListener, ls, n);
    counters(out, kBackend, bs, n);
    counters(out, kServer, ss, n);

    auto open =
        family("fulcrum_connections_open", "Client connections open now.", MetricType::Gauge);
    for (const auto& [labels, b] : ls) {
      std::int64_t level = 0;
      for (std::size_t w = 0; w < n; ++w) level += b->slots[w].open.get();
      open.metric.push_back(sample(labels, static_cast<double>(level), MetricType::Gauge));
    }
    out.push_back(std::move(open));

    auto responses =
        family("fulcrum_http_responses_total", "HTTP responses sent to clients, by status class.",
               MetricType::Counter);
    auto sresponses = family("fulcrum_server_responses_total",
                             "Responses from the server, by status class.", MetricType::Counter);
    for (std::size_t k = 1; k < 6; ++k) {
      by_label(responses, ls, n, "code_class", kClass[k],
               [k](const ListenerSlot& s) { return s.responses[k].get(); });
      by_label(sresponses, ss, n, "code_class", kClass[k],
               [k](const ServerSlot& s) { return s.responses[k].get(); });
    }
    auto local = family("fulcrum_http_local_responses_total",
                        "Responses lbd generated itself instead of a server, by reason.",
                        MetricType::Counter);
    for (std::size_t r = 0; r < static_cast<std::size_t>(Reason::kCount); ++r) {
      by_label(local, ls, n, "reason", reason_name(static_cast<Reason>(r)),
               [r](const ListenerSlot& s) { return s.local[r].get(); });
    }
    out.push_back(std::move(responses));
    out.push_back(std::move(sresponses));
    out.push_back(std::move(local));
    auto tls_failures =
        family("fulcrum_tls_handshake_failures_total",
               "TLS handshakes with clients that failed, by reason.", MetricType::Counter);
    for (std::size_t r = 0; r < static_cast<std::size_t>(TlsFailure::kCount); ++r) {
      by_label(tls_failures, ls, n, "reason", tls_failure_name(static_cast<TlsFailure>(r)),
               [r](const ListenerSlot& s) { return s.tls_failures[r].get(); });
    }
    out.push_back(std::move(tls_failures));

    auto duration = family("fulcrum_http_request_duration_seconds",
                           "Time from a complete request head to the last response byte.",
                           MetricType::Histogram);
    for (const auto& [labels, b] : ls) {
      duration.metric.push_back(histogram(
          *b, n, labels, [](const ListenerSlot& s) -> const Histogram& { return s.duration; }));
    }
    out.push_back(std::move(duration));
    auto upstream = family("fulcrum_upstream_response_seconds",
                           "Time from sending a request to a server to its response head.",
                           MetricType::Histogram);
    for (const auto& [labels, b] : bs) {
      upstream.metric.push_back(histogram(
          *b, n, labels, [](const BackendSlot& s) -> const Histogram& { return s.upstream; }));
    }
    out.push_back(std::move(upstream));
  }

  if (provider) {
    for (GaugeFamily& g : provider()) {
      const MetricType type = g.counter ? MetricType::Counter : MetricType::Gauge;
      MetricFamily f = family(g.name.c_str(), g.help.c_str(), type);
      for (GaugeSample& s : g.samples) {
        std::vector<ClientMetric::Label> labels;
        for (auto& [k, v] : s.labels) labels.push_back({k, v});
        f.metric.push_back(sample(std::move(labels), s.value, type));
      }
      out.push_back(std::move(f));
    }
  }
  return out;
}

int Registry::expose(const std::string& address, std::string& error) {
  try {
    // One serving thread: scrapes are rare, and each takes the registry lock anyway.
    exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
    collector_ = std::make_shared<Collector>(*this);
    exposer_->RegisterCollectable(collector_);
    const auto ports = exposer_->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  } catch (const std::exception& e) {
    error = e.what();
    exposer_.reset();
    return 0;
  }
}

void Registry::close() {
  exposer_.reset();
  std::lock_guard lock(mu_);
  provider_ = nullptr;
}

}  // namespace fulcrum::metrics
