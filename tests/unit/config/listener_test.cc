// The listener keys added with L7 routing: request_timeout, trusted_proxies, error_bodies,
// access_log, and `backend` becoming optional when there are routes. Also the full round trip
// through to_yaml() with every key of the schema.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace fulcrum::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

LoadResult load(std::string_view yaml) { return load_string(yaml, "t.yaml"); }

// `extra` is indented as listener keys (4 spaces) and goes after address: and backend:.
std::string listener_with(std::string_view extra) {
  return "listeners:\n  - address: 127.0.0.1:8080\n    backend: app\n" + std::string(extra) +
         "backends:\n  - name: app\n    servers: [127.0.0.1:9001]\n";
}

TEST(ListenerKeys, DefaultsWhenAbsent) {
  LoadResult r = load(listener_with(""));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const ListenerConfig& l = r.config->listeners.at(0);
  EXPECT_EQ(l.request_timeout, Duration(0));
  EXPECT_TRUE(l.trusted_proxies.empty());
  EXPECT_TRUE(l.error_bodies.empty());
  EXPECT_FALSE(l.access_log.enabled);
  EXPECT_TRUE(l.routes.empty());
}

TEST(ListenerKeys, ReadsEachKey) {
  LoadResult r = load(listener_with(R"y(    request_timeout: 90s
    trusted_proxies: [10.0.0.0/8, "::1", 192.168.1.7, "fd00::/8"]
    error_bodies: { 503: "Service unavailable, try again soon\n", 404: "nothing here\n" }
    access_log:
      format: json
      path: /var/log/fulcrum/access.log
)y"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const ListenerConfig& l = r.config->listeners.at(0);
  EXPECT_EQ(l.request_timeout, std::chrono::seconds(90));
  EXPECT_THAT(l.trusted_proxies, ElementsAre("10.0.0.0/8", "::1", "192.168.1.7", "fd00::/8"));
  EXPECT_EQ(l.error_bodies,
            (std::map<int, std::string>{{404, "nothing here\n"},
                                        {503, "Service unavailable, try again soon\n"}}));
  EXPECT_TRUE(l.access_log.enabled);
  EXPECT_EQ(l.access_log.format, AccessLogConfig::Format::kJson);
  EXPECT_EQ(l.access_log.path, "/var/log/fulcrum/access.log");
}

TEST(ListenerKeys, AccessLogPresentMeansOn) {
  for (std::string_view yaml : {"    access_log:\n", "    access_log: {}\n"}) {
    LoadResult r = load(listener_with(yaml));
    ASSERT_TRUE(r.config) << yaml << ::testing::PrintToString(messages(r));
    const AccessLogConfig& a = r.config->listeners.at(0).access_log;
    EXPECT_TRUE(a.enabled);
    EXPECT_EQ(a.format, AccessLogConfig::Format::kCombined);
    EXPECT_EQ(a.path, "stdout");
  }
  LoadResult r = load(listener_with("    access_log: {path: stderr}\n"));
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->listeners.at(0).access_log.path, "stderr");
}

TEST(ListenerKeys, AccessLogErrors) {
  EXPECT_THAT(messages(load(listener_with("    access_log: off\n"))),
              ElementsAre("t.yaml:4:17: listeners[0].access_log: expected a mapping (format:, "
                          "path:); leave access_log out to turn the log off, got \"off\""));
  EXPECT_THAT(messages(load(listener_with(R"y(    access_log:
      format: combind
      path: stdot
      rotate: daily
)y"))),
              ElementsAre("t.yaml:5:15: listeners[0].access_log.format: expected one of: "
                          "combined, json, got \"combind\"; did you mean 'combined'?",
                          "t.yaml:6:13: listeners[0].access_log.path: expected stdout, stderr or "
                          "an absolute file path, got \"stdot\"; did you mean 'stdout'?",
                          "t.yaml:7:7: listeners[0].access_log: unknown key 'rotate'; expected "
                          "one of: format, path"));
  EXPECT_THAT(messages(load(listener_with("    access_log: {path: logs/access.log}\n"))),
              ElementsAre("t.yaml:4:24: listeners[0].access_log.path: expected stdout, stderr "
                          "or an absolute file path, got \"logs/access.log\""));
}

TEST(ListenerKeys, RequestTimeout) {
  LoadResult r = load(listener_with("    request_timeout: 0\n"));
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->listeners.at(0).request_timeout, Duration(0));
  EXPECT_THAT(messages(load(listener_with("    request_timeout: 30\n"))),
              ElementsAre("t.yaml:4:22: listeners[0].request_timeout: expected a duration like "
                          "5s or 250ms (missing unit: ms, s, m or h), got \"30\""));
  EXPECT_THAT(messages(load(listener_with("    request_timout: 30s\n"))),
              ElementsAre("t.yaml:4:5: listeners[0]: unknown key 'request_timout'; did you mean "
                          "'request_timeout'?"));
}

TEST(ListenerKeys, TrustedProxiesNameTheBadItem) {
  EXPECT_THAT(messages(load(listener_with(R"y(    trusted_proxies:
      - 10.0.0.0/8
      - 10.0.0.0/33
      - proxy.internal
      - "::1/129"
      - [1]
)y"))),
              ElementsAre("t.yaml:6:9: listeners[0].trusted_proxies[1]: expected an address or "
                          "CIDR like 10.0.0.0/8 or ::1, got \"10.0.0.0/33\"",
                          "t.yaml:7:9: listeners[0].trusted_proxies[2]: expected an address or "
                          "CIDR like 10.0.0.0/8 or ::1, got \"proxy.internal\"",
                          "t.yaml:8:9: listeners[0].trusted_proxies[3]: expected an address or "
                          "CIDR like 10.0.0.0/8 or ::1, got \"::1/129\"",
                          "t.yaml:9:9: listeners[0].trusted_proxies[4]: expected an address or "
                          "CIDR, got a list"));
  EXPECT_THAT(messages(load(listener_with("    trusted_proxies: 10.0.0.0/8\n"))),
              ElementsAre("t.yaml:4:22: listeners[0].trusted_proxies: expected a list of "
                          "addresses or CIDRs, got a single value"));
}

TEST(ListenerKeys, ErrorBodiesOnlyForGeneratedStatuses) {
  EXPECT_THAT(messages(load(listener_with(R"y(    error_bodies:
      503: "later\n"
      500: "oops"
      teapot: "418"
      404: [x]
)y"))),
              ElementsAre("t.yaml:6:7: listeners[0].error_bodies.500: lbd generates no 500 "
                          "error; expected one of: 400, 404, 408, 413, 414, 431, 502, 503, 504",
                          "t.yaml:7:7: listeners[0].error_bodies: expected an HTTP status code "
                          "as the key (400, 404, 408, 413, 414, 431, 502, 503 or 504), got "
                          "\"teapot\"",
                          "t.yaml:8:12: listeners[0].error_bodies.404: expected the body text, "
                          "got a list"));
  std::string big = "    error_bodies:\n      502: \"" + std::string(8193, 'x') + "\"\n";
  EXPECT_THAT(messages(load(listener_with(big))),
              ElementsAre("t.yaml:5:7: listeners[0].error_bodies.502: at most 8KiB, got 8193 "
                          "bytes"));
  EXPECT_THAT(messages(load(listener_with("    error_bodies: [503]\n"))),
              ElementsAre("t.yaml:4:19: listeners[0].error_bodies: expected a mapping of "
                          "status: body (e.g. 503: \"try again\"), got a list"));
}

TEST(ListenerKeys, BackendIsOptionalOnlyWithRoutes) {
  LoadResult r = load(R"y(listeners:
  - address: 127.0.0.1:8080
    routes:
      - backend: app
backends:
  - name: app
    servers: [127.0.0.1:9001]
)y");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->listeners.at(0).backend, "");
  // With `routes: []` there is still nowhere to send a request.
  EXPECT_THAT(messages(load(R"y(listeners:
  - address: 127.0.0.1:8080
    routes: []
backends:
  - name: app
    servers: [127.0.0.1:9001]
)y")),
              ElementsAre("t.yaml:2:5: listeners[0].backend: backend is required (unless the "
                          "listener has routes): the name of one of the backends"));
}

// Every key of the schema, each away from its default where it has one.
constexpr std::string_view kEverything = R"y(workers: 3
shutdown_timeout: 2s
log_level: debug
listeners:
  - name: web
    address: 0.0.0.0:80
    mode: http
    header_timeout: 3s
    idle_timeout: 4s
    request_timeout: 5m
    max_header_size: 8KiB
    max_body: 1MiB
    trusted_proxies: [10.0.0.0/8, "::1", "fd00::/8"]
    error_bodies: {503: "Service unavailable, try again soon\n", 404: "nothing here\n"}
    access_log: {format: json, path: /var/log/lbd/access.log}
    routes:
      - name: api
        match:
          host: [api.example.com, "*.example.com"]
          path_prefix: /api/
          method: [GET, POST]
          headers: [{name: X-Canary, value: "1"}, {name: X-Debug}, {name: User-Agent, regex: bot}]
          query: [{name: debug}, {name: v, value: "2"}, {name: "q:x", regex: "^a,b$"}]
          cookies: [{name: beta, regex: "^(1|yes)$"}]
          source: [10.0.0.0/8, 192.168.1.7, "::1"]
        backend: api
        request_headers: {set: {X-A: "1", X-Colon: "a: b"}, add: {X-B: " two "}, remove: [X-C]}
        response_headers: {set: {Server: lbd}, add: {Set-Cookie: "a=1; Path=/"}, remove: [Via]}
        rewrite: {strip_prefix: /api, regex: "^/old/(.*)", replace: "/new/\\1"}
      - name: exact
        match: {path: /exact}
        split: [{backend: api, weight: 90}, {backend: www, weight: 0}, {backend: www, weight: 10}]
      - match: {path_regex: "^/v[0-9]+/"}
        redirect: {to: "https://$host$request_uri", status: 308}
      - respond:
          status: 503
          body: "down\n\tfor \"now\"\n"
          content_type: "text/plain; charset=utf-8"
  - address: "[::1]:81"
    backend: www
backends:
  - name: api
    servers: [10.0.0.1:80]
  - name: www
    servers: [10.0.0.2:80]
)y";

TEST(ListenerKeys, EverythingRoundTrips) {
  LoadResult r = load(kEverything);
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const ListenerConfig& l = r.config->listeners.at(0);
  ASSERT_EQ(l.routes.size(), 4u);
  EXPECT_EQ(l.routes[2].name, "route-3");
  EXPECT_EQ(l.routes[3].respond_body, "down\n\tfor \"now\"\n");
  EXPECT_EQ(l.routes[0].request_headers.set[1].second, "a: b");

  std::string yaml = to_yaml(*r.config);
  LoadResult again = load_string(yaml, "t.yaml");
  ASSERT_TRUE(again.config) << yaml << ::testing::PrintToString(messages(again));
  EXPECT_EQ(*again.config, *r.config) << yaml;
  EXPECT_EQ(to_yaml(*again.config), yaml);
  EXPECT_THAT(yaml, HasSubstr("    request_timeout: 5m\n"));
  EXPECT_THAT(yaml, HasSubstr("    access_log:\n      format: json\n"));
  EXPECT_THAT(yaml, HasSubstr("        redirect:\n          to: \"https://$host$request_uri\"\n"));
  // The second listener: no routes, every new key at its default, no access_log key.
  EXPECT_THAT(yaml, HasSubstr("    request_timeout: 0s\n    max_header_size: 16KiB\n"));
  EXPECT_THAT(yaml, HasSubstr("    trusted_proxies: []\n    error_bodies: {}\n    routes: []\n"));

  // Each new field takes part in equality.
  Config changed = *again.config;
  changed.listeners[0].routes[0].match.headers[2].value = "bots";
  EXPECT_NE(changed, *r.config);
  changed = *again.config;
  changed.listeners[0].access_log.format = AccessLogConfig::Format::kCombined;
  EXPECT_NE(changed, *r.config);
}

TEST(ListenerKeys, RoundTripOfAHandBuiltQuickModeConfig) {
  // What `lbd proxy --access-log combined --print-config` prints must load back.
  LoadResult r = load(listener_with(""));
  ASSERT_TRUE(r.config);
  Config c = *r.config;
  c.listeners[0].access_log.enabled = true;
  std::string yaml = to_yaml(c);
  EXPECT_THAT(yaml, HasSubstr("    access_log:\n      format: combined\n      path: stdout\n"));
  LoadResult again = load_string(yaml, "t.yaml");
  ASSERT_TRUE(again.config) << yaml << ::testing::PrintToString(messages(again));
  EXPECT_EQ(*again.config, c);
}

}  // namespace
}  // namespace fulcrum::config
