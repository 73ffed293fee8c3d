// The backend keys added with balancing and health checking: balance, consistent_hash,
// hash_key, health_check, outlier, and the server keys backup, max_connections, slow_start and
// admin. Each is read, each mistake is located, and everything round-trips through to_yaml().
// Also the parse_* functions the quick mode shares (config/parse_enums.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "config/parse_enums.h"

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

// `extra` is indented as backend keys (4 spaces) and goes on line 6, after the backend's name.
// The servers follow it.
std::string backend_with(std::string_view extra,
                         std::string_view servers = "      - 10.0.0.1:80\n") {
  return "listeners:\n  - address: 127.0.0.1:8080\n    backend: app\nbackends:\n  - name: app\n" +
         std::string(extra) + "    servers:\n" + std::string(servers);
}

TEST(BackendKeys, DefaultsWhenAbsent) {
  LoadResult r = load(backend_with(""));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const BackendConfig& b = r.config->backends.at(0);
  EXPECT_EQ(b.balance, BalanceAlgorithm::kRoundRobin);
  EXPECT_EQ(b.hash_key, HashKey{});
  EXPECT_EQ(b.hash_balance_factor, 1.25);
  EXPECT_EQ(b.health_check.type, HealthCheckConfig::Type::kNone);
  EXPECT_EQ(b.health_check, HealthCheckConfig{});
  EXPECT_FALSE(b.outlier.enabled);
  const ServerConfig& s = b.servers.at(0);
  EXPECT_FALSE(s.backup);
  EXPECT_EQ(s.max_connections, 0u);
  EXPECT_EQ(s.slow_start, Duration(0));
  EXPECT_EQ(s.admin, ServerConfig::Admin::kEnabled);
}

TEST(BackendKeys, EachBalanceName) {
  const std::pair<const char*, BalanceAlgorithm> cases[] = {
      {"round_robin", BalanceAlgorithm::kRoundRobin},
      {"weighted_round_robin", BalanceAlgorithm::kWeightedRoundRobin},
      {"least_connections", BalanceAlgorithm::kLeastConnections},
      {"random", BalanceAlgorithm::kRandom},
      {"p2c_ewma", BalanceAlgorithm::kP2cEwma},
      {"source_hash", BalanceAlgorithm::kSourceHash},
      {"first", BalanceAlgorithm::kFirst}};
  for (auto [name, want] : cases) {
    LoadResult r = load(backend_with("    balance: " + std::string(name) + "\n"));
    ASSERT_TRUE(r.config) << name << ::testing::PrintToString(messages(r));
    EXPECT_EQ(r.config->backends[0].balance, want) << name;
    EXPECT_EQ(balance_yaml_name(want), name);
  }
  LoadResult r = load(backend_with("    balance: consistent_hash\n    consistent_hash: {}\n"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->backends[0].balance, BalanceAlgorithm::kMaglev);  // the default method
  r = load(backend_with(
      "    consistent_hash: { method: ring_hash, balance_factor: 1.5, key: \"cookie:sid\" }\n"
      "    balance: consistent_hash\n"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const BackendConfig& b = r.config->backends[0];
  EXPECT_EQ(b.balance, BalanceAlgorithm::kRingHash);
  EXPECT_EQ(b.hash_balance_factor, 1.5);
  EXPECT_EQ(b.hash_key, (HashKey{HashKey::Kind::kCookie, "sid"}));
}

TEST(BackendKeys, ReadsEachKey) {
  LoadResult r = load(backend_with(R"y(    balance: consistent_hash
    consistent_hash: { method: maglev, key: "header:X-User" }
    health_check:
      type: http
      interval: 5s
      timeout: 500ms
      rise: 1
      fall: 4
      method: HEAD
      path: /healthz?full=1
      host: api.internal
      expect_status: [200, "200-399", 404]
      expect_body: ok
      source: 10.0.0.5
    outlier:
      consecutive_5xx: 3
      consecutive_failures: 0
      base_ejection: 10s
      max_ejection: 5m
      max_ejection_percent: 34
)y",
                                   R"y(      - address: 10.0.0.1:80
        weight: 3
        backup: false
        max_connections: 100
        slow_start: 0s
        admin: drain
      - address: 10.0.0.2:80
        backup: true
        admin: disabled
)y"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const BackendConfig& b = r.config->backends.at(0);
  EXPECT_EQ(b.balance, BalanceAlgorithm::kMaglev);
  EXPECT_EQ(b.hash_key, (HashKey{HashKey::Kind::kHeader, "X-User"}));
  const HealthCheckConfig& hc = b.health_check;
  EXPECT_EQ(hc.type, HealthCheckConfig::Type::kHttp);
  EXPECT_EQ(hc.interval, std::chrono::seconds(5));
  EXPECT_EQ(hc.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(hc.rise, 1u);
  EXPECT_EQ(hc.fall, 4u);
  EXPECT_EQ(hc.method, "HEAD");
  EXPECT_EQ(hc.path, "/healthz?full=1");
  EXPECT_EQ(hc.host, "api.internal");
  EXPECT_THAT(hc.expect_status,
              ElementsAre(std::pair(200, 200), std::pair(200, 399), std::pair(404, 404)));
  EXPECT_EQ(hc.expect_body, "ok");
  EXPECT_EQ(hc.source, "10.0.0.5");
  const OutlierConfig& o = b.outlier;
  EXPECT_TRUE(o.enabled);
  EXPECT_EQ(o.consecutive_5xx, 3u);
  EXPECT_EQ(o.consecutive_failures, 0u);
  EXPECT_EQ(o.base_ejection, std::chrono::seconds(10));
  EXPECT_EQ(o.max_ejection, std::chrono::minutes(5));
  EXPECT_EQ(o.max_ejection_percent, 34u);
  const ServerConfig& s = b.servers.at(0);
  EXPECT_EQ(s.weight, 3u);
  EXPECT_FALSE(s.backup);
  EXPECT_EQ(s.max_connections, 100u);
  EXPECT_EQ(s.slow_start, Duration(0));
  EXPECT_EQ(s.admin, ServerConfig::Admin::kDrain);
  EXPECT_TRUE(b.servers.at(1).backup);
  EXPECT_EQ(b.servers.at(1).admin, ServerConfig::Admin::kDisabled);
}

TEST(BackendKeys, PresentBlocksTurnThingsOn) {
  LoadResult r = load(backend_with("    health_check: { type: tcp }\n    outlier:\n"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const BackendConfig& b = r.config->backends[0];
  EXPECT_EQ(b.health_check.type, HealthCheckConfig::Type::kTcp);
  EXPECT_EQ(b.health_check.interval, std::chrono::seconds(2));
  EXPECT_TRUE(b.outlier.enabled);
  EXPECT_EQ(b.outlier.max_ejection, std::chrono::minutes(5));
  // A single status or range is short for a list of one.
  r = load(backend_with("    health_check: { type: http, expect_status: 200-299 }\n"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_THAT(r.config->backends[0].health_check.expect_status, ElementsAre(std::pair(200, 299)));
}

TEST(BackendKeys, BalanceAndHashErrors) {
  auto errors = [](std::string_view extra) { return messages(load(backend_with(extra))); };
  EXPECT_THAT(errors("    balance: maglev\n"),
              ElementsAre("t.yaml:6:14: backends[0].balance: expected one of: round_robin, "
                          "weighted_round_robin, least_connections, random, p2c_ewma, "
                          "source_hash, consistent_hash, first, got \"maglev\"; write balance: "
                          "consistent_hash with consistent_hash: { method: maglev }"));
  EXPECT_THAT(errors("    balance: consistent_hash\n"),
              ElementsAre("t.yaml:6:14: backends[0].balance: balance: consistent_hash needs a "
                          "consistent_hash block, e.g. consistent_hash: { method: maglev, key: "
                          "\"header:X-User\" }"));
  EXPECT_THAT(errors("    balance: least_connections\n    consistent_hash: { method: maglev }\n"),
              ElementsAre("t.yaml:7:5: backends[0].consistent_hash: consistent_hash applies only "
                          "with balance: consistent_hash (this backend's balance is "
                          "least_connections)"));
  // The key inside a misplaced block is not reported a second time as a misplaced hash_key.
  EXPECT_THAT(errors("    consistent_hash: { key: path }\n"),
              ElementsAre("t.yaml:6:5: backends[0].consistent_hash: consistent_hash applies only "
                          "with balance: consistent_hash (this backend's balance is "
                          "round_robin)"));
  EXPECT_THAT(errors("    balance: consistent_hash\n    consistent_hash: { method: rnig_hash }\n"),
              ElementsAre("t.yaml:7:32: backends[0].consistent_hash.method: expected one of: "
                          "maglev, ring_hash, got \"rnig_hash\"; did you mean 'ring_hash'?"));
  EXPECT_THAT(
      errors("    balance: consistent_hash\n    consistent_hash:\n      balance_factor: 1.5\n"),
      ElementsAre("t.yaml:8:23: backends[0].consistent_hash.balance_factor: balance_factor "
                  "applies only to method: ring_hash (bounded loads); maglev has none"));
  EXPECT_THAT(errors("    balance: consistent_hash\n    consistent_hash:\n      method: "
                     "ring_hash\n      balance_factor: 1.25x\n"),
              ElementsAre("t.yaml:9:23: backends[0].consistent_hash.balance_factor: expected a "
                          "number greater than 1, like 1.25, got \"1.25x\""));
  EXPECT_THAT(errors("    balance: consistent_hash\n    consistent_hash:\n      method: "
                     "ring_hash\n      balance_factor: 0.9\n"),
              ElementsAre("t.yaml:9:23: backends[0].consistent_hash.balance_factor: must be "
                          "greater than 1 and at most 100, got 0.9"));
  EXPECT_THAT(errors("    balance: source_hash\n    hash_key: \"header:\"\n"),
              ElementsAre("t.yaml:7:15: backends[0].hash_key: expected source, header:NAME, "
                          "cookie:NAME, path or query:NAME; 'header:' takes a header name, got "
                          "\"header:\""));
  EXPECT_THAT(errors("    balance: source_hash\n    hash_key: sorce\n"),
              ElementsAre("t.yaml:7:15: backends[0].hash_key: expected source, header:NAME, "
                          "cookie:NAME, path or query:NAME (did you mean 'source'?), got "
                          "\"sorce\""));
  EXPECT_THAT(errors("    hash_key: source\n"),
              ElementsAre("t.yaml:6:15: backends[0].hash_key: hash_key is used only by balance: "
                          "source_hash and consistent_hash (this backend's balance is "
                          "round_robin)"));
  EXPECT_THAT(errors("    balance: consistent_hash\n    consistent_hash: { key: path }\n    "
                     "hash_key: source\n"),
              ElementsAre("t.yaml:8:15: backends[0].hash_key: the key is already given by "
                          "consistent_hash.key; give it in one place"));
  EXPECT_THAT(errors("    balance: consistent_hash\n    consistent_hash: { methd: maglev }\n"),
              ElementsAre("t.yaml:7:24: backends[0].consistent_hash: unknown key 'methd'; did "
                          "you mean 'method'?"));
}

TEST(BackendKeys, HealthCheckErrors) {
  auto errors = [](std::string_view extra) { return messages(load(backend_with(extra))); };
  EXPECT_THAT(errors("    health_check: http\n"),
              ElementsAre("t.yaml:6:19: backends[0].health_check: expected a mapping (type:, "
                          "interval:, ...); leave health_check out for no active checks, got "
                          "\"http\""));
  EXPECT_THAT(errors("    health_check:\n      interval: 5s\n"),
              ElementsAre("t.yaml:6:5: backends[0].health_check.type: type is required: tcp or "
                          "http"));
  EXPECT_THAT(errors("    health_check: { type: icmp }\n"),
              ElementsAre("t.yaml:6:27: backends[0].health_check.type: expected one of: tcp, "
                          "http, got \"icmp\"; did you mean 'tcp'?"));
  EXPECT_THAT(errors("    health_check:\n      type: tcp\n      interval: 1s\n      timeout: "
                     "2s\n      rise: 0\n      fall: 3x\n"),
              ElementsAre("t.yaml:9:16: backends[0].health_check.timeout: must be at most the "
                          "interval (1s), got 2s",
                          "t.yaml:10:13: backends[0].health_check.rise: expected a whole number "
                          "from 1 to 100, got \"0\"",
                          "t.yaml:11:13: backends[0].health_check.fall: expected a whole number "
                          "from 1 to 100, got \"3x\""));
  EXPECT_THAT(errors("    health_check:\n      type: tcp\n      method: GET\n      path: /h\n"),
              ElementsAre("t.yaml:8:15: backends[0].health_check.method: 'method' is only for "
                          "type: http (this check is tcp)",
                          "t.yaml:9:13: backends[0].health_check.path: 'path' is only for type: "
                          "http (this check is tcp)"));
  EXPECT_THAT(errors("    health_check:\n      type: http\n      method: get\n      path: "
                     "healthz\n      source: 10.0.0.5:80\n      intervall: 2s\n"),
              ElementsAre("t.yaml:8:15: backends[0].health_check.method: methods are "
                          "case-sensitive: 'get' is not what servers expect; did you mean 'GET'?",
                          "t.yaml:9:13: backends[0].health_check.path: expected a path starting "
                          "with / (no spaces), like /healthz, got \"healthz\"",
                          "t.yaml:10:15: backends[0].health_check.source: expected an IP address "
                          "like 10.0.0.5 or fd00::5 (no port), got \"10.0.0.5:80\"",
                          "t.yaml:11:7: backends[0].health_check: unknown key 'intervall'; did "
                          "you mean 'interval'?"));
  EXPECT_THAT(
      errors("    health_check:\n      type: http\n      expect_status: [99, \"300-200\", 2xx]\n"),
      ElementsAre("t.yaml:8:23: backends[0].health_check.expect_status[0]: expected a status "
                  "from 100 to 599 or a range like \"200-399\", got \"99\"",
                  "t.yaml:8:27: backends[0].health_check.expect_status[1]: expected a status "
                  "from 100 to 599 or a range like \"200-399\", got \"300-200\"",
                  "t.yaml:8:38: backends[0].health_check.expect_status[2]: expected a status "
                  "from 100 to 599 or a range like \"200-399\", got \"2xx\""));
  EXPECT_THAT(errors("    health_check:\n      type: http\n      expect_status: []\n"),
              ElementsAre("t.yaml:8:22: backends[0].health_check.expect_status: at least one "
                          "status or range is required"));
}

TEST(BackendKeys, OutlierErrors) {
  auto errors = [](std::string_view extra) { return messages(load(backend_with(extra))); };
  EXPECT_THAT(errors("    outlier: on\n"),
              ElementsAre("t.yaml:6:14: backends[0].outlier: expected a mapping "
                          "(consecutive_5xx:, base_ejection:, ...); leave outlier out to turn "
                          "detection off, got \"on\""));
  EXPECT_THAT(errors("    outlier:\n      base_ejection: 1m\n      max_ejection: 30s\n      "
                     "max_ejection_percent: 101\n"),
              ElementsAre("t.yaml:8:21: backends[0].outlier.max_ejection: must be at least "
                          "base_ejection (1m), got 30s",
                          "t.yaml:9:29: backends[0].outlier.max_ejection_percent: expected a "
                          "whole number from 0 to 100, got \"101\""));
  EXPECT_THAT(errors("    outlier:\n      consecutive_5xx: 0\n      consecutive_failures: 0\n"),
              ElementsAre("t.yaml:7:7: backends[0].outlier: consecutive_5xx and "
                          "consecutive_failures are both 0, so no server would ever be ejected; "
                          "leave outlier out to turn detection off"));
  EXPECT_THAT(errors("    outlier: { base_ejection: 0, consecutive_5x: 3 }\n"),
              ElementsAre("t.yaml:6:31: backends[0].outlier.base_ejection: must be greater than "
                          "0, got 0s",
                          "t.yaml:6:34: backends[0].outlier: unknown key 'consecutive_5x'; did "
                          "you mean 'consecutive_5xx'?"));
}

TEST(BackendKeys, ServerErrors) {
  auto errors = [](std::string_view servers) { return messages(load(backend_with("", servers))); };
  EXPECT_THAT(errors("      - address: 10.0.0.1:80\n        backup: yes\n        admin: drained\n"
                     "        max_connections: -1\n        slow_start: 30\n"),
              ElementsAre("t.yaml:8:17: backends[0].servers[0].backup: expected true or false, "
                          "got \"yes\"",
                          "t.yaml:9:16: backends[0].servers[0].admin: expected one of: enabled, "
                          "drain, disabled, got \"drained\"; did you mean 'drain'?",
                          "t.yaml:10:26: backends[0].servers[0].max_connections: expected a "
                          "whole number of at least 0, got \"-1\"",
                          "t.yaml:11:21: backends[0].servers[0].slow_start: expected a duration "
                          "like 5s or 250ms (missing unit: ms, s, m or h), got \"30\""));
  EXPECT_THAT(errors("      - { address: 10.0.0.1:80, backup: true }\n"
                     "      - { address: 10.0.0.2:80, backup: true }\n"),
              ElementsAre("t.yaml:7:7: backends[0].servers: at least one server must not be a "
                          "backup (backup servers take over only when every other server is "
                          "down)"));
}

TEST(BackendKeys, EverythingRoundTrips) {
  LoadResult r = load(R"(listeners:
  - address: 127.0.0.1:8080
    backend: ring
backends:
  - name: ring
    balance: consistent_hash
    consistent_hash: { method: ring_hash, key: "query:u%20id", balance_factor: 1.1 }
    health_check:
      type: http
      interval: 3s
      timeout: 3s
      rise: 5
      fall: 1
      method: OPTIONS
      path: "/health?a=b&c"
      host: ""
      expect_status: [204, 300-302]
      expect_body: "\"up\": true"
      source: "fd00::5"
    outlier: { consecutive_5xx: 0, max_ejection: 30s }
    servers:
      - address: 10.0.0.1:80
        backup: true
        max_connections: 4294967295
        slow_start: 0
        admin: disabled
      - 10.0.0.2:80
  - name: mag
    balance: consistent_hash
    consistent_hash: { method: maglev }
    servers: [10.0.0.3:80]
  - name: src
    balance: source_hash
    hash_key: header:X-Real-IP
    health_check: { type: tcp, source: 10.0.0.9 }
    servers: [10.0.0.4:80]
  - name: p2c
    balance: p2c_ewma
    sticky: { mode: learn, cookie: JSESSIONID, ttl: 30m, table_size: 1000 }
    queue: { size: 10, timeout: 250ms }
    servers:
      - address: 10.0.0.5:80
        slow_start: 20s
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  std::string yaml = to_yaml(*r.config);
  LoadResult again = load_string(yaml, "t.yaml");
  ASSERT_TRUE(again.config) << yaml << ::testing::PrintToString(messages(again));
  EXPECT_EQ(*again.config, *r.config) << yaml;
  EXPECT_EQ(to_yaml(*again.config), yaml);
  EXPECT_THAT(yaml, HasSubstr("    balance: consistent_hash\n    consistent_hash:\n      method: "
                              "ring_hash\n      key: \"query:u%20id\"\n      balance_factor: "
                              "1.1\n"));
  EXPECT_THAT(yaml, HasSubstr("      method: maglev\n      key: source\n    queue:\n      size: "
                              "1024\n      timeout: 5s\n    connect_timeout"));
  EXPECT_THAT(yaml, HasSubstr("    hash_key: header:X-Real-IP\n    health_check:\n      type: "
                              "tcp\n"));
  EXPECT_THAT(yaml, HasSubstr("      expect_status: [204, \"300-302\"]\n"));
  EXPECT_THAT(yaml, HasSubstr("        backup: true\n        max_connections: 4294967295\n"
                              "        slow_start: 0s\n        admin: disabled\n"));
  // Backends that do not hash have no hash keys; those without checks no health blocks.
  EXPECT_THAT(yaml,
              HasSubstr("    balance: p2c_ewma\n    sticky:\n      mode: learn\n      cookie: "
                        "JSESSIONID\n      ttl: 30m\n      table_size: 1000\n    queue:\n"
                        "      size: 10\n      timeout: 250ms\n    connect_timeout: 5s\n"));
  EXPECT_THAT(yaml, HasSubstr("        slow_start: 20s\n"));

  // Each new field takes part in equality.
  auto differs = [&](auto change) {
    Config c = *again.config;
    change(c);
    return c != *r.config;
  };
  EXPECT_TRUE(differs([](Config& c) { c.backends[0].hash_balance_factor = 1.2; }));
  EXPECT_TRUE(differs([](Config& c) { c.backends[0].health_check.expect_status[1].second = 303; }));
  EXPECT_TRUE(differs([](Config& c) { c.backends[0].outlier.max_ejection_percent = 49; }));
  EXPECT_TRUE(
      differs([](Config& c) { c.backends[0].servers[1].admin = ServerConfig::Admin::kDrain; }));
  EXPECT_TRUE(differs([](Config& c) { c.backends[2].hash_key.name = "X"; }));
  EXPECT_TRUE(differs([](Config& c) { c.backends[3].queue.size = 11; }));
  EXPECT_TRUE(differs([](Config& c) { c.backends[3].sticky.ttl = std::chrono::minutes(31); }));
}

TEST(BackendKeys, StickyLearnAndQueueErrors) {
  auto errors = [](const std::string& backend_keys) {
    return messages(
        load("listeners:\n  - address: 127.0.0.1:80\n    backend: b\nbackends:\n"
             "  - name: b\n    servers: [127.0.0.1:81]\n" +
             backend_keys));
  };
  EXPECT_THAT(errors("    sticky: { mode: learn }\n"),
              ElementsAre("t.yaml:7:13: backends[0].sticky.cookie: mode: learn needs the name of "
                          "the cookie the application sets (e.g. cookie: JSESSIONID)"));
  EXPECT_THAT(errors("    sticky: { mode: lern, cookie: S }\n"),
              ElementsAre("t.yaml:7:21: backends[0].sticky.mode: expected one of: insert, "
                          "learn, got \"lern\"; did you mean 'learn'?"));
  EXPECT_THAT(errors("    sticky: { cookie: S, ttl: 1h }\n"),
              ElementsAre("t.yaml:7:31: backends[0].sticky.ttl: 'ttl' is only for mode: learn "
                          "(this backend inserts its own cookie)"));
  EXPECT_THAT(errors("    sticky: { mode: learn, cookie: S, ttl: 0s, table_size: 0 }\n"),
              ElementsAre("t.yaml:7:44: backends[0].sticky.ttl: must be greater than 0, got 0s",
                          "t.yaml:7:60: backends[0].sticky.table_size: expected a whole number "
                          "from 1 to 16777216, got \"0\""));
  EXPECT_THAT(errors("    queue: { size: -1, timeout: 0s }\n"),
              ElementsAre(HasSubstr("t.yaml:7:20: backends[0].queue.size: expected"),
                          "t.yaml:7:33: backends[0].queue.timeout: must be greater than 0, got "
                          "0s"));
  EXPECT_THAT(errors("    queue: 10\n"),
              ElementsAre("t.yaml:7:12: backends[0].queue: expected a mapping (size: N, timeout: "
                          "DURATION), got \"10\""));
}

TEST(BackendKeys, HandBuiltConfigsAreValidatedWithoutMarks) {
  // What the quick mode builds: no marks, so errors name paths only.
  LoadResult r = load(backend_with(""));
  ASSERT_TRUE(r.config);
  Config c = *r.config;
  BackendConfig& b = c.backends[0];
  b.hash_key = HashKey{HashKey::Kind::kHeader, "X-User"};
  b.health_check = *parse_health_check_flag("http:/healthz");
  b.health_check.timeout = std::chrono::seconds(3);
  b.outlier.enabled = true;
  b.outlier.consecutive_5xx = 0;
  b.outlier.consecutive_failures = 0;
  b.servers[0].backup = true;
  std::vector<ConfigError> errors;
  validate(c, errors);
  std::vector<std::string> got;
  for (const ConfigError& e : errors) got.push_back(e.to_string());
  EXPECT_THAT(got, ElementsAre(HasSubstr("backends[0].servers: at least one server must not be"),
                               "backends[0].hash_key: hash_key is used only by balance: "
                               "source_hash and consistent_hash (this backend's balance is "
                               "round_robin)",
                               "backends[0].health_check.timeout: must be at most the interval "
                               "(2s), got 3s",
                               HasSubstr("backends[0].outlier: consecutive_5xx and")));

  b = r.config->backends[0];
  b.balance = *parse_balance("ring_hash");
  b.hash_key = *parse_hash_key("cookie:sid");
  b.hash_balance_factor = 2;
  b.health_check = *parse_health_check_flag("tcp");
  errors.clear();
  validate(c, errors);
  EXPECT_TRUE(errors.empty()) << errors.at(0).to_string();
  std::string yaml = to_yaml(c);
  LoadResult again = load_string(yaml, "t.yaml");
  ASSERT_TRUE(again.config) << yaml << ::testing::PrintToString(messages(again));
  EXPECT_EQ(*again.config, c);
}

TEST(ParseEnums, Balance) {
  EXPECT_EQ(parse_balance("round_robin"), BalanceAlgorithm::kRoundRobin);
  EXPECT_EQ(parse_balance("first"), BalanceAlgorithm::kFirst);
  EXPECT_EQ(parse_balance("consistent_hash"), BalanceAlgorithm::kMaglev);
  EXPECT_EQ(parse_balance("maglev"), BalanceAlgorithm::kMaglev);
  EXPECT_EQ(parse_balance("ring_hash"), BalanceAlgorithm::kRingHash);
  std::string error;
  EXPECT_EQ(parse_balance("least_conn", &error), std::nullopt);
  EXPECT_EQ(error,
            "expected one of: round_robin, weighted_round_robin, least_connections, random, "
            "p2c_ewma, source_hash, consistent_hash, first, maglev, ring_hash (did you mean "
            "'least_connections'?)");
  EXPECT_EQ(parse_balance("Random"), std::nullopt);  // case matters, as in the YAML
  EXPECT_EQ(to_string(BalanceAlgorithm::kRingHash), "ring_hash");
  EXPECT_EQ(to_string(BalanceAlgorithm::kP2cEwma), "p2c_ewma");
}

TEST(ParseEnums, HashKey) {
  EXPECT_EQ(parse_hash_key("source"), HashKey{});
  EXPECT_EQ(parse_hash_key("path"), (HashKey{HashKey::Kind::kPath, ""}));
  EXPECT_EQ(parse_hash_key("header:X-User"), (HashKey{HashKey::Kind::kHeader, "X-User"}));
  EXPECT_EQ(parse_hash_key("cookie:sid"), (HashKey{HashKey::Kind::kCookie, "sid"}));
  EXPECT_EQ(parse_hash_key("query:user"), (HashKey{HashKey::Kind::kQuery, "user"}));
  for (std::string_view bad :
       {"", "src", "header:", "header:a b", "query:a&b", "path:x", "cookie:", "Source"}) {
    std::string error;
    EXPECT_EQ(parse_hash_key(bad, &error), std::nullopt) << bad;
    EXPECT_THAT(error, HasSubstr("expected source, header:NAME, cookie:NAME, path or query:NAME"))
        << bad;
  }
  for (std::string_view s : {"source", "path", "header:X-User", "cookie:sid", "query:q"}) {
    EXPECT_EQ(format_hash_key(*parse_hash_key(s)), s);
  }
}

TEST(ParseEnums, HealthCheckFlag) {
  auto tcp = parse_health_check_flag("tcp");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->type, HealthCheckConfig::Type::kTcp);
  auto http = parse_health_check_flag("http");
  ASSERT_TRUE(http);
  EXPECT_EQ(http->type, HealthCheckConfig::Type::kHttp);
  EXPECT_EQ(http->path, "/");
  http = parse_health_check_flag("http:/healthz?x=1");
  ASSERT_TRUE(http);
  EXPECT_EQ(http->path, "/healthz?x=1");
  EXPECT_EQ(http->interval, std::chrono::seconds(2));
  std::string error;
  for (std::string_view bad : {"", "udp", "http:", "http:healthz", "http:/a b", "HTTP"}) {
    EXPECT_EQ(parse_health_check_flag(bad, &error), std::nullopt) << bad;
    EXPECT_EQ(error, "expected tcp, http or http:/PATH (e.g. http:/healthz)");
  }
}

TEST(BackendKeys, HealthExampleLoads) {
  LoadResult r = load_file(std::string(FULCRUM_SOURCE_DIR) + "/examples/health.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  ASSERT_GE(r.config->backends.size(), 1u);
  bool http_check = false, outlier = false, backup = false;
  for (const BackendConfig& b : r.config->backends) {
    http_check |= b.health_check.type == HealthCheckConfig::Type::kHttp;
    outlier |= b.outlier.enabled;
    for (const ServerConfig& s : b.servers) backup |= s.backup;
  }
  EXPECT_TRUE(http_check);
  EXPECT_TRUE(outlier);
  EXPECT_TRUE(backup);
}

TEST(BackendKeys, SlowStartIsReadAndRefusedWithHashing) {
  const LoadResult ok = load(
      "listeners:\n  - address: 127.0.0.1:80\n    backend: b\nbackends:\n  - name: b\n"
      "    balance: least_connections\n"
      "    servers:\n      - address: 127.0.0.1:81\n        slow_start: 30s\n");
  ASSERT_TRUE(ok.config) << (ok.errors.empty() ? "" : ok.errors[0].to_string());
  EXPECT_EQ(ok.config->backends[0].servers[0].slow_start, std::chrono::seconds(30));

  const LoadResult r = load(
      "listeners:\n  - address: 127.0.0.1:80\n    backend: b\nbackends:\n  - name: b\n"
      "    balance: source_hash\n"
      "    servers:\n      - address: 127.0.0.1:81\n        slow_start: 30s\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].to_string().find("t.yaml:9:21: backends[0].servers[0].slow_start: "
                                         "slow_start does not apply to hashing"),
            std::string::npos)
      << r.errors[0].to_string();
}

TEST(BackendKeys, StickyCookie) {
  const std::string base =
      "listeners:\n  - address: 127.0.0.1:80\n    backend: b\nbackends:\n  - name: b\n"
      "    servers: [127.0.0.1:81]\n";
  LoadResult r = load(base + "    sticky:\n");
  ASSERT_TRUE(r.config) << r.errors[0].to_string();
  EXPECT_TRUE(r.config->backends[0].sticky.enabled);
  EXPECT_EQ(r.config->backends[0].sticky.cookie, "FULCRUM_SERVER");
  r = load(base + "    sticky: { cookie: SRV }\n");
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->backends[0].sticky.cookie, "SRV");
  const LoadResult again = load_string(to_yaml(*r.config), "t.yaml");
  ASSERT_TRUE(again.config);
  EXPECT_EQ(again.config->backends[0].sticky, r.config->backends[0].sticky);
  r = load(base + "    sticky: { cookie: \"a b\" }\n");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.errors[0].to_string().find("t.yaml:7:23: backends[0].sticky.cookie: expected a "
                                         "cookie name"),
            std::string::npos)
      << r.errors[0].to_string();
}

}  // namespace
}  // namespace fulcrum::config
