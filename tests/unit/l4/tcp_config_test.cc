// mode: tcp configuration: the keys load, defaults differ from http where they should, mistakes
// are located, the YAML writer round-trips them, and the snapshot compiles SNI routes in the
// order the session matches them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "l7/snapshot.h"

namespace fulcrum::l4 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> messages(const config::LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

constexpr const char* kTcp = R"(listeners:
  - name: edge
    address: 127.0.0.1:8443
    mode: tcp
    max_connections: 100
    proxy_protocol_from: [10.0.0.0/8, "::1"]
    sni_routes:
      - sni: [api.example.com, "*.example.com"]
        backend: api
      - sni: ["*.eu.example.com"]
        backend: eu
    backend: web
backends:
  - name: api
    send_proxy_protocol: v2
    retries: 0
    servers: [127.0.0.1:9001]
  - name: eu
    servers: [127.0.0.1:9002]
  - name: web
    servers: [127.0.0.1:9003]
)";

TEST(TcpConfig, LoadsTheTcpKeys) {
  const config::LoadResult r = config::load_string(kTcp, "t.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const config::ListenerConfig& l = r.config->listeners[0];
  EXPECT_EQ(l.mode, config::Mode::kTcp);
  EXPECT_EQ(l.max_connections, 100u);
  EXPECT_THAT(l.proxy_protocol_from, ElementsAre("10.0.0.0/8", "::1"));
  ASSERT_EQ(l.sni_routes.size(), 2u);
  EXPECT_THAT(l.sni_routes[0].sni, ElementsAre("api.example.com", "*.example.com"));
  EXPECT_EQ(l.sni_routes[1].backend, "eu");
  EXPECT_EQ(l.idle_timeout, std::chrono::hours(1));  // tcp default, not http's 60s
  EXPECT_EQ(r.config->backends[0].send_proxy_protocol, config::ProxyProtocol::kV2);
  EXPECT_EQ(r.config->backends[0].retries, 0u);
  EXPECT_EQ(r.config->backends[1].send_proxy_protocol, config::ProxyProtocol::kNone);
  EXPECT_EQ(r.config->backends[1].retries, 2u);
}

TEST(TcpConfig, RoundTripsThroughTheWriter) {
  const config::LoadResult r = config::load_string(kTcp, "t.yaml");
  ASSERT_TRUE(r.config);
  const std::string yaml = config::to_yaml(*r.config);
  const config::LoadResult again = config::load_string(yaml, "t.yaml");
  ASSERT_TRUE(again.config) << yaml << ::testing::PrintToString(messages(again));
  EXPECT_EQ(config::to_yaml(*again.config), yaml);
  EXPECT_TRUE(again.config->listeners[0] == r.config->listeners[0]);
}

TEST(TcpConfig, MistakesAreLocated) {
  const config::LoadResult r = config::load_string(R"(listeners:
  - address: 127.0.0.1:8443
    mode: tcp
    access_log: {format: json}
    sni_routes:
      - sni: [a.example.com, "bad name"]
        backend: ap
      - sni: [A.example.com]
        backend: api
backends:
  - name: api
    send_proxy_protocol: v3
    servers: [127.0.0.1:9001]
)",
                                                   "t.yaml");
  EXPECT_FALSE(r.config);
  const std::vector<std::string> m = messages(r);
  const auto has = [&](const std::string& needle) {
    return std::any_of(m.begin(), m.end(),
                       [&](const std::string& s) { return s.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(has("t.yaml:12:26: backends[0].send_proxy_protocol: expected one of: none, v1, v2"))
      << ::testing::PrintToString(m);
  EXPECT_TRUE(has("listeners[0].access_log: access_log applies to mode: http only"))
      << ::testing::PrintToString(m);
  EXPECT_TRUE(has("listeners[0].sni_routes[0].sni[1]: expected a server name"))
      << ::testing::PrintToString(m);
  EXPECT_TRUE(
      has("t.yaml:7:18: listeners[0].sni_routes[0].backend: no backend named 'ap'; did "
          "you mean 'api'?"))
      << ::testing::PrintToString(m);
  EXPECT_TRUE(
      has("listeners[0].sni_routes[1].sni[0]: server name \"A.example.com\" is already "
          "routed by sni_routes[0]"))
      << ::testing::PrintToString(m);
}

TEST(TcpConfig, SnapshotOrdersWildcardsLongestFirst) {
  const config::LoadResult r = config::load_string(kTcp, "t.yaml");
  ASSERT_TRUE(r.config);
  l7::ServerIds ids;
  std::vector<config::ConfigError> errors;
  auto snap = l7::build_snapshot(
      std::make_shared<const config::Config>(*r.config), ids, 1,
      [](const std::string&, std::string&) { return nullptr; }, errors);
  ASSERT_TRUE(snap) << ::testing::PrintToString(errors.size());
  const l7::Listener& l = snap->listeners[0];
  EXPECT_TRUE(l.sni_routing);
  EXPECT_EQ(l.max_connections, 100u);
  EXPECT_TRUE(l.proxy_protocol_from.contains(asio::ip::make_address("10.9.8.7")));
  EXPECT_FALSE(l.proxy_protocol_from.contains(asio::ip::make_address("127.0.0.1")));
  ASSERT_EQ(l.sni_exact.size(), 1u);
  EXPECT_EQ(l.sni_exact.begin()->second->name, "api");
  ASSERT_EQ(l.sni_wildcards.size(), 2u);
  EXPECT_EQ(l.sni_wildcards[0].first, ".eu.example.com");
  EXPECT_EQ(l.sni_wildcards[0].second->name, "eu");
  EXPECT_EQ(l.sni_wildcards[1].first, ".example.com");
  EXPECT_EQ(snap->backends[0]->send_proxy_protocol, 2);
  EXPECT_EQ(snap->backends[0]->retries, 0u);
}

}  // namespace
}  // namespace fulcrum::l4
