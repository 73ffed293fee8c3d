// tests/unit/l7/http1_parser_test.cc — parse_request_head: grammar, limits, framing, persistence.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "l7/http1/parser.h"
#include "tests/unit/l7/http1_test_util.h"

namespace fulcrum::l7::http1 {
namespace {

using testing::get_with;
using testing::kMore;
using testing::kOk;
using testing::outcome;
using testing::request_outcome;

struct Case {
  std::string name;
  std::string input;
  int expected;  // kOk, kMore or the error status
};

void expect_cases(const std::vector<Case>& cases, const Limits& limits = Limits{}) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(request_outcome(c.input, limits), c.expected);
  }
}

class RequestTest : public ::testing::Test {
 protected:
  // Keeps a copy of the input: the head's views point into it.
  ParseResult parse(std::string_view in, const Limits& limits = Limits{}) {
    input_.assign(in);
    return parse_request_head(input_, *head_, limits);
  }
  RequestHead& head() { return *head_; }
  const std::string& input() const { return input_; }

 private:
  std::string input_;
  std::unique_ptr<RequestHead> head_ = std::make_unique<RequestHead>();
};

TEST_F(RequestTest, ParsesASimpleGet) {
  const std::string in =
      "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n"
      "X-Empty:\r\nX-Pad: \t a  b \t\r\n\r\n";
  const ParseResult r = parse(in);
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.reason;
  const RequestHead& h = head();
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.method_id, Method::kGet);
  EXPECT_EQ(h.target, "/index.html?q=1");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_EQ(h.host, "example.com");
  ASSERT_EQ(h.header_count, 4u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[1].name, "User-Agent");
  EXPECT_EQ(h.headers[1].value, "t");
  EXPECT_EQ(h.headers[2].name, "X-Empty");
  EXPECT_EQ(h.headers[2].value, "");
  EXPECT_EQ(h.headers[3].value, "a  b");
  EXPECT_EQ(h.head_size, in.size());
  EXPECT_EQ(h.body, BodyKind::kNone);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.connection_upgrade);
  EXPECT_FALSE(h.expect_continue);
  // Zero-copy: the views point into the input.
  EXPECT_EQ(h.target.data(), input().data() + 4);
  EXPECT_GE(h.headers[3].value.data(), input().data());
  EXPECT_LE(h.headers[3].value.data() + h.headers[3].value.size(), input().data() + input().size());
}

TEST_F(RequestTest, HeadSizeStopsAtTheEmptyLine) {
  const std::string head_part = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  const ParseResult r = parse(head_part + "hello" + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(head().head_size, head_part.size());
  EXPECT_EQ(head().body, BodyKind::kContentLength);
  EXPECT_EQ(head().content_length, 5u);
}

TEST_F(RequestTest, EveryPrefixIsIncomplete) {
  const std::string in =
      "\r\nPOST http://example.com/a HTTP/1.1\r\nHost: example.com\r\n"
      "Transfer-Encoding: chunked\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\tb\r\n\r\n";
  for (std::size_t n = 0; n < in.size(); ++n) {
    SCOPED_TRACE(n);
    const ParseResult r = parse(std::string_view(in).substr(0, n));
    ASSERT_EQ(r.status, ParseStatus::kIncomplete) << r.reason;
  }
  ASSERT_EQ(parse(in).status, ParseStatus::kComplete);
  EXPECT_EQ(head().head_size, in.size());
  EXPECT_EQ(head().body, BodyKind::kChunked);
}

TEST_F(RequestTest, ReusedHeadIsReset) {
  ASSERT_EQ(
      parse(get_with("Connection: close\r\nExpect: 100-continue\r\nContent-Length: 3\r\n")).status,
      ParseStatus::kComplete);
  EXPECT_FALSE(head().keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(head().header_count, 0u);
  EXPECT_EQ(head().host, "");
  EXPECT_EQ(head().body, BodyKind::kNone);
  EXPECT_EQ(head().content_length, 0u);
  EXPECT_FALSE(head().expect_continue);
  EXPECT_EQ(head().version_minor, 0);
}

TEST_F(RequestTest, SkipsAFewLeadingEmptyLines) {
  const std::string req = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(parse("\r\n" + req).status, ParseStatus::kComplete);
  EXPECT_EQ(head().head_size, req.size() + 2);
  EXPECT_EQ(head().method, "GET");
  ASSERT_EQ(parse("\r\n\r\n\r\n\r\n" + req).status, ParseStatus::kComplete);
  EXPECT_EQ(head().head_size, req.size() + 8);
  EXPECT_EQ(request_outcome("\r\n\r\n\r\n\r\n\r\n" + req), 400);
  EXPECT_EQ(request_outcome("\n" + req), 400);
  EXPECT_EQ(request_outcome("\r" + req), 400);
  EXPECT_EQ(request_outcome("\r"), kMore);
}

TEST_F(RequestTest, MapsMethods) {
  const std::vector<std::pair<std::string, Method>> methods = {
      {"GET", Method::kGet},        {"HEAD", Method::kHead},     {"POST", Method::kPost},
      {"PUT", Method::kPut},        {"DELETE", Method::kDelete}, {"OPTIONS", Method::kOptions},
      {"TRACE", Method::kTrace},    {"PATCH", Method::kPatch},   {"get", Method::kOther},
      {"PROPFIND", Method::kOther}, {"GETX", Method::kOther},    {"M-SEARCH", Method::kOther}};
  for (const auto& [name, id] : methods) {
    SCOPED_TRACE(name);
    ASSERT_EQ(parse(name + " / HTTP/1.1\r\nHost: h\r\n\r\n").status, ParseStatus::kComplete);
    EXPECT_EQ(head().method, name);
    EXPECT_EQ(head().method_id, id);
  }
  ASSERT_EQ(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").status,
            ParseStatus::kComplete);
  EXPECT_EQ(head().method_id, Method::kConnect);
  EXPECT_EQ(head().target, "example.com:443");
}

TEST(RequestLine, RejectsMalformedRequestLines) {
  const std::string host = "\r\nHost: h\r\n\r\n";
  std::vector<Case> cases = {
      {"double SP", "GET  / HTTP/1.1" + host, 400},
      {"HTAB separator", "GET\t/ HTTP/1.1" + host, 400},
      {"leading SP", " GET / HTTP/1.1" + host, 400},
      {"non-token method", "G(T / HTTP/1.1" + host, 400},
      {"no target", "GET HTTP/1.1" + host, 400},
      {"lowercase version", "GET / http/1.1" + host, 400},
      {"trailing SP", "GET / HTTP/1.1 " + host, 400},
      {"three-digit version", "GET / HTTP/1.10" + host, 400},
      {"no minor", "GET / HTTP/1" + host, 400},
      {"two-digit major", "GET / HTTP/11" + host, 400},
      {"HTTP/2.0", "GET / HTTP/2.0" + host, 505},
      {"HTTP/1.2", "GET / HTTP/1.2" + host, 505},
      {"HTTP/0.9", "GET / HTTP/0.9" + host, 505},
      {"CTL in target", std::string("GET /a\x01z HTTP/1.1") + host, 400},
      {"DEL in target", "GET /a\x7f HTTP/1.1" + host, 400},
      {"NUL in target", std::string("GET /a\0b HTTP/1.1", 17) + host, 400},
      {"HTAB in target", "GET /a\tb HTTP/1.1" + host, 400},
      {"bare LF ending", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
      {"bare CR ending", "GET / HTTP/1.1\rHost: h\r\n\r\n", 400},
      {"LF inside method", "GE\nT / HTTP/1.1" + host, 400},
      {"LF after target", "GET /\n", 400},
      {"whole LF-only request", "GET / HTTP/1.1\nHost: h\n\n", 400},
      {"authority-form for GET", "GET example.com:80 HTTP/1.1" + host, 400},
      {"CONNECT origin-form", "CONNECT / HTTP/1.1" + host, 400},
      {"CONNECT without port", "CONNECT example.com HTTP/1.1" + host, 400},
      {"CONNECT empty port", "CONNECT example.com: HTTP/1.1" + host, 400},
      {"CONNECT bad port", "CONNECT example.com:8a HTTP/1.1" + host, 400},
      {"CONNECT userinfo", "CONNECT u@example.com:443 HTTP/1.1" + host, 400},
      {"asterisk for GET", "GET * HTTP/1.1" + host, 400},
      {"absolute-form without authority", "GET http:///a HTTP/1.1" + host, 400},
      {"absolute-form bare scheme", "GET http:// HTTP/1.1" + host, 400},
      {"absolute-form userinfo", "GET http://u@h/ HTTP/1.1" + host, 400},
      {"unknown scheme", "GET ftp://h/ HTTP/1.1" + host, 400},
      {"relative path", "GET a/b HTTP/1.1" + host, 400},
  };
  expect_cases(cases);
}

TEST(RequestLine, AcceptsEveryTargetForm) {
  expect_cases({
      {"origin-form", get_with(""), kOk},
      {"asterisk for OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", kOk},
      {"absolute-form", "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n", kOk},
      {"absolute-form no path", "GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
       kOk},
      {"CONNECT IPv6", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", kOk},
      {"obs-text in path", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", kOk},
      {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", kOk},
  });
}

TEST(FieldLines, RejectsMalformedFields) {
  std::vector<Case> cases = {
      {"space before colon", get_with("X-A : b\r\n"), 400},
      {"tab before colon", get_with("X-A\t: b\r\n"), 400},
      {"Host space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
      {"obs-fold", get_with("X-A: b\r\n c\r\n"), 400},
      {"obs-fold with tab", get_with("X-A: b\r\n\tc\r\n"), 400},
      {"whitespace line after request-line", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
      {"empty name", get_with(": b\r\n"), 400},
      {"no colon", get_with("X-A\r\n"), 400},
      {"non-token in name", get_with("X(A): b\r\n"), 400},
      {"NUL in name", get_with(std::string("X\0A: b\r\n", 8)), 400},
      {"NUL in value", get_with(std::string("X-A: b\0c\r\n", 10)), 400},
      {"CTL in value", get_with("X-A: b\x01\r\n"), 400},
      {"ESC in value", get_with("X-A: \x1b[0m\r\n"), 400},
      {"DEL in value", get_with("X-A: b\x7f\r\n"), 400},
      {"bare CR in value", get_with("X-A: b\rc\r\n"), 400},
      {"bare LF ending a field", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400},
      {"bare LF final line", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
      {"bare CR final line", "GET / HTTP/1.1\r\nHost: h\r\n\rX", 400},
      {"CR CR LF", get_with("X-A: b\r\r\n"), 400},
  };
  expect_cases(cases);
}

TEST_F(RequestTest, AcceptsTabsAndObsTextInValues) {
  ASSERT_EQ(parse(get_with("X-A: a\tb\xff\x80 c\t\r\n")).status, ParseStatus::kComplete);
  EXPECT_EQ(head().headers[1].value, "a\tb\xff\x80 c");
}

// Values and targets are scanned 8 bytes at a time: a bad byte must be caught at every offset
// within a word, whatever follows it (the borrow trick may also flag the bytes after it).
TEST(FieldLines, WordScanFindsEveryBadByteAtEveryOffset) {
  for (int bad = 0; bad < 0x80; ++bad) {
    const bool ok_in_value = bad == '\t' || (bad >= 0x20 && bad != 0x7f);
    const bool ok_in_target = bad > 0x20 && bad != 0x7f;
    for (std::size_t at = 0; at < 24; ++at) {
      for (char next : {'a', ' ', '!', '\x01'}) {
        std::string value(40, 'v');
        value[at] = static_cast<char>(bad);
        if (next != 'a') value[at + 1] = next;
        const bool value_ok = ok_in_value && (next != '\x01');
        SCOPED_TRACE(::testing::Message()
                     << "byte " << bad << " at " << at << " next " << static_cast<int>(next));
        ASSERT_EQ(request_outcome(get_with("X: " + value + "\r\n")), value_ok ? kOk : 400);
        const bool target_ok = ok_in_target && (next == 'a' || next == '!');
        ASSERT_EQ(request_outcome("GET /" + value + " HTTP/1.1\r\nHost: h\r\n\r\n"),
                  target_ok ? kOk : 400);
      }
    }
  }
}

TEST_F(RequestTest, WordScanKeepsTabsAndObsTextInLongValues) {
  std::string value;
  for (int i = 0; i < 64; ++i) value += (i % 9 == 4) ? '\t' : static_cast<char>(0x80 + i);
  value += "end";
  ASSERT_EQ(parse(get_with("X: " + value + "\r\n")).status, ParseStatus::kComplete);
  EXPECT_EQ(head().headers[1].value, value);
}

TEST(Limits, RequestLineLimitIs414) {
  Limits limits;
  limits.max_request_line = 64;
  const std::string prefix = "GET /";
  const std::string suffix = " HTTP/1.1";
  auto line_of = [&](std::size_t len) {
    return prefix + std::string(len - prefix.size() - suffix.size(), 'a') + suffix;
  };
  EXPECT_EQ(request_outcome(line_of(64) + "\r\nHost: h\r\n\r\n", limits), kOk);
  EXPECT_EQ(request_outcome(line_of(65) + "\r\nHost: h\r\n\r\n", limits), 414);
  // Still incomplete but already too long: no point waiting for the rest.
  EXPECT_EQ(request_outcome("GET /" + std::string(100, 'a'), limits), 414);
  EXPECT_EQ(request_outcome("GET /" + std::string(59, 'a'), limits), kMore);
  EXPECT_EQ(request_outcome("GET /" + std::string(60, 'a'), limits), 414);
  EXPECT_EQ(request_outcome(std::string(65, 'G'), limits), 414);
  // Exactly at the limit, waiting for the LF.
  EXPECT_EQ(request_outcome(line_of(64) + "\r", limits), kMore);
  EXPECT_EQ(request_outcome(line_of(64), limits), kMore);
}

TEST(Limits, HeadLimitIs431) {
  Limits limits;
  limits.max_head = 200;
  const std::string base = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  auto head_of = [&](std::size_t size) {
    return base + std::string(size - base.size() - 4, 'v') + "\r\n\r\n";
  };
  ASSERT_EQ(head_of(200).size(), 200u);
  EXPECT_EQ(request_outcome(head_of(200), limits), kOk);
  EXPECT_EQ(request_outcome(head_of(201), limits), 431);
  EXPECT_EQ(request_outcome(head_of(200) + "trailing body bytes", limits), kOk);
  EXPECT_EQ(request_outcome(head_of(201).substr(0, 199), limits), kMore);
  // 200 bytes without the end of the head: it can only end beyond the limit.
  EXPECT_EQ(request_outcome(head_of(201).substr(0, 200), limits), 431);
  EXPECT_EQ(request_outcome(base + std::string(300, 'v'), limits), 431);
  EXPECT_EQ(request_outcome(base + std::string(170, 'v'), limits), kMore);
  // A request line longer than the whole head budget is over max_head first.
  Limits tiny;
  tiny.max_head = 20;
  EXPECT_EQ(request_outcome("GET /" + std::string(30, 'a'), tiny), 431);
}

TEST(Limits, FieldCountIs431) {
  Limits limits;
  limits.max_headers = 3;
  EXPECT_EQ(request_outcome(get_with("A: 1\r\nB: 2\r\n"), limits), kOk);
  EXPECT_EQ(request_outcome(get_with("A: 1\r\nB: 2\r\nC: 3\r\n"), limits), 431);
  // The fourth line has begun: it cannot complete within the limit.
  EXPECT_EQ(request_outcome("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC", limits), 431);
  EXPECT_EQ(request_outcome("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n", limits), kMore);

  // A limit above the fixed array is clamped to it.
  Limits huge;
  huge.max_headers = 100000;
  huge.max_head = 1 << 20;
  std::string fields;
  for (std::size_t i = 0; i + 1 < kMaxHeaders; ++i) fields += "X: y\r\n";
  EXPECT_EQ(request_outcome(get_with(fields), huge), kOk);
  EXPECT_EQ(request_outcome(get_with(fields + "X: y\r\n"), huge), 431);
}

TEST_F(RequestTest, ContentLengthFraming) {
  struct CL {
    std::string fields;
    int expected;
    BodyKind body;
    std::uint64_t length;
  };
  const std::vector<CL> cases = {
      {"Content-Length: 42\r\n", kOk, BodyKind::kContentLength, 42},
      {"content-length: 0\r\n", kOk, BodyKind::kNone, 0},
      {"", kOk, BodyKind::kNone, 0},
      {"Content-Length: 42, 42\r\n", kOk, BodyKind::kContentLength, 42},
      {"Content-Length: 42\r\nContent-Length: 42\r\n", kOk, BodyKind::kContentLength, 42},
      {"Content-Length: 007\r\n", kOk, BodyKind::kContentLength, 7},
      {"Content-Length: 9223372036854775807\r\n", kOk, BodyKind::kContentLength,
       9223372036854775807ULL},
      {"Content-Length: 42, 43\r\n", 400, {}, 0},
      {"Content-Length: 42\r\nContent-Length: 43\r\n", 400, {}, 0},
      {"Content-Length:\r\n", 400, {}, 0},
      {"Content-Length: 42,\r\n", 400, {}, 0},
      {"Content-Length: ,42\r\n", 400, {}, 0},
      {"Content-Length: +42\r\n", 400, {}, 0},
      {"Content-Length: -1\r\n", 400, {}, 0},
      {"Content-Length: 4 2\r\n", 400, {}, 0},
      {"Content-Length: 0x10\r\n", 400, {}, 0},
      {"Content-Length: 1e3\r\n", 400, {}, 0},
      {"Content-Length: 9223372036854775808\r\n", 400, {}, 0},
      {"Content-Length: 18446744073709551617\r\n", 400, {}, 0},
      {"Content-Length: 99999999999999999999999\r\n", 400, {}, 0},
  };
  for (const CL& c : cases) {
    SCOPED_TRACE(c.fields);
    const ParseResult r = parse(get_with(c.fields));
    ASSERT_EQ(outcome(r), c.expected) << r.reason;
    if (c.expected == kOk) {
      EXPECT_EQ(head().body, c.body);
      if (c.body == BodyKind::kContentLength) {
        EXPECT_EQ(head().content_length, c.length);
      }
    }
  }
}

TEST_F(RequestTest, TransferEncodingFraming) {
  for (const char* te : {"chunked", "Chunked", "CHUNKED", "  chunked  "}) {
    SCOPED_TRACE(te);
    ASSERT_EQ(parse(get_with(std::string("Transfer-Encoding: ") + te + "\r\n")).status,
              ParseStatus::kComplete);
    EXPECT_EQ(head().body, BodyKind::kChunked);
  }
  expect_cases({
      {"CL then TE", get_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400},
      {"TE then CL", get_with("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400},
      {"TE with CL 0", get_with("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"), 400},
      {"chunked not last", get_with("Transfer-Encoding: chunked, gzip\r\n"), 400},
      {"no chunked", get_with("Transfer-Encoding: gzip\r\n"), 400},
      {"identity", get_with("Transfer-Encoding: identity\r\n"), 400},
      {"chunked twice", get_with("Transfer-Encoding: chunked, chunked\r\n"), 400},
      {"chunked in two fields",
       get_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400},
      {"chunked then other field",
       get_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), 400},
      {"other coding before chunked", get_with("Transfer-Encoding: gzip, chunked\r\n"), 501},
      {"other coding in an earlier field",
       get_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), 501},
      {"parameters", get_with("Transfer-Encoding: chunked;q=1\r\n"), 400},
      {"empty", get_with("Transfer-Encoding:\r\n"), 400},
      {"trailing comma", get_with("Transfer-Encoding: chunked,\r\n"), 400},
      {"quoted", get_with("Transfer-Encoding: \"chunked\"\r\n"), 400},
      {"vertical tab trick",
       get_with("Transfer-Encoding: \x0b"
                "chunked\r\n"),
       400},
      {"HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
  });
}

TEST_F(RequestTest, HostRules) {
  expect_cases({
      {"missing on 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
      {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"two hosts any case", "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", 400},
      {"two hosts on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"slash in host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"userinfo in host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
      {"space in host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", kOk},
  });
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nhost:  [::1]:8080 \r\n\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(head().host, "[::1]:8080");
}

TEST_F(RequestTest, ConnectionAndPersistence) {
  struct P {
    std::string request;
    bool keep_alive;
    bool upgrade;
  };
  const std::vector<P> cases = {
      {get_with(""), true, false},
      {get_with("Connection: close\r\n"), false, false},
      {get_with("Connection: Close\r\n"), false, false},
      {get_with("Connection: keep-alive, close\r\n"), false, false},
      {get_with("Connection: te\r\nConnection: close\r\n"), false, false},
      {"GET / HTTP/1.0\r\n\r\n", false, false},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false, false},
      {get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"), true, true},
      {get_with("Upgrade: websocket\r\nConnection: keep-alive, upgrade\r\n"), true, true},
      {get_with("Connection: upgrade\r\n"), true, false},
      {get_with("Upgrade: websocket\r\n"), true, false},
      {get_with("Connection: upgraded\r\nUpgrade: h2c\r\n"), true, false},
  };
  for (const P& c : cases) {
    SCOPED_TRACE(c.request);
    ASSERT_EQ(parse(c.request).status, ParseStatus::kComplete);
    EXPECT_EQ(head().keep_alive, c.keep_alive);
    EXPECT_EQ(head().connection_upgrade, c.upgrade);
  }
}

TEST_F(RequestTest, ExpectContinue) {
  ASSERT_EQ(parse(get_with("Expect: 100-continue\r\n")).status, ParseStatus::kComplete);
  EXPECT_TRUE(head().expect_continue);
  ASSERT_EQ(parse(get_with("expect: 100-Continue\r\n")).status, ParseStatus::kComplete);
  EXPECT_TRUE(head().expect_continue);
  ASSERT_EQ(parse(get_with("Expect: 200-ok\r\n")).status, ParseStatus::kComplete);
  EXPECT_FALSE(head().expect_continue);
  // RFC 9110 §10.1.1: ignored in an HTTP/1.0 request.
  ASSERT_EQ(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").status,
            ParseStatus::kComplete);
  EXPECT_FALSE(head().expect_continue);
}

TEST(Iequals, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("chunked", "chunke"));
  EXPECT_FALSE(iequals("[", "{"));  // 0x5b vs 0x7b differ only in the case bit
  EXPECT_FALSE(iequals("@", "`"));
}

}  // namespace
}  // namespace fulcrum::l7::http1
