// The mode: udp listener keys: defaults, reading, the rules validate() holds them to, and the
// round trip through to_yaml().
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace fulcrum::config {
namespace {

using ::testing::HasSubstr;

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += e.to_string() + "\n";
  return out;
}

std::string udp_listener(std::string_view extra) {
  return "listeners:\n  - address: 127.0.0.1:5353\n    mode: udp\n    backend: dns\n" +
         std::string(extra) + "backends:\n  - name: dns\n    servers: [127.0.0.1:53]\n";
}

TEST(UdpListenerKeys, Defaults) {
  LoadResult r = load_string(udp_listener(""), "t.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  const ListenerConfig& l = r.config->listeners.at(0);
  EXPECT_EQ(l.mode, Mode::kUdp);
  EXPECT_EQ(l.flow_idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(l.max_flows, 65536u);
}

TEST(UdpListenerKeys, ReadAndRoundTrip) {
  LoadResult r =
      load_string(udp_listener("    flow_idle_timeout: 1500ms\n    max_flows: 7\n"), "t.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->listeners[0].flow_idle_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(r.config->listeners[0].max_flows, 7u);
  const std::string yaml = to_yaml(*r.config);
  LoadResult back = load_string(yaml, "t.yaml");
  ASSERT_TRUE(back.config) << all_errors(back) << yaml;
  EXPECT_EQ(back.config->listeners, r.config->listeners);
}

TEST(UdpListenerKeys, Bounds) {
  LoadResult r =
      load_string(udp_listener("    flow_idle_timeout: 0s\n    max_flows: 16777217\n"), "t.yaml");
  EXPECT_FALSE(r.config);
  const std::string e = all_errors(r);
  EXPECT_THAT(e, HasSubstr("t.yaml:5:"));
  EXPECT_THAT(e, HasSubstr("listeners[0].flow_idle_timeout: must be greater than 0"));
  EXPECT_THAT(e, HasSubstr("t.yaml:6:"));
  EXPECT_THAT(e, HasSubstr("listeners[0].max_flows: expected a whole number from 1 to 16777216"));
}

TEST(UdpListenerKeys, ActiveHealthChecksOnAUdpBackendAreErrors) {
  LoadResult r = load_string(
      "listeners:\n  - address: 127.0.0.1:5353\n    mode: udp\n    backend: dns\n"
      "backends:\n  - name: dns\n    health_check: { type: tcp }\n    servers: [127.0.0.1:53]\n",
      "t.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_THAT(all_errors(r),
              HasSubstr("t.yaml:7:19: backends[0].health_check: backend 'dns' serves the udp "
                        "listener '127.0.0.1:5353': active checks (tcp, http) cannot check UDP "
                        "servers"));
  // Passive detection is the way: it loads.
  LoadResult ok = load_string(
      "listeners:\n  - address: 127.0.0.1:5353\n    mode: udp\n    backend: dns\n"
      "backends:\n  - name: dns\n    outlier: { consecutive_failures: 3 }\n"
      "    servers: [127.0.0.1:53]\n",
      "t.yaml");
  EXPECT_TRUE(ok.config) << all_errors(ok);
}

TEST(UdpListenerKeys, KeysOfOtherModesAreErrors) {
  LoadResult r = load_string(
      udp_listener("    idle_timeout: 5s\n    max_connections: 10\n    routes: []\n"), "t.yaml");
  EXPECT_FALSE(r.config);
  const std::string e = all_errors(r);
  EXPECT_THAT(e, HasSubstr("listeners[0].idle_timeout: idle_timeout does not apply to mode: udp"));
  EXPECT_THAT(e, HasSubstr("listeners[0].max_connections"));
  EXPECT_THAT(e, HasSubstr("listeners[0].routes"));

  LoadResult http = load_string(
      "listeners:\n  - address: 127.0.0.1:8080\n    backend: app\n    max_flows: 5\n"
      "backends:\n  - name: app\n    servers: [127.0.0.1:9001]\n",
      "t.yaml");
  EXPECT_FALSE(http.config);
  EXPECT_THAT(all_errors(http),
              HasSubstr("t.yaml:4:16: listeners[0].max_flows: max_flows applies to mode: udp "
                        "only; this listener is mode: http"));
}

}  // namespace
}  // namespace fulcrum::config
