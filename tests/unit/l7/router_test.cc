#include "l7/router/router.h"

#include <gtest/gtest.h>

#include <map>

#include "l7/snapshot.h"

namespace fulcrum::l7 {
namespace {

using config::FieldMatch;
using config::RouteConfig;
using config::RouteMatch;

struct Env {
  Backend api, web, canary;
  std::vector<std::string> errors;
  std::unique_ptr<Router> compile(const std::vector<RouteConfig>& routes) {
    return Router::compile(
        routes,
        [this](const std::string& n) -> const Backend* {
          if (n == "api") return &api;
          if (n == "web") return &web;
          if (n == "canary") return &canary;
          return nullptr;
        },
        "listeners[0].routes", errors);
  }
};

RouteConfig forward(std::string backend) {
  RouteConfig r;
  r.backend = std::move(backend);
  return r;
}

struct Req {
  std::string raw;
  http1::RequestHead head;
  asio::ip::address source = asio::ip::make_address("192.0.2.10");
  explicit Req(std::string text, const char* src = nullptr) : raw(std::move(text)) {
    EXPECT_EQ(http1::parse_request_head(raw, head, http1::Limits{}).status,
              http1::ParseStatus::kComplete);
    if (src) source = asio::ip::make_address(src);
  }
  const Route* on(const Router& r) {
    std::string_view path, query;
    split_target(head.target, path, query);
    return r.match({head, path, query, host_without_port(head.host), source});
  }
};

TEST(Router, FirstMatchWinsOnHostAndPath) {
  Env env;
  RouteConfig a = forward("api");
  a.match.hosts = {"api.example.com"};
  a.match.path_kind = RouteMatch::PathKind::kPrefix;
  a.match.path = "/v1/";
  RouteConfig b = forward("web");
  b.match.hosts = {"*.example.com"};
  auto router = env.compile({a, b});
  ASSERT_TRUE(router) << env.errors[0];
  Req r1("GET /v1/users?x=1 HTTP/1.1\r\nHost: API.example.com:8080\r\n\r\n");
  EXPECT_EQ(r1.on(*router)->backend, &env.api);
  Req r2("GET /v2/users HTTP/1.1\r\nHost: api.example.com\r\n\r\n");
  EXPECT_EQ(r2.on(*router)->backend, &env.web);
  Req r3("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
  EXPECT_EQ(r3.on(*router)->backend, &env.web);
  Req r4("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");  // wildcard needs a label
  EXPECT_EQ(r4.on(*router), nullptr);
}

TEST(Router, ExactAndRegexPathsMethodsHeadersQueryCookiesSources) {
  Env env;
  RouteConfig exact = forward("api");
  exact.match.path_kind = RouteMatch::PathKind::kExact;
  exact.match.path = "/health";
  exact.match.methods = {"GET", "HEAD"};
  RouteConfig regex = forward("canary");
  regex.match.path_kind = RouteMatch::PathKind::kRegex;
  regex.match.path = "^/v[0-9]+/";
  regex.match.headers = {{"X-Canary", FieldMatch::Kind::kEquals, "1"}};
  RouteConfig query = forward("canary");
  query.match.query = {{"debug", FieldMatch::Kind::kPresent, ""}};
  RouteConfig cookie = forward("canary");
  cookie.match.cookies = {{"beta", FieldMatch::Kind::kRegex, "^(yes|1)$"}};
  RouteConfig source = forward("api");
  source.match.sources = {"10.0.0.0/8", "::1/128"};
  auto router = env.compile({exact, regex, query, cookie, source});
  ASSERT_TRUE(router) << env.errors[0];

  EXPECT_EQ(Req("GET /health HTTP/1.1\r\nHost: h\r\n\r\n").on(*router)->backend, &env.api);
  EXPECT_EQ(Req("POST /health HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").on(*router),
            nullptr);
  EXPECT_EQ(Req("GET /v2/x HTTP/1.1\r\nHost: h\r\nx-canary: 1\r\n\r\n").on(*router)->backend,
            &env.canary);
  EXPECT_EQ(Req("GET /v2/x HTTP/1.1\r\nHost: h\r\nx-canary: 2\r\n\r\n").on(*router), nullptr);
  EXPECT_EQ(Req("GET /a?x=1&debug HTTP/1.1\r\nHost: h\r\n\r\n").on(*router)->backend, &env.canary);
  EXPECT_EQ(Req("GET /a HTTP/1.1\r\nHost: h\r\nCookie: a=b; beta=yes\r\n\r\n").on(*router)->backend,
            &env.canary);
  EXPECT_EQ(Req("GET /a HTTP/1.1\r\nHost: h\r\nCookie: beta=no\r\n\r\n").on(*router), nullptr);
  EXPECT_EQ(Req("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "10.1.2.3").on(*router)->backend, &env.api);
  EXPECT_EQ(Req("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "::1").on(*router)->backend, &env.api);
  EXPECT_EQ(Req("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "11.0.0.1").on(*router), nullptr);
}

TEST(Router, WeightedSplitFollowsWeights) {
  Env env;
  RouteConfig split;
  split.action = RouteConfig::Action::kSplit;
  split.split = {{"web", 90}, {"canary", 10}, {"api", 0}};
  auto router = env.compile({split});
  ASSERT_TRUE(router);
  const Route* r = Req("GET / HTTP/1.1\r\nHost: h\r\n\r\n").on(*router);
  std::map<const Backend*, int> n;
  for (std::uint32_t i = 0; i < 1000; ++i) ++n[r->pick_split(i * 7919u)];
  EXPECT_EQ(n[&env.web], 900);
  EXPECT_EQ(n[&env.canary], 100);
  EXPECT_EQ(n.count(&env.api), 0u);
}

TEST(Router, CompileErrorsNameThePath) {
  Env env;
  RouteConfig bad_regex = forward("api");
  bad_regex.match.path_kind = RouteMatch::PathKind::kRegex;
  bad_regex.match.path = "(";
  RouteConfig bad_backend = forward("nope");
  RouteConfig bad_cidr = forward("api");
  bad_cidr.match.sources = {"10.0.0.0/33"};
  EXPECT_EQ(env.compile({bad_regex, bad_backend, bad_cidr}), nullptr);
  ASSERT_EQ(env.errors.size(), 3u);
  EXPECT_NE(env.errors[0].find("listeners[0].routes[0].match.path_regex"), std::string::npos);
  EXPECT_NE(env.errors[1].find("listeners[0].routes[1].backend"), std::string::npos);
  EXPECT_NE(env.errors[2].find("listeners[0].routes[2].match.sources[0]"), std::string::npos);
}

TEST(Router, TargetHelpers) {
  std::string_view path, query;
  split_target("http://ex.com/a/b?c=d", path, query);
  EXPECT_EQ(path, "/a/b");
  EXPECT_EQ(query, "c=d");
  split_target("/x", path, query);
  EXPECT_EQ(path, "/x");
  EXPECT_EQ(query, "");
  EXPECT_EQ(host_without_port("[::1]:8080"), "[::1]");
  EXPECT_EQ(host_without_port("ex.com:80"), "ex.com");
  EXPECT_EQ(host_without_port("ex.com"), "ex.com");
}

}  // namespace
}  // namespace fulcrum::l7
