#include "l7/forward.h"

#include <gtest/gtest.h>

#include <string>

namespace fulcrum::l7 {
namespace {

std::string rewrite(std::string_view raw, bool upgrade = false) {
  http1::RequestHead h;
  const auto r = http1::parse_request_head(raw, h, http1::Limits{});
  EXPECT_EQ(r.status, http1::ParseStatus::kComplete) << r.reason;
  BlockPool pool;
  Buffer out;
  out.reserve(pool);
  EXPECT_TRUE(write_request_head(out, h, ClientInfo{"192.0.2.7", false, "http"}, upgrade));
  return std::string(out.view());
}

TEST(Forward, DropsHopByHopAndConnectionListedFields) {
  const std::string out = rewrite(
      "GET /a HTTP/1.1\r\nHost: ex\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\n"
      "TE: trailers\r\nTrailer: x\r\nProxy-Connection: x\r\nUpgrade: h2c\r\nX-Secret: 1\r\n"
      "Accept: */*\r\n\r\n");
  EXPECT_EQ(out.find("Connection"), std::string::npos) << out;
  EXPECT_EQ(out.find("Keep-Alive"), std::string::npos) << out;
  EXPECT_EQ(out.find("TE:"), std::string::npos) << out;
  EXPECT_EQ(out.find("Trailer"), std::string::npos) << out;
  EXPECT_EQ(out.find("Upgrade"), std::string::npos) << out;
  EXPECT_EQ(out.find("X-Secret"), std::string::npos) << out;
  EXPECT_NE(out.find("Accept: */*\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.rfind("GET /a HTTP/1.1\r\nHost: ex\r\n", 0), 0u) << out;
}

TEST(Forward, ConnectionCannotStripFramingFields) {
  const std::string out = rewrite(
      "POST / HTTP/1.1\r\nHost: ex\r\nConnection: content-length, host\r\n"
      "Content-Length: 3\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 3\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Host: ex\r\n"), std::string::npos) << out;
}

TEST(Forward, ReplacesClientForwardingFields) {
  const std::string out = rewrite(
      "GET / HTTP/1.1\r\nHost: ex\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n"
      "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n");
  EXPECT_EQ(out.find("6.6.6.6"), std::string::npos) << out;
  EXPECT_EQ(out.find("evil"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-For: 192.0.2.7\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-Host: ex\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Forwarded: for=192.0.2.7;proto=http;host=\"ex\"\r\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("Via: 1.1 fulcrum\r\n\r\n"), std::string::npos) << out;
}

TEST(Forward, KeepsUpgradeWhenUpgrading) {
  const std::string out = rewrite(
      "GET /ws HTTP/1.1\r\nHost: ex\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true);
  EXPECT_NE(out.find("Upgrade: websocket\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: upgrade\r\n"), std::string::npos) << out;
}

TEST(Forward, ResponseHeadKeepAliveAndClose) {
  http1::ResponseHead h;
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_EQ(http1::parse_response_head(raw, h, http1::Limits{}, http1::Method::kGet).status,
            http1::ParseStatus::kComplete);
  BlockPool pool;
  Buffer out;
  out.reserve(pool);
  ASSERT_TRUE(write_response_head(out, h, /*keep_alive=*/false, 1));
  EXPECT_EQ(out.view(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  out.consume(out.size());
  ASSERT_TRUE(write_response_head(out, h, /*keep_alive=*/true, 0));
  EXPECT_EQ(out.view(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
}

TEST(Forward, ErrorResponsesAreComplete) {
  BlockPool pool;
  Buffer out;
  out.reserve(pool);
  write_error_response(out, 503, false);
  const std::string s(out.view());
  EXPECT_EQ(s.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u);
  const auto body = s.substr(s.find("\r\n\r\n") + 4);
  EXPECT_NE(s.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(s.find("Connection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace fulcrum::l7

namespace fulcrum::l7 {
namespace {

TEST(Forward, RepeatedContentLengthGoesOutOnce) {
  const std::string out =
      rewrite("POST / HTTP/1.1\r\nHost: ex\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Content-Length", out.find("Content-Length") + 1), std::string::npos) << out;
}

TEST(Forward, HeaderOpsSetAddRemove) {
  http1::RequestHead h;
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: ex\r\nX-Drop: 1\r\nX-Set: old\r\nX-Keep: 1\r\n\r\n";
  ASSERT_EQ(http1::parse_request_head(raw, h, http1::Limits{}).status,
            http1::ParseStatus::kComplete);
  CompiledHeaderOps ops{{{"X-Set", "new"}}, {{"X-Add", "a"}}, {"x-drop"}};
  BlockPool pool;
  Buffer out;
  out.reserve(pool);
  ASSERT_TRUE(
      write_request_head(out, h, ClientInfo{"10.0.0.1", false, "http"}, false, "/rewritten", &ops));
  const std::string s(out.view());
  EXPECT_EQ(s.rfind("GET /rewritten HTTP/1.1\r\n", 0), 0u) << s;
  EXPECT_EQ(s.find("X-Drop"), std::string::npos) << s;
  EXPECT_EQ(s.find("old"), std::string::npos) << s;
  EXPECT_NE(s.find("X-Set: new\r\n"), std::string::npos) << s;
  EXPECT_NE(s.find("X-Add: a\r\n"), std::string::npos) << s;
  EXPECT_NE(s.find("X-Keep: 1\r\n"), std::string::npos) << s;
}

}  // namespace
}  // namespace fulcrum::l7

namespace fulcrum::l7 {
namespace {

TEST(Forward, TrustedProxyFieldsAreKeptAndAppended) {
  http1::RequestHead h;
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: ex\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
      "Forwarded: for=203.0.113.9;proto=https\r\n\r\n";
  ASSERT_EQ(http1::parse_request_head(raw, h, http1::Limits{}).status,
            http1::ParseStatus::kComplete);
  BlockPool pool;
  Buffer out;
  out.reserve(pool);
  ASSERT_TRUE(write_request_head(out, h, ClientInfo{"10.0.0.2", false, "http", true}, false));
  const std::string s(out.view());
  EXPECT_NE(s.find("X-Forwarded-For: 203.0.113.9, 10.0.0.2\r\n"), std::string::npos) << s;
  EXPECT_NE(s.find("X-Forwarded-Proto: https\r\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("X-Forwarded-Proto: http\r\n"), std::string::npos) << s;
  EXPECT_NE(s.find("Forwarded: for=203.0.113.9;proto=https, for=10.0.0.2;proto=http"),
            std::string::npos)
      << s;
}

TEST(Forward, CustomErrorBody) {
  BlockPool pool;
  Buffer out;
  out.reserve(pool);
  write_error_response(out, 503, false, "try later\n");
  const std::string s(out.view());
  EXPECT_NE(s.find("Content-Length: 10\r\n"), std::string::npos) << s;
  EXPECT_EQ(s.substr(s.size() - 10), "try later\n");
}

}  // namespace
}  // namespace fulcrum::l7
