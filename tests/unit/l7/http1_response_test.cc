// tests/unit/l7/http1_response_test.cc — parse_response_head: status line, bodylessness, framing.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "l7/http1/parser.h"
#include "tests/unit/l7/http1_test_util.h"

namespace fulcrum::l7::http1 {
namespace {

using testing::kMore;
using testing::kOk;
using testing::response_outcome;

class ResponseTest : public ::testing::Test {
 protected:
  ParseResult parse(std::string_view in, Method method = Method::kGet,
                    const Limits& limits = Limits{}) {
    input_.assign(in);  // the head's views point into it
    return parse_response_head(input_, *head_, limits, method);
  }
  ResponseHead& head() { return *head_; }

 private:
  std::string input_;
  std::unique_ptr<ResponseHead> head_ = std::make_unique<ResponseHead>();
};

TEST_F(ResponseTest, ParsesAStatusLineAndFields) {
  const std::string in =
      "HTTP/1.1 200 OK fine\r\nContent-Length: 12\r\nContent-Type:  text/plain \r\n\r\n";
  const ParseResult r = parse(in + "hello world!");
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.reason;
  EXPECT_EQ(head().status, 200);
  EXPECT_EQ(head().reason, "OK fine");
  EXPECT_EQ(head().version_minor, 1);
  ASSERT_EQ(head().header_count, 2u);
  EXPECT_EQ(head().headers[1].value, "text/plain");
  EXPECT_EQ(head().body, BodyKind::kContentLength);
  EXPECT_EQ(head().content_length, 12u);
  EXPECT_EQ(head().head_size, in.size());
  EXPECT_TRUE(head().keep_alive);
}

TEST_F(ResponseTest, ReasonMayBeEmptyOrMissing) {
  ASSERT_EQ(parse("HTTP/1.1 204 \r\n\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(head().reason, "");
  ASSERT_EQ(parse("HTTP/1.1 204\r\n\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(head().status, 204);
  EXPECT_EQ(head().reason, "");
  ASSERT_EQ(parse("HTTP/1.0 404 Not\tFound\xe2\x80\x94\r\n\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(head().reason, "Not\tFound\xe2\x80\x94");
  EXPECT_EQ(head().version_minor, 0);
}

TEST_F(ResponseTest, EveryPrefixIsIncomplete) {
  const std::string in =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  for (std::size_t n = 0; n < in.size(); ++n) {
    SCOPED_TRACE(n);
    ASSERT_EQ(parse(std::string_view(in).substr(0, n)).status, ParseStatus::kIncomplete);
  }
  ASSERT_EQ(parse(in).status, ParseStatus::kComplete);
  EXPECT_EQ(head().status, 101);
  EXPECT_EQ(head().body, BodyKind::kNone);
  EXPECT_TRUE(head().connection_upgrade);
}

TEST_F(ResponseTest, BodyDelimitation) {
  struct B {
    std::string response;
    Method method;
    BodyKind body;
    bool keep_alive;
  };
  const std::string cl = "Content-Length: 10\r\n\r\n";
  const std::string te = "Transfer-Encoding: chunked\r\n\r\n";
  const std::vector<B> cases = {
      {"HTTP/1.1 200 OK\r\n" + cl, Method::kGet, BodyKind::kContentLength, true},
      {"HTTP/1.1 200 OK\r\n" + te, Method::kPost, BodyKind::kChunked, true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::kGet, BodyKind::kNone, true},
      {"HTTP/1.1 200 OK\r\n\r\n", Method::kGet, BodyKind::kUntilClose, false},
      {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", Method::kGet, BodyKind::kUntilClose,
       false},
      {"HTTP/1.1 100 Continue\r\n\r\n", Method::kPost, BodyKind::kNone, true},
      {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", Method::kGet, BodyKind::kNone, true},
      {"HTTP/1.1 204 No Content\r\n" + cl, Method::kGet, BodyKind::kNone, true},
      {"HTTP/1.1 304 Not Modified\r\n" + cl, Method::kGet, BodyKind::kNone, true},
      {"HTTP/1.1 304 Not Modified\r\n\r\n", Method::kGet, BodyKind::kNone, true},
      {"HTTP/1.1 200 OK\r\n" + cl, Method::kHead, BodyKind::kNone, true},
      {"HTTP/1.1 200 OK\r\n" + te, Method::kHead, BodyKind::kNone, true},
      {"HTTP/1.1 404 Not Found\r\n\r\n", Method::kHead, BodyKind::kNone, true},
      {"HTTP/1.1 200 Connection established\r\n\r\n", Method::kConnect, BodyKind::kNone, true},
      {"HTTP/1.1 407 Auth\r\n" + cl, Method::kConnect, BodyKind::kContentLength, true},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\n" + cl, Method::kGet, BodyKind::kContentLength,
       false},
      {"HTTP/1.0 200 OK\r\n" + cl, Method::kGet, BodyKind::kContentLength, false},
      {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n" + cl, Method::kGet, BodyKind::kContentLength,
       true},
      {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", Method::kGet, BodyKind::kUntilClose,
       false},
  };
  for (const B& c : cases) {
    SCOPED_TRACE(c.response);
    const ParseResult r = parse(c.response, c.method);
    ASSERT_EQ(r.status, ParseStatus::kComplete) << r.reason;
    EXPECT_EQ(head().body, c.body);
    EXPECT_EQ(head().keep_alive, c.keep_alive);
  }
}

TEST(ResponseErrors, AreAll502) {
  const std::vector<std::string> bad = {
      "HTTP/1.1 99 Low\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n",
      "HTTP/1.1 600 High\r\n\r\n",
      "HTTP/1.1 20 Short\r\n\r\n",
      "HTTP/1.1 2000 Long\r\n\r\n",
      "HTTP/1.1 2x0 X\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1\t200 OK\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.2 200 OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\n\r\n",
      "HTTP/1.1 200 OK\r\nX: y\n\r\n",
      "HTTP/1.1 200 OK\rX\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: y\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      // Framing fields are validated even where they do not delimit the body.
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 1, 2\r\n\r\n",
  };
  for (const std::string& r : bad) {
    SCOPED_TRACE(r);
    EXPECT_EQ(response_outcome(r), 502);
  }
}

TEST(ResponseLimits, AreEnforcedWith502) {
  Limits limits;
  limits.max_head = 100;
  limits.max_headers = 2;
  EXPECT_EQ(response_outcome("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", Method::kGet, limits), kOk);
  EXPECT_EQ(
      response_outcome("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", Method::kGet, limits),
      502);
  EXPECT_EQ(
      response_outcome("HTTP/1.1 200 OK\r\nA: " + std::string(200, 'x'), Method::kGet, limits),
      502);
  EXPECT_EQ(response_outcome("HTTP/1.1 200 OK\r\nA: " + std::string(50, 'x'), Method::kGet, limits),
            kMore);
  Limits line;
  line.max_request_line = 32;
  EXPECT_EQ(response_outcome("HTTP/1.1 200 " + std::string(40, 'x'), Method::kGet, line), 502);
}

TEST(ResponseLimits, TruncatedStatusLinesWait) {
  for (const char* partial : {"H", "HTTP/1.", "HTTP/1.1", "HTTP/1.1 ", "HTTP/1.1 20",
                              "HTTP/1.1 200", "HTTP/1.1 200 O", "HTTP/1.1 200 OK\r"}) {
    SCOPED_TRACE(partial);
    EXPECT_EQ(response_outcome(partial), kMore);
  }
  EXPECT_EQ(response_outcome("X"), 502);
  EXPECT_EQ(response_outcome("HTTP/1.1 2a"), 502);
}

}  // namespace
}  // namespace fulcrum::l7::http1
