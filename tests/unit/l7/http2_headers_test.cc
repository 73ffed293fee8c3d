// Converting between HTTP/2 header lists and the HTTP/1.1 heads the engine forwards.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "l7/http1/parser.h"
#include "l7/http2/h2_headers.h"

namespace fulcrum::l7::http2 {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

H2Request request(std::vector<std::pair<std::string, std::string>> fields) {
  H2Request r;
  for (const auto& [n, v] : fields) EXPECT_TRUE(r.add(n, v, 1 << 20));
  return r;
}

std::vector<std::pair<std::string, std::string>> fields_of(const http1::RequestHead& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < h.header_count; ++i) {
    out.emplace_back(h.headers[i].name, h.headers[i].value);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> pairs(const std::vector<nghttp2_nv>& nva) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& nv : nva) {
    out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                     std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
  }
  return out;
}

TEST(H2Request, PseudoFieldsAndCookiesBecomeAnHttp11Head) {
  H2Request r = request({{":method", "GET"},
                         {":scheme", "https"},
                         {":authority", "example.com:8443"},
                         {":path", "/a?b=c"},
                         {"cookie", "a=1"},
                         {"user-agent", "t"},
                         {"cookie", "b=2"}});
  std::string cookie;
  http1::RequestHead h;
  ASSERT_EQ(to_request_head(r, /*end_stream=*/true, cookie, h), 0);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.method_id, http1::Method::kGet);
  EXPECT_EQ(h.target, "/a?b=c");
  EXPECT_EQ(h.host, "example.com:8443");
  EXPECT_EQ(h.body, http1::BodyKind::kNone);
  // RFC 9113 §8.2.3: split cookies are joined with "; " for HTTP/1.1.
  EXPECT_THAT(fields_of(h), ElementsAre(Pair("user-agent", "t"), Pair("cookie", "a=1; b=2")));
}

TEST(H2Request, BodyFramingFollowsContentLengthOrChunks) {
  std::string cookie;
  http1::RequestHead h;
  H2Request with_length = request({{":method", "POST"},
                                   {":scheme", "http"},
                                   {":authority", "x"},
                                   {":path", "/"},
                                   {"content-length", "1048576"}});
  ASSERT_EQ(to_request_head(with_length, false, cookie, h), 0);
  EXPECT_EQ(h.body, http1::BodyKind::kContentLength);
  EXPECT_EQ(h.content_length, 1048576u);

  H2Request without =
      request({{":method", "PUT"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}});
  ASSERT_EQ(to_request_head(without, false, cookie, h), 0);
  EXPECT_EQ(h.body, http1::BodyKind::kChunked);
  EXPECT_THAT(fields_of(h), ElementsAre(Pair("transfer-encoding", "chunked")));
}

TEST(H2Request, HostFieldStandsInForAuthorityAndOneIsRequired) {
  std::string cookie;
  http1::RequestHead h;
  H2Request r =
      request({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.test"}});
  ASSERT_EQ(to_request_head(r, true, cookie, h), 0);
  EXPECT_EQ(h.host, "h.test");
  H2Request none = request({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}});
  EXPECT_EQ(to_request_head(none, true, cookie, h), 400);
}

TEST(H2Request, TooManyFieldsIs431) {
  H2Request r =
      request({{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}});
  for (int i = 0; i < 200; ++i) r.add("x-f" + std::to_string(i), "v", 1 << 20);
  std::string cookie;
  http1::RequestHead h;
  EXPECT_EQ(to_request_head(r, true, cookie, h), 431);
}

TEST(H2Request, HeaderListSizeCountsNamePlusValuePlus32) {
  H2Request r;
  EXPECT_TRUE(r.add("abc", "defg", 39));  // 3 + 4 + 32
  EXPECT_FALSE(r.add("a", "", 39));       // the HPACK-bomb guard: over the limit
}

TEST(H2Response, DropsHopByHopLowercasesAndAppliesRules) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n"
      "Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nX-Hop: 1\r\nX-Drop: 1\r\n"
      "Upgrade: h2c\r\nSet-Cookie: a=1\r\n\r\n";
  http1::ResponseHead h;
  http1::Limits limits;
  ASSERT_EQ(http1::parse_response_head(raw, h, limits, http1::Method::kGet).status,
            http1::ParseStatus::kComplete);
  CompiledHeaderOps ops;
  ops.remove = {"x-drop"};
  ops.set = {{"X-Set", "s"}};
  std::string store;
  std::vector<nghttp2_nv> nva;
  to_response_nva(h, &ops, "Set-Cookie: lb=srv1; Path=/\r\n", store, nva);
  EXPECT_THAT(pairs(nva), ElementsAre(Pair(":status", "200"), Pair("content-type", "text/plain"),
                                      Pair("set-cookie", "a=1"), Pair("x-set", "s"),
                                      Pair("set-cookie", "lb=srv1; Path=/")));
}

TEST(H2Upstream, RequestFromTheForwardedHttp11Head) {
  const std::string head =
      "POST /rpc/Say HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/grpc\r\n"
      "Transfer-Encoding: chunked\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n";
  http1::RequestHead scratch;
  std::string store;
  std::vector<nghttp2_nv> nva;
  ASSERT_TRUE(to_upstream_nva(head, /*te_trailers=*/true, scratch, store, nva));
  EXPECT_THAT(
      pairs(nva),
      ElementsAre(Pair(":method", "POST"), Pair(":scheme", "http"), Pair(":authority", "api.test"),
                  Pair(":path", "/rpc/Say"), Pair("content-type", "application/grpc"),
                  Pair("x-forwarded-for", "192.0.2.1"), Pair("te", "trailers")));
  EXPECT_FALSE(to_upstream_nva("not http\r\n\r\n", false, scratch, store, nva));
}

TEST(H2Upstream, ResponseAndTrailersForTheClient) {
  const H2Fields fields = {
      {"content-type", "application/grpc"}, {"connection", "close"}, {"x-secret", "1"}};
  CompiledHeaderOps ops;
  ops.remove = {"X-Secret"};
  std::string store;
  std::vector<nghttp2_nv> nva;
  to_client_nva(200, fields, &ops, {}, store, nva);
  EXPECT_THAT(pairs(nva),
              ElementsAre(Pair(":status", "200"), Pair("content-type", "application/grpc")));
  to_client_nva(0, {{"grpc-status", "0"}}, nullptr, {}, store, nva);
  EXPECT_THAT(pairs(nva), ElementsAre(Pair("grpc-status", "0")));
}

TEST(H2Method, KnownAndOther) {
  EXPECT_EQ(method_id("HEAD"), http1::Method::kHead);
  EXPECT_EQ(method_id("PROPFIND"), http1::Method::kOther);
  EXPECT_EQ(method_id("get"), http1::Method::kOther);  // methods are case-sensitive
}

}  // namespace
}  // namespace fulcrum::l7::http2
