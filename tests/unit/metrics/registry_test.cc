// The registry sums the workers' slots, keeps blocks across "reloads", exports only the
// current names, and builds histograms Prometheus can read.
#include "metrics/registry.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <thread>

namespace fulcrum::metrics {
namespace {

const prometheus::MetricFamily* find(const std::vector<prometheus::MetricFamily>& fs,
                                     const std::string& name) {
  for (const auto& f : fs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(Registry, SumsWorkersAndKeepsBlocksAcrossReloads) {
  Registry r(3);
  auto* l = r.listener("web");
  EXPECT_EQ(r.listener("web"), l);  // the same name, the same block
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([l, w] {
      for (int i = 0; i < 1000; ++i) l->slots[w].connections.add();
      l->slots[w].bytes_in.add(static_cast<std::uint64_t>(w + 1));
    });
  }
  for (auto& t : workers) t.join();
  r.set_current({"web"}, {}, {});
  auto fs = r.collect(false);
  const auto* conns = find(fs, "fulcrum_connections_total");
  ASSERT_NE(conns, nullptr);
  ASSERT_EQ(conns->metric.size(), 1u);
  EXPECT_EQ(conns->metric[0].counter.value, 3000);
  EXPECT_EQ(find(fs, "fulcrum_received_bytes_total")->metric[0].counter.value, 6);

  // A reload that drops the listener stops its series; bringing it back resumes the count.
  r.set_current({}, {}, {});
  EXPECT_TRUE(find(r.collect(false), "fulcrum_connections_total")->metric.empty());
  r.set_current({"web"}, {}, {});
  EXPECT_EQ(find(r.collect(false), "fulcrum_connections_total")->metric[0].counter.value, 3000);
}

TEST(Registry, HistogramsAreCumulativeWithSumInSeconds) {
  Registry r(2);
  auto* b = r.backend("app");
  b->slots[0].upstream.observe(std::chrono::microseconds(300));  // <= 0.5 ms
  b->slots[1].upstream.observe(std::chrono::milliseconds(3));    // <= 5 ms
  b->slots[1].upstream.observe(std::chrono::seconds(100));       // +Inf only
  r.set_current({}, {"app"}, {});
  const auto fs = r.collect(false);
  const auto* h = find(fs, "fulcrum_upstream_response_seconds");
  ASSERT_NE(h, nullptr);
  const auto& m = h->metric.at(0).histogram;
  EXPECT_EQ(m.sample_count, 3u);
  EXPECT_NEAR(m.sample_sum, 100.0033, 1e-6);
  ASSERT_EQ(m.bucket.size(), kLatencyBuckets.size() + 1);
  EXPECT_EQ(m.bucket[0].cumulative_count, 1u);  // le 0.0005
  EXPECT_EQ(m.bucket[3].upper_bound, 0.005);
  EXPECT_EQ(m.bucket[3].cumulative_count, 2u);
  EXPECT_EQ(m.bucket[kLatencyBuckets.size() - 1].cumulative_count, 2u);  // le 60
  EXPECT_EQ(m.bucket.back().cumulative_count, 3u);                       // +Inf
}

TEST(Registry, LocalResponseReasonsAndStatusClasses) {
  EXPECT_EQ(reason_for(503, "queue full"), Reason::kQueueFull);
  EXPECT_EQ(reason_for(503, "queue timeout"), Reason::kQueueTimeout);
  EXPECT_EQ(reason_for(503, "no server available"), Reason::kNoServer);
  EXPECT_EQ(reason_for(431, "x"), Reason::kTooLarge);
  EXPECT_EQ(reason_for(418, "x"), Reason::kOther);
  EXPECT_STREQ(reason_name(Reason::kUpstreamTimeout), "upstream_timeout");
  EXPECT_EQ(status_class(204), 2u);
  EXPECT_EQ(status_class(99), 0u);
  EXPECT_EQ(status_class(600), 0u);
}

TEST(Registry, ReloadsAndGaugeProvider) {
  Registry r(1);
  r.count_reload(true, 0x1234);
  r.count_reload(false, 0);
  r.set_gauge_provider([] {
    return std::vector<GaugeFamily>{
        {"fulcrum_server_up", "up", false, {{{{"backend", "a"}, {"server", "s"}}, 1.0}}}};
  });
  auto fs = r.collect();
  EXPECT_EQ(find(fs, "fulcrum_config_hash")->metric[0].gauge.value, 0x1234);
  const auto* reloads = find(fs, "fulcrum_config_reloads_total");
  EXPECT_EQ(reloads->metric[0].counter.value, 1);
  EXPECT_EQ(reloads->metric[1].counter.value, 1);
  ASSERT_NE(find(fs, "fulcrum_server_up"), nullptr);
  EXPECT_EQ(find(r.collect(false), "fulcrum_server_up"), nullptr);
}

}  // namespace
}  // namespace fulcrum::metrics
