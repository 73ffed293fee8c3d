// A listener's `routes:`: what each key reads into (config/routes.h), and that every mistake is
// reported at its line and column with its key path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace fulcrum::config {
namespace {

using ::testing::ElementsAre;
using Action = RouteConfig::Action;

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

// `routes` starts at line 4, indented as list items of `routes:` (6 spaces, then "- ").
LoadResult load_routes(std::string_view routes) {
  std::string yaml = "listeners:\n  - address: 127.0.0.1:8080\n    routes:\n" +
                     std::string(routes) +
                     "backends:\n  - name: app\n    servers: [127.0.0.1:9001]\n"
                     "  - name: www\n    servers: [127.0.0.1:9002]\n";
  return load_string(yaml, "t.yaml");
}

std::vector<RouteConfig> routes_of(std::string_view routes) {
  LoadResult r = load_routes(routes);
  EXPECT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  return r.config ? r.config->listeners.at(0).routes : std::vector<RouteConfig>{};
}

TEST(Routes, MatchConditions) {
  auto routes = routes_of(R"y(      - name: api
        match:
          host: [api.example.com, "*.example.com"]
          path_prefix: /api/
          method: [GET, POST]
          headers: [{name: X-Canary, value: "1"}, {name: X-Debug}, {name: User-Agent, regex: bot}]
          query: [{name: debug}, {name: v, value: "2"}]
          cookies: [{name: beta, regex: "^(1|yes)$"}]
          source: [10.0.0.0/8, 192.168.1.7]
        backend: app
      - match: {host: www.example.com, path: /exact, method: GET, source: "::1"}
        backend: www
      - match: {path_regex: "^/v[0-9]+/"}
        backend: www
      - backend: www
)y");
  ASSERT_EQ(routes.size(), 4u);
  const RouteMatch& m = routes[0].match;
  EXPECT_EQ(routes[0].name, "api");
  EXPECT_THAT(m.hosts, ElementsAre("api.example.com", "*.example.com"));
  EXPECT_EQ(m.path_kind, RouteMatch::PathKind::kPrefix);
  EXPECT_EQ(m.path, "/api/");
  EXPECT_THAT(m.methods, ElementsAre("GET", "POST"));
  EXPECT_THAT(m.headers, ElementsAre(FieldMatch{"X-Canary", FieldMatch::Kind::kEquals, "1"},
                                     FieldMatch{"X-Debug", FieldMatch::Kind::kPresent, ""},
                                     FieldMatch{"User-Agent", FieldMatch::Kind::kRegex, "bot"}));
  EXPECT_THAT(m.query, ElementsAre(FieldMatch{"debug", FieldMatch::Kind::kPresent, ""},
                                   FieldMatch{"v", FieldMatch::Kind::kEquals, "2"}));
  EXPECT_THAT(m.cookies, ElementsAre(FieldMatch{"beta", FieldMatch::Kind::kRegex, "^(1|yes)$"}));
  EXPECT_THAT(m.sources, ElementsAre("10.0.0.0/8", "192.168.1.7"));
  EXPECT_EQ(routes[0].action, Action::kForward);
  EXPECT_EQ(routes[0].backend, "app");
  // A single value is short for a one-item list.
  EXPECT_EQ(routes[1].name, "route-2");
  EXPECT_THAT(routes[1].match.hosts, ElementsAre("www.example.com"));
  EXPECT_EQ(routes[1].match.path_kind, RouteMatch::PathKind::kExact);
  EXPECT_THAT(routes[1].match.methods, ElementsAre("GET"));
  EXPECT_THAT(routes[1].match.sources, ElementsAre("::1"));
  EXPECT_EQ(routes[2].match.path_kind, RouteMatch::PathKind::kRegex);
  EXPECT_EQ(routes[2].match.path, "^/v[0-9]+/");
  EXPECT_EQ(routes[3].match, RouteMatch{});  // no match: every request
}

TEST(Routes, Actions) {
  auto routes = routes_of(
      R"y(      - split: [{backend: app, weight: 90}, {backend: www, weight: 10}, {backend: www}]
      - redirect: {to: "https://$host$request_uri", status: 301}
      - redirect: {to: /elsewhere}
      - respond: {status: 404, body: "nothing here\n", content_type: text/html}
      - respond: {}
)y");
  ASSERT_EQ(routes.size(), 5u);
  EXPECT_EQ(routes[0].action, Action::kSplit);
  EXPECT_THAT(routes[0].split, ElementsAre(WeightedBackend{"app", 90}, WeightedBackend{"www", 10},
                                           WeightedBackend{"www", 1}));
  EXPECT_EQ(routes[1].action, Action::kRedirect);
  EXPECT_EQ(routes[1].redirect_to, "https://$host$request_uri");
  EXPECT_EQ(routes[1].redirect_status, 301);
  EXPECT_EQ(routes[2].redirect_status, 302);
  EXPECT_EQ(routes[3].action, Action::kRespond);
  EXPECT_EQ(routes[3].respond_status, 404);
  EXPECT_EQ(routes[3].respond_body, "nothing here\n");
  EXPECT_EQ(routes[3].respond_content_type, "text/html");
  EXPECT_EQ(routes[4].respond_status, 200);
  EXPECT_EQ(routes[4].respond_body, "");
  EXPECT_EQ(routes[4].respond_content_type, "text/plain");
}

TEST(Routes, Modifiers) {
  auto routes = routes_of(R"y(      - backend: app
        request_headers: {set: {X-A: "1", X-Z: ""}, add: {X-B: "2"}, remove: [X-C, X-D]}
        response_headers: {remove: Server}
        rewrite: {strip_prefix: /api, regex: "^/old/(.*)", replace: "/new/\\1"}
      - backend: app
        rewrite: {regex: "^/v1", replace: ""}
)y");
  ASSERT_EQ(routes.size(), 2u);
  const RouteConfig& r = routes[0];
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r.request_headers.set, (Pairs{{"X-A", "1"}, {"X-Z", ""}}));
  EXPECT_EQ(r.request_headers.add, (Pairs{{"X-B", "2"}}));
  EXPECT_THAT(r.request_headers.remove, ElementsAre("X-C", "X-D"));
  EXPECT_THAT(r.response_headers.remove, ElementsAre("Server"));
  EXPECT_EQ(r.strip_prefix, "/api");
  EXPECT_EQ(r.rewrite_regex, "^/old/(.*)");
  EXPECT_EQ(r.rewrite_replace, "/new/\\1");
  EXPECT_EQ(routes[1].rewrite_replace, "");
}

TEST(Routes, ShapeErrors) {
  LoadResult r = load_routes(R"y(      - name: none
        match: {path: /a}
      - name: two
        backend: app
        respond: {status: 200}
        redirect: {to: /x}
      - match: {path: /a, path_prefix: /b}
        backend: app
      - match:
          headers: [{name: X-A, value: "1", regex: "1"}, {value: "2"}, X-B]
          hots: a.example.com
        backend: app
      - backend: app
        rewrite: {regex: "^/a"}
        redirect: /b
      - just-a-string
)y");
  EXPECT_THAT(
      messages(r),
      ElementsAre("t.yaml:4:9: listeners[0].routes[0]: a route needs an action: one of backend, "
                  "split, redirect or respond",
                  "t.yaml:8:9: listeners[0].routes[1]: a route takes exactly one action "
                  "(backend, split, redirect or respond); this one has 'backend' and 'respond'",
                  "t.yaml:9:9: listeners[0].routes[1]: a route takes exactly one action "
                  "(backend, split, redirect or respond); this one has 'backend', 'respond' and "
                  "'redirect'",
                  "t.yaml:10:27: listeners[0].routes[2].match: a match takes at most one of path, "
                  "path_prefix and path_regex; this one has 'path' and 'path_prefix'",
                  "t.yaml:13:45: listeners[0].routes[3].match.headers[0]: give value (equal to) "
                  "or regex (matching), not both",
                  "t.yaml:13:58: listeners[0].routes[3].match.headers[1].name: name is required: "
                  "the header's name",
                  "t.yaml:13:72: listeners[0].routes[3].match.headers[2]: expected a header "
                  "condition ({name: N}, {name: N, value: V} or {name: N, regex: R}), got a "
                  "single value",
                  "t.yaml:14:11: listeners[0].routes[3].match: unknown key 'hots'; did you mean "
                  "'host'?",
                  "t.yaml:17:18: listeners[0].routes[4].rewrite.replace: replace is required "
                  "with regex: regex finds what to change, replace says what it becomes",
                  "t.yaml:18:9: listeners[0].routes[4]: a route takes exactly one action "
                  "(backend, split, redirect or respond); this one has 'backend' and 'redirect'",
                  "t.yaml:19:9: listeners[0].routes[5]: expected a route (a mapping with match: "
                  "and an action such as backend:), got a single value"));
}

TEST(Routes, ValueErrorsPointAtTheValue) {
  LoadResult r = load_routes(R"y(      - match:
          path_regex: "^/v[0-9+/"
          method: [get, "GE T"]
          host: ["api.example.com:8080", "*."]
          source: [10.0.0.0/8, 10.1.2.3/40]
          cookies: [{name: beta, regex: "(x"}]
        backend: ap
      - match: {path_prefix: api/}
        split: [{backend: app, weight: 0}, {backend: wwww, weight: 0}]
      - match: {path: /a}
        split: [{backend: app, weight: 10001}]
      - redirect: {to: "https://example.com/\r\nSet-Cookie: x=1", status: 303}
      - respond: {status: 100, content_type: ""}
      - name: route-5
        backend: zzz
      - name: route-5
        backend: app
)y");
  EXPECT_THAT(
      messages(r),
      ElementsAre(
          "t.yaml:5:23: listeners[0].routes[0].match.path_regex: invalid regular expression "
          "\"^/v[0-9+/\": missing ]: [0-9+/",
          "t.yaml:6:20: listeners[0].routes[0].match.method[0]: methods are case-sensitive: "
          "'get' never matches; did you mean 'GET'?",
          "t.yaml:6:25: listeners[0].routes[0].match.method[1]: expected a method like GET or "
          "POST, got \"GE T\"",
          "t.yaml:7:18: listeners[0].routes[0].match.host[0]: expected a host name like "
          "api.example.com or *.example.com (no port), got \"api.example.com:8080\"",
          "t.yaml:7:42: listeners[0].routes[0].match.host[1]: expected a host name like "
          "api.example.com or *.example.com (no port), got \"*.\"",
          "t.yaml:8:32: listeners[0].routes[0].match.source[1]: expected an address or CIDR "
          "like 10.0.0.0/8 or ::1, got \"10.1.2.3/40\"",
          "t.yaml:9:41: listeners[0].routes[0].match.cookies[0].regex: invalid regular "
          "expression \"(x\": missing ): (x",
          "t.yaml:10:18: listeners[0].routes[0].backend: no backend named 'ap'; did you mean "
          "'app'?",
          "t.yaml:11:30: listeners[0].routes[1].match.path_prefix: expected a path starting "
          "with '/', got \"api/\"",
          "t.yaml:12:16: listeners[0].routes[1].split: every weight is 0: at least one must be "
          "above 0",
          "t.yaml:12:54: listeners[0].routes[1].split[1].backend: no backend named 'wwww'; did "
          "you mean 'www'?",
          "t.yaml:14:40: listeners[0].routes[2].split[0].weight: expected a whole number from 0 "
          "to 10000, got \"10001\"",
          "t.yaml:15:24: listeners[0].routes[3].redirect.to: must not contain spaces, line "
          "breaks or other control characters, got \"https://example.com/\\x0d\\nSet-Cookie: "
          "x=1\"",
          "t.yaml:15:75: listeners[0].routes[3].redirect.status: expected one of: 301, 302, "
          "307, 308, got 303",
          "t.yaml:16:27: listeners[0].routes[4].respond.status: expected a status from 200 to "
          "599, got 100",
          "t.yaml:16:46: listeners[0].routes[4].respond.content_type: expected a media type "
          "like text/plain (no control characters), got \"\"",
          // An explicit name may collide with another route's default one.
          "t.yaml:17:15: listeners[0].routes[5].name: route name 'route-5' is already used in "
          "this listener (listeners[0].routes[4])",
          "t.yaml:18:18: listeners[0].routes[5].backend: no backend named 'zzz'; defined "
          "backends: app, www",
          "t.yaml:19:15: listeners[0].routes[6].name: route name 'route-5' is already used in "
          "this listener (listeners[0].routes[4])"));
}

TEST(Routes, HeaderOpsAndRewriteErrors) {
  LoadResult r = load_routes(R"y(      - backend: app
        request_headers:
          set: {"X Bad": "1", X-Ok: "a\r\nInjected: yes", x-ok: "again"}
          add: {Content-Length: "0", X-Forwarded-For: "1.2.3.4"}
          remove: [Host]
        response_headers:
          set: {X-Forwarded-For: "fine in a response", Transfer-Encoding: chunked}
        rewrite: {strip_prefix: api, regex: "^/(a)", replace: "/\\2 x"}
      - respond: {status: 200}
        request_headers: {set: {X-A: "1"}}
        rewrite: {strip_prefix: /a}
)y");
  EXPECT_THAT(
      messages(r),
      ElementsAre(
          "t.yaml:6:17: listeners[0].routes[0].request_headers.set[\"X Bad\"]: not a valid "
          "header name: \"X Bad\" (letters, digits and !#$%&'*+-.^_`|~ only)",
          "t.yaml:6:37: listeners[0].routes[0].request_headers.set.X-Ok: header value must not "
          "contain line breaks or other control characters, got \"a\\x0d\\nInjected: yes\"",
          "t.yaml:6:59: listeners[0].routes[0].request_headers.set.x-ok: header 'x-ok' is set "
          "twice (header names ignore case)",
          "t.yaml:7:17: listeners[0].routes[0].request_headers.add.Content-Length: header "
          "'Content-Length' is managed by lbd and cannot be changed by a route",
          "t.yaml:7:38: listeners[0].routes[0].request_headers.add.X-Forwarded-For: header "
          "'X-Forwarded-For' is managed by lbd and cannot be changed by a route",
          "t.yaml:8:20: listeners[0].routes[0].request_headers.remove[0]: header 'Host' is "
          "managed by lbd and cannot be changed by a route",
          "t.yaml:10:56: listeners[0].routes[0].response_headers.set.Transfer-Encoding: header "
          "'Transfer-Encoding' is managed by lbd and cannot be changed by a route",
          "t.yaml:11:33: listeners[0].routes[0].rewrite.strip_prefix: expected a path starting "
          "with '/', got \"api\"",
          "t.yaml:11:63: listeners[0].routes[0].rewrite.replace: Rewrite schema requests 2 "
          "matches, but the regexp only has 1 parenthesized subexpressions.",
          "t.yaml:11:63: listeners[0].routes[0].rewrite.replace: must not contain spaces or "
          "control characters, got \"/\\\\2 x\"",
          "t.yaml:13:26: listeners[0].routes[1].request_headers: request_headers has no effect "
          "on a respond route (it applies to requests forwarded to a backend)",
          "t.yaml:14:18: listeners[0].routes[1].rewrite: rewrite has no effect on a respond "
          "route (it applies to requests forwarded to a backend)"));
}

TEST(Routes, UnknownKeysSuggest) {
  EXPECT_THAT(messages(load_routes(R"y(      - backend: app
        rewite: {strip_prefix: /a}
        match: {path_prefx: /a}
        request_headers: {sett: {X-A: "1"}}
)y")),
              ElementsAre("t.yaml:5:9: listeners[0].routes[0]: unknown key 'rewite'; did you "
                          "mean 'rewrite'?",
                          "t.yaml:6:17: listeners[0].routes[0].match: unknown key 'path_prefx'; "
                          "did you mean 'path_prefix'?",
                          "t.yaml:7:27: listeners[0].routes[0].request_headers: unknown key "
                          "'sett'; did you mean 'set'?"));
}

TEST(Routes, RoutingExampleLoadsAndRoundTrips) {
  LoadResult r = load_file(std::string(FULCRUM_SOURCE_DIR) + "/examples/routing.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const ListenerConfig& l = r.config->listeners.at(0);
  EXPECT_EQ(l.backend, "");  // a request no route takes gets 404
  EXPECT_TRUE(l.access_log.enabled);
  std::vector<Action> actions;
  for (const RouteConfig& route : l.routes) actions.push_back(route.action);
  EXPECT_THAT(actions, ElementsAre(Action::kRedirect, Action::kRespond, Action::kForward,
                                   Action::kSplit, Action::kForward, Action::kForward));
  LoadResult again = load_string(to_yaml(*r.config), r.config->source);
  ASSERT_TRUE(again.config) << to_yaml(*r.config) << ::testing::PrintToString(messages(again));
  EXPECT_EQ(*again.config, *r.config);
}

TEST(Routes, HandBuiltRoutesAreValidatedWithoutMarks) {
  Config c;
  ListenerConfig l;
  l.name = "x";
  l.address = *parse_address("127.0.0.1:80");
  RouteConfig r;
  r.name = "r";
  r.backend = "app";
  r.match.path_kind = RouteMatch::PathKind::kRegex;
  r.match.path = "(";
  l.routes.push_back(r);
  c.listeners.push_back(l);
  BackendConfig b;
  b.name = "app";
  ServerConfig s;
  s.name = "a";
  s.address = *parse_address("127.0.0.1:1");
  b.servers.push_back(s);
  c.backends.push_back(b);
  std::vector<ConfigError> errors;
  validate(c, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(),
            "listeners[0].routes[0].match.path_regex: invalid regular expression \"(\": missing "
            "): (");
}

}  // namespace
}  // namespace fulcrum::config
