// tests/unit/l7/http1_chunked_test.cc — ChunkedDecoder: framing, extensions, trailers, and the
// promise that any split of the input across feed() calls gives the same answer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "l7/http1/parser.h"

namespace fulcrum::l7::http1 {
namespace {

struct Total {
  ParseStatus status = ParseStatus::kIncomplete;
  std::size_t consumed = 0;  // bytes used across all feeds
  std::uint64_t data = 0;
};

// Feeds `body` in pieces of `piece` bytes (0: all at once), stopping at the first final step.
Total feed_in_pieces(std::string_view body, std::size_t piece) {
  ChunkedDecoder d;
  Total t;
  if (piece == 0) piece = body.size() + 1;
  for (std::size_t off = 0; off < body.size(); off += piece) {
    const ChunkedDecoder::Step s = d.feed(body.substr(off, piece));
    t.data += s.data_bytes;
    t.consumed += s.consumed;
    t.status = s.status;
    if (s.status != ParseStatus::kIncomplete) return t;
    EXPECT_EQ(s.consumed, std::min(piece, body.size() - off));
  }
  return t;
}

// Feeds `body` split once at `at`.
Total feed_split(std::string_view body, std::size_t at) {
  ChunkedDecoder d;
  Total t;
  for (std::string_view part : {body.substr(0, at), body.substr(at)}) {
    const ChunkedDecoder::Step s = d.feed(part);
    t.data += s.data_bytes;
    t.consumed += s.consumed;
    t.status = s.status;
    if (s.status != ParseStatus::kIncomplete) return t;
  }
  return t;
}

// Checks that every way of splitting `body` ends the same way: `status`, the same number of bytes
// used as a one-shot feed (which must be `consumed` for kComplete), the same payload count.
void expect_same_everywhere(const std::string& body, ParseStatus status, std::size_t consumed,
                            std::uint64_t data) {
  SCOPED_TRACE(body);
  const Total whole = feed_in_pieces(body, 0);
  ASSERT_EQ(whole.status, status);
  if (status == ParseStatus::kComplete) {
    EXPECT_EQ(whole.consumed, consumed);
    EXPECT_EQ(whole.data, data);
  }
  auto same = [&](const Total& t) {
    ASSERT_EQ(t.status, status);
    EXPECT_EQ(t.consumed, whole.consumed);
    EXPECT_EQ(t.data, whole.data);
  };
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}}) {
    SCOPED_TRACE(piece);
    same(feed_in_pieces(body, piece));
  }
  // Every split point of small bodies; a sample of them for the large ones (quadratic cost).
  const std::size_t stride = body.size() > 512 ? 61 : 1;
  for (std::size_t at = 0; at <= body.size(); at += stride) {
    SCOPED_TRACE(at);
    same(feed_split(body, at));
  }
}

TEST(Chunked, DecodesValidBodiesUnderAnySplit) {
  struct V {
    std::string body;
    std::uint64_t data;
  };
  const std::vector<V> valid = {
      {"0\r\n\r\n", 0},
      {"000\r\n\r\n", 0},
      {"5\r\nhello\r\n0\r\n\r\n", 5},
      {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 11},
      {"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", 20},
      {"0005\r\n\r\n\r\n\r\r\n0\r\n\r\n", 5},  // data may be any bytes, CRLF included
      {"1;a\r\nx\r\n0\r\n\r\n", 1},
      {"1;a=b\r\nx\r\n0;last\r\n\r\n", 1},
      {"1 ; a = b ; c\r\nx\r\n0\r\n\r\n", 1},
      {"1\t;\ta\t=\t\"q\\\"uoted; \\\\ \"\r\nx\r\n0\r\n\r\n", 1},
      {"1;a=\"\";b=\"\xc3\xa9\"\r\nx\r\n0\r\n\r\n", 1},
      {"1;a=\"x\" ;b\r\nx\r\n0\r\n\r\n", 1},
      {"0\r\nChecksum: abc\r\n\r\n", 0},
      {"2\r\nhi\r\n0\r\nA: 1\r\nB-2:  two words\t\r\nC:\r\n\r\n", 2},
  };
  for (const V& v : valid) {
    expect_same_everywhere(v.body, ParseStatus::kComplete, v.body.size(), v.data);
  }
}

TEST(Chunked, StopsAtTheEndOfTheBody) {
  ChunkedDecoder d;
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  const ChunkedDecoder::Step s = d.feed(body + "GET / HTTP/1.1\r\n");
  EXPECT_EQ(s.status, ParseStatus::kComplete);
  EXPECT_EQ(s.consumed, body.size());
  EXPECT_EQ(s.data_bytes, 3u);
}

TEST(Chunked, ResetAllowsReuse) {
  ChunkedDecoder d;
  EXPECT_EQ(d.feed("1\r\nx\r\n0\r\n\r\n").status, ParseStatus::kComplete);
  d.reset();
  EXPECT_EQ(d.feed("2\r\nxy\r\n").status, ParseStatus::kIncomplete);
  const ChunkedDecoder::Step s = d.feed("0\r\n\r\n");
  EXPECT_EQ(s.status, ParseStatus::kComplete);
  EXPECT_EQ(s.consumed, 5u);
  EXPECT_EQ(s.data_bytes, 0u);
  d.reset();
  EXPECT_EQ(d.feed("x").status, ParseStatus::kError);
  d.reset();
  EXPECT_EQ(d.feed("0\r\n\r\n").status, ParseStatus::kComplete);
}

TEST(Chunked, CountsDataOfLargeChunksAcrossFeeds) {
  ChunkedDecoder d;
  ChunkedDecoder::Step s = d.feed("7fffffffffffffff\r\n");  // the largest allowed (2^63 - 1)
  EXPECT_EQ(s.status, ParseStatus::kIncomplete);
  EXPECT_EQ(s.data_bytes, 0u);
  const std::string block(4096, 'z');
  for (int i = 0; i < 4; ++i) {
    s = d.feed(block);
    ASSERT_EQ(s.status, ParseStatus::kIncomplete);
    EXPECT_EQ(s.consumed, block.size());
    EXPECT_EQ(s.data_bytes, block.size());
  }
}

TEST(Chunked, RejectsBadFraming) {
  const std::vector<std::string> bad = {
      "\r\n",                         // no size
      "g\r\n",                        // not hex
      " 5\r\nhello\r\n0\r\n\r\n",     // leading whitespace
      "5 \r\nhello\r\n0\r\n\r\n",     // trailing whitespace
      "+5\r\nhello\r\n0\r\n\r\n",     // sign
      "0x5\r\nhello\r\n0\r\n\r\n",    // prefix
      "5\nhello\r\n0\r\n\r\n",        // bare LF after size
      "5\r\rhello\r\n0\r\n\r\n",      // bare CR after size
      "5\r\nhello\n0\r\n\r\n",        // bare LF after data
      "5\r\nhelloX\r\n0\r\n\r\n",     // data longer than the size
      "5\r\nhello\r\r0\r\n\r\n",      // CR CR after data
      "5\r\nhello0\r\n\r\n",          // missing CRLF after data
      "10000000000000000\r\n",        // 17 digits
      "00000000000000005\r\n",        // 17 digits, even with leading zeros
      "5;\r\nhello\r\n0\r\n\r\n",     // empty extension name
      "5;=b\r\nhello\r\n0\r\n\r\n",   // extension without name
      "5;a=\r\nhello\r\n0\r\n\r\n",   // '=' without value
      "5;a b\r\nhello\r\n0\r\n\r\n",  // two names
      "5;a=b c\r\n",                  // two values
      "5;a=\"x\r\n",                  // unterminated quote
      "5;a=\"x\"y\r\n",               // text after the quote
      "5;a=\"\x01\"\r\n",             // CTL in quoted-string
      "5;a=\"\\\x01\"\r\n",           // CTL escaped
      "5;a(b)\r\n",                   // non-token name
      "5;a=b \r\n",                   // BWS before CRLF
      "5;a \r\n",                     // BWS before CRLF after a name
      "5;a=\"x\" \r\n",               // BWS before CRLF after a quoted value
      "5 5\r\n",                      // space inside the size
  };
  for (const std::string& b : bad) {
    SCOPED_TRACE(b);
    expect_same_everywhere(b, ParseStatus::kError, 0, 0);
  }
}

TEST(Chunked, ErrorReportsWhereItStopped) {
  ChunkedDecoder d;
  const ChunkedDecoder::Step s = d.feed("5\r\nhelloX");
  EXPECT_EQ(s.status, ParseStatus::kError);
  EXPECT_EQ(s.consumed, 8u);  // the X
  EXPECT_EQ(s.data_bytes, 5u);
  EXPECT_STRNE(s.reason, "");
}

TEST(Chunked, RejectsBadTrailers) {
  const std::vector<std::string> bad = {
      "0\r\n X: y\r\n\r\n",       // obs-fold / leading whitespace
      "0\r\nX: y\r\n z\r\n\r\n",  // obs-fold
      "0\r\nX : y\r\n\r\n",       // whitespace before colon
      "0\r\n: y\r\n\r\n",         // empty name
      "0\r\nX\r\n\r\n",           // no colon
      "0\r\nX: a\x01\r\n\r\n",    // CTL in value
      "0\r\nX: a\x7f\r\n\r\n",    // DEL in value
      "0\r\nX: y\n\r\n",          // bare LF
      "0\r\nX: y\rz\r\n\r\n",     // bare CR
      "0\r\n\n",                  // bare LF ending the body
      "0\r\n\r\r",                // CR CR ending the body
      "0\r\nX(: y\r\n\r\n",       // non-token name
  };
  for (const std::string& b : bad) {
    SCOPED_TRACE(b);
    expect_same_everywhere(b, ParseStatus::kError, 0, 0);
  }
}

TEST(Chunked, BoundsTheTrailerSection) {
  const std::string fits = "0\r\nX: " + std::string(8000, 'v') + "\r\n\r\n";
  expect_same_everywhere(fits, ParseStatus::kComplete, fits.size(), 0);
  const std::string too_big = "0\r\nX: " + std::string(9000, 'v') + "\r\n\r\n";
  expect_same_everywhere(too_big, ParseStatus::kError, 0, 0);
  std::string many = "0\r\n";
  for (int i = 0; i < 2000; ++i) many += "A: b\r\n";
  expect_same_everywhere(many + "\r\n", ParseStatus::kError, 0, 0);
  // The exact edge: 8192 bytes of trailer section including the final CRLF.
  const std::string edge = "0\r\nX: " + std::string(8192 - 7, 'v') + "\r\n\r\n";
  expect_same_everywhere(edge, ParseStatus::kComplete, edge.size(), 0);
  const std::string past = "0\r\nX: " + std::string(8192 - 6, 'v') + "\r\n\r\n";
  expect_same_everywhere(past, ParseStatus::kError, 0, 0);
}

TEST(Chunked, BoundsTheChunkLine) {
  const std::string ok = "1;" + std::string(4000, 'e') + "\r\nx\r\n0\r\n\r\n";
  expect_same_everywhere(ok, ParseStatus::kComplete, ok.size(), 1);
  const std::string too_long = "1;" + std::string(5000, 'e') + "\r\nx\r\n0\r\n\r\n";
  expect_same_everywhere(too_long, ParseStatus::kError, 0, 0);
}

}  // namespace
}  // namespace fulcrum::l7::http1

namespace fulcrum::l7::http1 {
namespace {

TEST(Chunked, RefusesSizesThatWouldBeNegativeAsInt64) {
  for (const char* body :
       {"ffffffffffffffff\r\nhello\r\n0\r\n\r\n", "8000000000000000\r\nhello\r\n0\r\n\r\n"}) {
    ChunkedDecoder d;
    EXPECT_EQ(d.feed(body).status, ParseStatus::kError) << body;
  }
  ChunkedDecoder ok;  // the largest allowed size parses (and waits for its data)
  EXPECT_EQ(ok.feed("7fffffffffffffff\r\nabc").status, ParseStatus::kIncomplete);
}

}  // namespace
}  // namespace fulcrum::l7::http1
