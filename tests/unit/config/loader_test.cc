#include "config/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace fulcrum::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Error lines as the user sees them, in the order reported.
std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

LoadResult load(std::string_view yaml) { return load_string(yaml, "t.yaml"); }

// A valid config that the tests below break one piece at a time.
constexpr std::string_view kGood = R"(workers: 2
listeners:
  - address: 127.0.0.1:8080
    backend: app
backends:
  - name: app
    servers:
      - 127.0.0.1:9001
)";

TEST(Loader, MinimalConfigGetsDefaults) {
  LoadResult r = load(kGood);
  ASSERT_TRUE(r.errors.empty()) << ::testing::PrintToString(messages(r));
  ASSERT_TRUE(r.config);
  const Config& c = *r.config;
  EXPECT_EQ(c.source, "t.yaml");
  EXPECT_EQ(c.workers, 2u);
  EXPECT_EQ(c.shutdown_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  ASSERT_EQ(c.listeners.size(), 1u);
  const ListenerConfig& l = c.listeners[0];
  EXPECT_EQ(l.name, "127.0.0.1:8080");  // defaults to the address text
  EXPECT_EQ(format_address(l.address), "127.0.0.1:8080");
  EXPECT_EQ(l.mode, Mode::kHttp);
  EXPECT_EQ(l.backend, "app");
  EXPECT_EQ(l.max_header_size, 16u * 1024);
  EXPECT_EQ(l.max_body, 0u);
  EXPECT_EQ(l.mark.line, 3);
  EXPECT_EQ(l.mark.column, 5);
  EXPECT_EQ(l.mark.file, "t.yaml");
  ASSERT_EQ(c.backends.size(), 1u);
  const BackendConfig& b = c.backends[0];
  EXPECT_EQ(b.max_idle, 128u);
  ASSERT_EQ(b.servers.size(), 1u);
  EXPECT_EQ(b.servers[0].name, "app-1");  // "<backend>-<index+1>"
  EXPECT_EQ(b.servers[0].kind, ServerKind::kNet);
  EXPECT_EQ(format_address(b.servers[0].address), "127.0.0.1:9001");
  EXPECT_EQ(b.servers[0].weight, 1u);
  EXPECT_EQ(b.servers[0].mark.line, 8);
  EXPECT_EQ(b.servers[0].mark.column, 9);
}

TEST(Loader, ReadsEveryKey) {
  LoadResult r = load(R"(workers: auto
shutdown_timeout: 1.5s
log_level: debug
listeners:
  - name: web
    address: "[::1]:8080"
    mode: http
    backend: app
    header_timeout: 250ms
    idle_timeout: 2m
    max_header_size: 64KiB
    max_body: 1MiB
backends:
  - name: app
    balance: round_robin
    connect_timeout: 1s
    response_timeout: 1h
    idle_timeout: 30s
    max_idle: 0
    servers:
      - servers: x
        name: one
        address: unix:/run/app.sock
        kind: net
        weight: 256
      - name: two
        kind: demo
)");
  // `servers: x` inside a server is the one mistake, to check it does not stop the rest.
  ASSERT_THAT(messages(r),
              ElementsAre("t.yaml:21:9: backends[0].servers[0]: unknown key 'servers'; expected "
                          "one of: name, address, kind, weight, backup, max_connections, "
                          "slow_start, admin"));
  r = load(R"(workers: auto
shutdown_timeout: 1.5s
log_level: debug
listeners:
  - name: web
    address: "[::1]:8080"
    mode: http
    backend: app
    header_timeout: 250ms
    idle_timeout: 2m
    max_header_size: 64KiB
    max_body: 1MiB
backends:
  - name: app
    balance: round_robin
    connect_timeout: 1s
    response_timeout: 1h
    idle_timeout: 30s
    max_idle: 0
    servers:
      - name: one
        address: unix:/run/app.sock
        kind: net
        weight: 256
      - name: two
        kind: demo
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.shutdown_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  const ListenerConfig& l = c.listeners.at(0);
  EXPECT_EQ(l.name, "web");
  EXPECT_EQ(l.address.host, "::1");
  EXPECT_EQ(l.header_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(l.idle_timeout, std::chrono::minutes(2));
  EXPECT_EQ(l.max_header_size, 64u * 1024);
  EXPECT_EQ(l.max_body, 1024u * 1024);
  const BackendConfig& b = c.backends.at(0);
  EXPECT_EQ(b.connect_timeout, std::chrono::seconds(1));
  EXPECT_EQ(b.response_timeout, std::chrono::hours(1));
  EXPECT_EQ(b.idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(b.max_idle, 0u);
  ASSERT_EQ(b.servers.size(), 2u);
  EXPECT_EQ(b.servers[0].address.kind, Address::Kind::kUnix);
  EXPECT_EQ(b.servers[0].weight, 256u);
  EXPECT_EQ(b.servers[1].kind, ServerKind::kDemo);
  EXPECT_EQ(format_address(b.servers[1].address), "127.0.0.1:0");  // demo default
}

TEST(Loader, ScalarServerIsShortForAddress) {
  LoadResult shorthand = load(kGood);
  std::string longhand(kGood);
  longhand.replace(longhand.find("- 127.0.0.1:9001"), 16, "- address: 127.0.0.1:9001");
  LoadResult full = load(longhand);
  ASSERT_TRUE(shorthand.config);
  ASSERT_TRUE(full.config);
  EXPECT_EQ(*shorthand.config, *full.config);

  // A bad shorthand is reported at the item, whose path has no `.address`.
  LoadResult bad = load(R"(listeners:
  - address: 127.0.0.1:8080
    backend: app
backends:
  - name: app
    servers:
      - 127.0.0.1:9001
      - localhost
)");
  EXPECT_THAT(messages(bad),
              ElementsAre("t.yaml:8:9: backends[0].servers[1]: expected host:port, [v6]:port or "
                          "unix:/path (missing ':port'), got \"localhost\""));
}

TEST(Loader, BadValueNamesFileLineColumnPathAndExpectation) {
  LoadResult r = load(R"(listeners:
  - address: 127.0.0.1:8080
    backend: app
backends:
  - name: app
    servers:
      - 127.0.0.1:9001
  - name: other
    servers:
      - address: localhost
)");
  EXPECT_THAT(messages(r),
              ElementsAre("t.yaml:10:18: backends[1].servers[0].address: expected host:port, "
                          "[v6]:port or unix:/path (missing ':port'), got \"localhost\""));
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].mark.line, 10);
  EXPECT_EQ(r.errors[0].mark.column, 18);
  EXPECT_EQ(r.errors[0].path, "backends[1].servers[0].address");
}

TEST(Loader, ReportsAllMistakesInOnePassInLineOrder) {
  LoadResult r = load(R"(workers: 4
listeners:
  - name: web
    adress: 127.0.0.1:8080
    backend: ap
    idle_timeout: 5
backends:
  - name: app
    servers:
      - address: 127.0.0.1:9001
        weight: 0
)");
  EXPECT_THAT(messages(r),
              ElementsAre("t.yaml:4:5: listeners[0]: unknown key 'adress'; did you mean 'address'?",
                          "t.yaml:5:14: listeners[0].backend: no backend named 'ap'; did you "
                          "mean 'app'?",
                          "t.yaml:6:19: listeners[0].idle_timeout: expected a duration like 5s or "
                          "250ms (missing unit: ms, s, m or h), got \"5\"",
                          "t.yaml:11:17: backends[0].servers[0].weight: expected a whole number "
                          "from 1 to 256, got \"0\""));
  EXPECT_FALSE(r.config);
}

TEST(Loader, MisspeltKeyHidesOnlyTheMissingKeyError) {
  // Without the hiding, each typo would also say "address is required" / "at least one
  // listener"; the other findings in the same items must still appear.
  LoadResult r = load(R"(listener:
  - address: 127.0.0.1:8080
backends:
  - name: app
    servers:
      - adress: 127.0.0.1:9001
        weight: 300
)");
  EXPECT_THAT(messages(r),
              ElementsAre("t.yaml:1:1: unknown key 'listener'; did you mean 'listeners'?",
                          "t.yaml:6:9: backends[0].servers[0]: unknown key 'adress'; did you mean "
                          "'address'?",
                          "t.yaml:7:17: backends[0].servers[0].weight: expected a whole number "
                          "from 1 to 256, got \"300\""));
}

TEST(Loader, MetricsExporter) {
  auto r = load("metrics: { address: 127.0.0.1:9100 }\n" + std::string(kGood));
  ASSERT_TRUE(r.config);
  EXPECT_TRUE(r.config->metrics.enabled);
  EXPECT_EQ(r.config->metrics.address.port, 9100);
  EXPECT_THAT(messages(load("metrics: { address: unix:/run/m.sock }\n" + std::string(kGood))),
              ElementsAre("t.yaml:1:21: metrics.address: expected HOST:PORT (the exporter serves "
                          "HTTP over TCP), got \"unix:/run/m.sock\""));
  EXPECT_THAT(messages(load("metrics: {}\n" + std::string(kGood))),
              ElementsAre("t.yaml:1:10: metrics.address: address is required, e.g. "
                          "127.0.0.1:9100"));
}

TEST(Loader, AdminSocket) {
  auto r = load("admin:\n" + std::string(kGood));
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->admin.socket, "/run/fulcrum/admin.sock");
  EXPECT_EQ(r.config->admin.mode, 0660u);
  r = load("admin: { socket: /tmp/x/a.sock, mode: \"0600\" }\n" + std::string(kGood));
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->admin.mode, 0600u);
  EXPECT_THAT(to_yaml(*r.config), HasSubstr("admin:\n  socket: /tmp/x/a.sock\n  mode: \"0600\"\n"));
  EXPECT_THAT(messages(load("admin: { socket: rel.sock, mode: \"0999\" }\n" + std::string(kGood))),
              ElementsAre("t.yaml:1:18: admin.socket: expected an absolute path of at most 107 "
                          "bytes, got \"rel.sock\"",
                          "t.yaml:1:34: admin.mode: expected permissions in octal like \"0660\", "
                          "got \"0999\""));
}

TEST(Loader, UnknownKeyWithoutNearMatchListsTheValidKeys) {
  std::string yaml = "colour: red\n" + std::string(kGood);
  EXPECT_THAT(
      messages(load(yaml)),
      ElementsAre(
          "t.yaml:1:1: unknown key 'colour'; expected one of: workers, "
          "shutdown_timeout, reload_grace, busy_poll, log_level, listeners, backends, metrics, "
          "admin"));
}

TEST(Loader, BusyPoll) {
  const std::string rest = R"(
listeners:
  - address: 127.0.0.1:8080
    backend: app
backends:
  - name: app
    servers: [127.0.0.1:9000]
)";
  LoadResult off = load(rest);
  ASSERT_TRUE(off.config) << messages(off).front();
  EXPECT_EQ(off.config->busy_poll, Duration(0));
  LoadResult on = load("busy_poll: 2ms" + rest);
  ASSERT_TRUE(on.config);
  EXPECT_EQ(on.config->busy_poll, std::chrono::milliseconds(2));
  EXPECT_NE(to_yaml(*on.config).find("busy_poll: 2ms"), std::string::npos);
  EXPECT_THAT(messages(load("busy_poll: 20ms" + rest)),
              ElementsAre("t.yaml:1:12: busy_poll: expected at most 10ms (a worker spins this "
                          "long after each event), got 20ms"));
}

TEST(Loader, DidYouMeanForKeysAndEnumValues) {
  LoadResult r = load(R"(log_level: warning
listeners:
  - address: 127.0.0.1:8080
    backend: app
    mode: htp
backends:
  - name: app
    balanse: least_conn
    balance: least_conn
    servers:
      - address: 127.0.0.1:9001
        kind: dmeo
        wieght: 2
)");
  EXPECT_THAT(messages(r),
              ElementsAre("t.yaml:1:12: log_level: expected one of: trace, debug, info, warn, "
                          "error, got \"warning\"; did you mean 'warn'?",
                          "t.yaml:5:11: listeners[0].mode: expected one of: http, tcp, udp, got "
                          "\"htp\"; did you mean 'http'?",
                          "t.yaml:8:5: backends[0]: unknown key 'balanse'; did you mean 'balance'?",
                          "t.yaml:9:14: backends[0].balance: expected one of: round_robin, "
                          "weighted_round_robin, least_connections, random, p2c_ewma, "
                          "source_hash, consistent_hash, first, got \"least_conn\"; did you "
                          "mean 'least_connections'?",
                          "t.yaml:12:15: backends[0].servers[0].kind: expected one of: net, demo, "
                          "got \"dmeo\"; did you mean 'demo'?",
                          "t.yaml:13:9: backends[0].servers[0]: unknown key 'wieght'; did you "
                          "mean 'weight'?"));
}

TEST(Loader, WrongTypesAreErrorsNotExceptions) {
  LoadResult r = load(R"(workers: [1, 2]
shutdown_timeout: {a: 1}
listeners:
  address: 127.0.0.1:8080
backends:
  - name: app
    servers: 127.0.0.1:9001
  - just-a-string
  - name: {x: 1}
    servers: [[1]]
)");
  EXPECT_THAT(
      messages(r),
      ElementsAre(
          "t.yaml:1:10: workers: expected auto or a whole number from 1 to 256, got a list",
          "t.yaml:2:19: shutdown_timeout: expected a duration like 5s or 250ms, got a mapping",
          "t.yaml:4:3: listeners: expected a list of listeners (one '- ' item per line), got a "
          "mapping",
          "t.yaml:7:14: backends[0].servers: expected a list of servers (one '- ' item per line), "
          "got a single value",
          "t.yaml:8:5: backends[1]: expected a backend (a mapping with name: and servers:), got a "
          "single value",
          "t.yaml:9:11: backends[2].name: expected a name, got a mapping",
          "t.yaml:10:15: backends[2].servers[0]: expected a server (host:port, or a mapping with "
          "address:), got a list"));
}

TEST(Loader, EmptyValuePointsAtTheKey) {
  LoadResult r = load(R"(listeners:
  - address:
    backend: app
backends:
  - name: app
    servers: [127.0.0.1:9001]
)");
  // yaml-cpp places an empty value on the next line; the key is where the user should look.
  EXPECT_THAT(messages(r), ElementsAre("t.yaml:2:5: listeners[0].address: expected host:port, "
                                       "[v6]:port or unix:/path, got nothing"));
}

TEST(Loader, DuplicateKeys) {
  LoadResult r = load(R"(listeners:
  - address: 127.0.0.1:8080
    backend: app
    address: 127.0.0.1:8081
backends:
  - name: app
    servers: [127.0.0.1:9001]
)");
  EXPECT_THAT(messages(r), ElementsAre("t.yaml:4:5: listeners[0]: duplicate key 'address' (first "
                                       "at line 2)"));
}

TEST(Loader, YamlSyntaxErrorIsOneLocatedError) {
  LoadResult r = load("listeners:\n  - address: [1, 2\nbackends: []\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].mark.file, "t.yaml");
  EXPECT_GT(r.errors[0].mark.line, 0);
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("invalid YAML: "));
  EXPECT_FALSE(r.config);

  r = load("a: *nowhere\n");
  EXPECT_THAT(messages(r), ElementsAre("t.yaml:1:4: invalid YAML: the referenced anchor is not "
                                       "defined"));
}

TEST(Loader, StrayCommaIsAnErrorNotAHang) {
  // yaml-cpp 0.7's LoadAll never returns on these (jbeder/yaml-cpp#1040).
  EXPECT_THAT(messages(load(",")), ElementsAre("t.yaml:1:1: invalid YAML: unexpected ','"));
  EXPECT_THAT(messages(load("# comment\n\n  , workers: 1\n")),
              ElementsAre("t.yaml:3:3: invalid YAML: unexpected ','"));
  EXPECT_THAT(messages(load("workers: 1\n---\n,\n")),
              ElementsAre("t.yaml:3:1: invalid YAML: unexpected ','"));
}

TEST(Loader, EmptyOrNonMappingDocument) {
  EXPECT_THAT(messages(load("")),
              ElementsAre("t.yaml: the configuration is empty; expected at least listeners and "
                          "backends"));
  EXPECT_THAT(messages(load("# only a comment\n")), ElementsAre(HasSubstr("is empty")));
  EXPECT_THAT(messages(load("- a\n- b\n")),
              ElementsAre("t.yaml:1:1: expected a mapping of settings (workers:, listeners:, "
                          "backends:, ...), got a list"));
}

TEST(Loader, MoreThanOneDocument) {
  std::string yaml = std::string(kGood) + "---\nworkers: 3\n";
  EXPECT_THAT(messages(load(yaml)), ElementsAre("t.yaml:9:1: the file holds more than one YAML "
                                                "document ('---'); expected one"));
  // An explicit `---` before the first document is fine; the second one is still found.
  EXPECT_THAT(messages(load("---\n" + yaml)), ElementsAre(HasSubstr("t.yaml:10:1: the file")));
  EXPECT_TRUE(load("--- # the only document\n" + std::string(kGood)).config);
}

TEST(Loader, MissingFileNamesThePathAndReason) {
  LoadResult r = load_file("/nonexistent/fulcrum.yaml");
  EXPECT_THAT(messages(r), ElementsAre("/nonexistent/fulcrum.yaml: cannot open: No such file or "
                                       "directory"));
  EXPECT_FALSE(r.config);
  r = load_file("/");
  EXPECT_THAT(messages(r), ElementsAre("/: cannot read: Is a directory"));
}

TEST(Loader, LoadFileUsesThePathInMarks) {
  std::string path = ::testing::TempDir() + "/fulcrum_loader_test.yaml";
  {
    std::ofstream f(path);
    f << "workers: 0\n" << kGood.substr(kGood.find('\n') + 1);
  }
  EXPECT_THAT(messages(load_file(path)),
              ElementsAre(path + ":1:10: workers: expected auto or a whole number from 1 to 256, "
                                 "got \"0\""));
  std::remove(path.c_str());
}

TEST(Validate, UnsupportedModePointsAtTheModeValue) {
  LoadResult r = load(R"(listeners:
  - address: 127.0.0.1:8080
    backend: app
    mode: tcp
  - address: 127.0.0.1:8081
    mode: udp
    backend: app
backends:
  - name: app
    servers: [127.0.0.1:9001]
)");
  // Every mode is supported now (l4/tcp_*, l4/udp_*): nothing to refuse.
  EXPECT_THAT(messages(r), ::testing::IsEmpty());
}

TEST(Validate, NamesAndAddressesAreUnique) {
  LoadResult r = load(R"(listeners:
  - name: web
    address: 127.0.0.1:8080
    backend: app
  - name: web
    address: 127.0.0.1:8081
    backend: app
  - address: 127.0.0.1:8080
    backend: app
  - address: 127.0.0.1:0
    backend: app
  - address: 127.0.0.1:0
    backend: app
backends:
  - name: app
    servers:
      - name: a
        address: 127.0.0.1:9001
      - name: a
        address: 127.0.0.1:9002
  - name: app
    servers: [127.0.0.1:9003]
)");
  EXPECT_THAT(messages(r),
              ElementsAre("t.yaml:5:11: listeners[1].name: listener name 'web' is already used "
                          "(listeners[0], line 2)",
                          "t.yaml:8:14: listeners[2].address: address 127.0.0.1:8080 is already "
                          "used by listener 'web' (listeners[0], line 2)",
                          "t.yaml:19:15: backends[0].servers[1].name: server name 'a' is already "
                          "used in this backend (backends[0].servers[0], line 17)",
                          "t.yaml:21:11: backends[1].name: backend name 'app' is already used "
                          "(backends[0], line 15)"));
}

TEST(Validate, MissingRequiredKeysAndEmptyLists) {
  LoadResult r = load(R"(listeners:
  - mode: http
backends:
  - servers: []
  - name: b
    servers:
      - weight: 3
)");
  EXPECT_THAT(messages(r),
              ElementsAre("t.yaml:2:5: listeners[0].address: address is required",
                          "t.yaml:2:5: listeners[0].backend: backend is required (unless the "
                          "listener has routes): the name of one of the backends",
                          "t.yaml:4:5: backends[0].name: name is required",
                          "t.yaml:4:14: backends[0].servers: at least one server is required",
                          "t.yaml:7:9: backends[1].servers[0].address: address is required "
                          "(unless kind: demo)"));
  EXPECT_THAT(messages(load("listeners: []\nbackends: []\n")),
              ElementsAre("t.yaml:1:12: listeners: at least one listener is required",
                          "t.yaml:2:11: backends: at least one backend is required"));
  EXPECT_THAT(messages(load("workers: 1\n")),
              ElementsAre("t.yaml:1:1: listeners: at least one listener is required",
                          "t.yaml:1:1: backends: at least one backend is required"));
}

TEST(Validate, BackendReferenceWithoutNearMatchListsBackends) {
  std::string yaml(kGood);
  yaml.replace(yaml.find("backend: app"), 12, "backend: zzzzzz");
  EXPECT_THAT(messages(load(yaml)),
              ElementsAre("t.yaml:4:14: listeners[0].backend: no backend named 'zzzzzz'; defined "
                          "backends: app"));
}

TEST(Validate, RangesAndZeroTimeouts) {
  LoadResult r = load(R"(listeners:
  - address: 127.0.0.1:8080
    backend: app
    header_timeout: 0
    max_header_size: 512
backends:
  - name: app
    connect_timeout: 0s
    servers: [127.0.0.1:0]
)");
  EXPECT_THAT(messages(r),
              ElementsAre("t.yaml:4:21: listeners[0].header_timeout: must be greater than 0, got "
                          "0s",
                          "t.yaml:5:22: listeners[0].max_header_size: must be from 1KiB to 1MiB, "
                          "got 512",
                          "t.yaml:8:22: backends[0].connect_timeout: must be greater than 0, got "
                          "0s",
                          "t.yaml:9:15: backends[0].servers[0].address: port 0 cannot be "
                          "connected to; give the server's port"));
}

TEST(Validate, WorksOnHandBuiltConfigsWithoutMarks) {
  // The quick mode builds a Config in code; errors then carry only a path and a message.
  Config c;
  c.source = "<command line>";
  ListenerConfig l;
  l.name = "x";
  l.address = *parse_address("127.0.0.1:80");
  l.backend = "nope";
  l.mode = Mode::kTcp;
  c.listeners.push_back(l);
  BackendConfig b;
  b.name = "app";
  ServerConfig s;
  s.name = "app-1";
  s.address = *parse_address("127.0.0.1:9001");
  s.weight = 0;
  b.servers.push_back(s);
  c.backends.push_back(b);
  c.workers = 300;
  std::vector<ConfigError> errors;
  validate(c, errors);
  std::vector<std::string> got;
  for (const ConfigError& e : errors) got.push_back(e.to_string());
  EXPECT_THAT(got, ElementsAre("workers: expected auto or a whole number from 1 to 256, got 300",
                               "listeners[0].backend: no backend named 'nope'; defined backends: "
                               "app",
                               "backends[0].servers[0].weight: expected a whole number from 1 to "
                               "256, got 0"));
}

TEST(ConfigError, ToStringOmitsUnknownParts) {
  EXPECT_EQ((ConfigError{{"a.yaml", 3, 7}, "x.y", "bad"}).to_string(), "a.yaml:3:7: x.y: bad");
  EXPECT_EQ((ConfigError{{"a.yaml", 0, 0}, "", "bad"}).to_string(), "a.yaml: bad");
  EXPECT_EQ((ConfigError{{"", 3, 7}, "x", "bad"}).to_string(), "3:7: x: bad");
  EXPECT_EQ((ConfigError{{}, "x", "bad"}).to_string(), "x: bad");
  EXPECT_EQ((ConfigError{{}, "", "bad"}).to_string(), "bad");
}

TEST(ToYaml, RoundTripsToAnEqualConfig) {
  LoadResult r = load(R"(workers: 7
shutdown_timeout: 1500ms
log_level: error
listeners:
  - name: "front door"
    address: "[::1]:8080"
    backend: "null"
    header_timeout: 61s
    max_header_size: 1025
    max_body: 3GiB
  - address: unix:/run/fulcrum/in.sock
    backend: "null"
backends:
  - name: "null"
    connect_timeout: 90m
    max_idle: 4294967295
    servers:
      - 10.0.0.1:80
      - name: "#2"
        kind: demo
        weight: 9
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  std::string yaml = to_yaml(*r.config);
  LoadResult again = load_string(yaml, "t.yaml");
  ASSERT_TRUE(again.config) << yaml << ::testing::PrintToString(messages(again));
  EXPECT_EQ(*again.config, *r.config) << yaml;
  EXPECT_EQ(to_yaml(*again.config), yaml);
  EXPECT_THAT(yaml, HasSubstr("workers: 7\nshutdown_timeout: 1500ms\n"));
  EXPECT_THAT(yaml, HasSubstr("    address: \"[::1]:8080\"\n"));
  EXPECT_THAT(yaml, HasSubstr("    max_body: 3GiB\n"));
  EXPECT_THAT(yaml, HasSubstr("        kind: demo\n"));

  // Equality really compares values (marks aside): a changed field makes configs differ.
  Config changed = *again.config;
  changed.backends[0].servers[1].weight = 8;
  EXPECT_NE(changed, *r.config);
}

TEST(ToYaml, AutoWorkersAndDefaults) {
  LoadResult r = load(kGood);
  ASSERT_TRUE(r.config);
  Config c = *r.config;
  c.workers = 0;
  std::string yaml = to_yaml(c);
  EXPECT_THAT(yaml, HasSubstr("workers: auto\n"));
  EXPECT_THAT(yaml, HasSubstr("    max_header_size: 16KiB\n"));
  LoadResult again = load_string(yaml, "t.yaml");
  ASSERT_TRUE(again.config) << yaml;
  EXPECT_EQ(*again.config, c);
}

}  // namespace
}  // namespace fulcrum::config
