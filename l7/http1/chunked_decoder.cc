// l7/http1/chunked_decoder.cc — ChunkedDecoder: finds where a chunked body ends (RFC 9112 §7.1).
//
// Byte-at-a-time state machine for the framing lines, bulk skip for chunk data, so any split of
// the body across feed() calls gives the same answer. Strict in the places where parsers have
// disagreed in the wild (request smuggling via chunk framing): the size is 1*HEXDIG and nothing
// else, extensions follow the grammar exactly, chunk data is followed by CRLF and only CRLF, and
// the size line and trailer section are bounded so a peer cannot make us scan forever.
#include <algorithm>

#include "l7/http1/chars.h"
#include "l7/http1/parser.h"

namespace fulcrum::l7::http1 {

using namespace detail;  // NOLINT(google-build-using-namespace): the codec's own internals

namespace {

constexpr std::size_t kMaxChunkLine = 4096;     // chunk-size plus extensions
constexpr std::size_t kMaxTrailerBytes = 8192;  // whole trailer section incl. final CRLF
constexpr std::uint32_t kMaxSizeDigits = 16;    // 16 hex digits fill 64 bits: no overflow

std::uint64_t hex_value(char c) {
  const int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
  return static_cast<std::uint64_t>(v);
}

}  // namespace

ChunkedDecoder::Step ChunkedDecoder::feed(std::string_view in) {
  const char* p = in.data();
  const char* const end = p + in.size();
  std::uint64_t data = 0;
  auto fail = [&](const char* why) {
    return Step{ParseStatus::kError, static_cast<std::size_t>(p - in.data()), data, why};
  };

  while (p < end) {
    if (state_ == State::kData) {
      const std::uint64_t n = std::min<std::uint64_t>(remaining_, end - p);
      p += n;
      remaining_ -= n;
      data += n;
      if (remaining_ == 0) {
        state_ = State::kDataCr;
      }
      continue;
    }
    const char c = *p;
    if (state_ < State::kData && ++line_bytes_ > kMaxChunkLine) {
      return fail("chunk line too long");
    }
    if (state_ >= State::kTrailerStart && ++trailer_bytes_ > kMaxTrailerBytes) {
      return fail("trailer section too large");
    }
    switch (state_) {
      case State::kSize:
        if (is(c, kHexDigit)) {
          if (++size_digits_ > kMaxSizeDigits) {
            return fail("chunk size too long");
          }
          // Sizes from 2^63 up would read as negative in a next hop that parses into a signed
          // 64-bit integer: refuse them rather than forward an ambiguity.
          if (remaining_ >= (std::uint64_t{1} << 59)) return fail("chunk size too large");
          remaining_ = remaining_ * 16 + hex_value(c);
          break;
        }
        if (size_digits_ == 0) {
          return fail("invalid chunk size");
        }
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (is_ows(c)) {
          state_ = State::kSizeOws;
        } else {
          return fail("invalid chunk size");
        }
        break;
      case State::kSizeOws:  // BWS before ';' (trailing whitespace before CRLF is refused)
        if (c == ';') {
          state_ = State::kExtension;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension");
        }
        break;
      case State::kExtension:  // after ';': BWS ext-name
        if (is(c, kTchar)) {
          state_ = State::kExtName;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension");
        }
        break;
      case State::kExtName:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '=') {
          state_ = State::kExtValueStart;
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (is_ows(c)) {
          state_ = State::kExtNameOws;
        } else if (!is(c, kTchar)) {
          return fail("invalid chunk extension");
        }
        break;
      case State::kExtNameOws:  // BWS after a name: only '=' or the next ';' may follow
        if (c == '=') {
          state_ = State::kExtValueStart;
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension");
        }
        break;
      case State::kExtValueStart:  // after '=': BWS, then token or quoted-string
        if (c == '"') {
          state_ = State::kExtQuoted;
        } else if (is(c, kTchar)) {
          state_ = State::kExtValue;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension");
        }
        break;
      case State::kExtValue:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (is_ows(c)) {
          state_ = State::kSizeOws;
        } else if (!is(c, kTchar)) {
          return fail("invalid chunk extension");
        }
        break;
      case State::kExtQuoted:
        if (c == '"') {
          state_ = State::kExtValueEnd;
        } else if (c == '\\') {
          state_ = State::kExtQuotedEscape;
        } else if (!is(c, kQdtext)) {
          return fail("invalid chunk extension");
        }
        break;
      case State::kExtQuotedEscape:
        if (!is(c, kValueChar)) {
          return fail("invalid chunk extension");
        }
        state_ = State::kExtQuoted;
        break;
      case State::kExtValueEnd:  // after a closing quote
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (is_ows(c)) {
          state_ = State::kSizeOws;
        } else {
          return fail("invalid chunk extension");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') {
          return fail("bare CR in chunk line");
        }
        state_ = remaining_ == 0 ? State::kTrailerStart : State::kData;
        break;
      case State::kData:
        break;  // handled above
      case State::kDataCr:
        if (c != '\r') {
          return fail("chunk data not followed by CRLF");
        }
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          return fail("chunk data not followed by CRLF");
        }
        state_ = State::kSize;
        size_digits_ = 0;
        line_bytes_ = 0;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (is(c, kTchar)) {
          state_ = State::kTrailerLine;
          line_has_colon_ = false;
        } else {
          return fail(is_ows(c) ? "obs-fold in trailer" : "invalid trailer field");
        }
        break;
      case State::kTrailerLine:
        if (!line_has_colon_) {
          if (c == ':') {
            line_has_colon_ = true;
          } else if (!is(c, kTchar)) {
            return fail("invalid trailer field name");
          }
        } else if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!is(c, kValueChar)) {
          return fail("invalid trailer field value");
        } else {
          // Skip the rest of the value in bulk, keeping the section bound exact.
          const std::size_t room = kMaxTrailerBytes - trailer_bytes_;
          const char* stop = end - p - 1 > static_cast<std::ptrdiff_t>(room) ? p + 1 + room : end;
          const char* q = skip_value_chars(p + 1, stop);
          trailer_bytes_ += static_cast<std::size_t>(q - (p + 1));
          p = q;
          continue;
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') {
          return fail("bare CR in trailer");
        }
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') {
          return fail("bare CR after trailers");
        }
        ++p;
        return Step{ParseStatus::kComplete, static_cast<std::size_t>(p - in.data()), data, ""};
    }
    ++p;
  }
  return Step{ParseStatus::kIncomplete, in.size(), data, ""};
}

}  // namespace fulcrum::l7::http1
