// l7/http1/head_internal.h — the pieces request and response head parsing share: bounded
// scanning of the buffer, field lines, and the framing facts drawn from the fields. Internal to
// the codec; callers use parser.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "l7/http1/parser.h"

namespace fulcrum::l7::http1::detail {

// The status each kind of failure answers with. A request's client learns what was wrong; a bad
// response always becomes 502 because it is never forwarded.
struct ErrorCodes {
  int bad;            // grammar or framing violation
  int too_large;      // head over max_head, or too many fields
  int line_too_long;  // request line over max_request_line
  int unsupported;    // a transfer coding we do not implement
  int version;        // an HTTP version other than 1.0 and 1.1
};
inline constexpr ErrorCodes kRequestErrors{400, 431, 414, 501, 505};
inline constexpr ErrorCodes kResponseErrors{502, 502, 502, 502, 502};

inline ParseResult incomplete() { return {ParseStatus::kIncomplete, 0, ""}; }
inline ParseResult complete() { return {ParseStatus::kComplete, 0, ""}; }
inline ParseResult error(int status, const char* reason) {
  return {ParseStatus::kError, status, reason};
}

// The part of the input a head may occupy. Scanning never goes past `end`, which is one byte
// beyond max_head when the input is longer. `over`: the input already holds max_head bytes, so
// running out of bytes before the head ended proves it cannot end within the limit.
struct Cursor {
  const char* begin;
  const char* end;
  bool over;
};
Cursor make_cursor(std::string_view in, const Limits& limits);

// Called when the bytes ran out before the head ended: either wait for more or, when the head
// can no longer fit, fail now so the caller does not buffer towards a head it must reject.
inline ParseResult starve(const Cursor& c, const ErrorCodes& codes) {
  return c.over ? error(codes.too_large, "head too large") : incomplete();
}

// The bound for scanning the start line at `line`: one byte past the longest allowed line, so
// reaching it means "too long" rather than "need more".
inline const char* line_limit(const Cursor& c, const char* line, const Limits& limits) {
  const auto avail = static_cast<std::size_t>(c.end - line);
  return line + (avail > limits.max_request_line ? limits.max_request_line + 1 : avail);
}

enum class VersionScan : std::uint8_t { kOk, kNeedMore, kMalformed, kUnsupported };
// Matches HTTP-version = "HTTP/" DIGIT "." DIGIT at `p` (advanced past it); only 1.0 and 1.1
// are kOk. A prefix that could still become a version is kNeedMore.
VersionScan scan_version(const char*& p, const char* lim, std::uint8_t& minor);

// Parses field lines from `p` through the empty line that ends the head; on kComplete sets
// header_count and head_size.
ParseResult parse_fields(const char* p, const Cursor& c, HeadCommon& out, const Limits& limits,
                         const ErrorCodes& codes);

// What the framing- and connection-related fields say, collected in one pass over the headers.
struct FieldFacts {
  int host_fields = 0;
  std::string_view host;
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  bool te_malformed = false;  // empty element, non-token, or a coding with parameters
  int te_chunked = 0;         // how many times "chunked" appears across all TE fields
  bool te_chunked_last = false;
  bool te_other = false;  // some coding other than chunked
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
};
// Fails on a malformed or conflicting Content-Length, and on CL together with TE.
ParseResult collect_facts(const HeadCommon& head, FieldFacts& facts, const ErrorCodes& codes);

// Applies the Transfer-Encoding rules to a message that has the field: chunked exactly once and
// last, nothing else (we implement no other coding, so relaying one would be guessing).
ParseResult check_transfer_encoding(const FieldFacts& facts, const ErrorCodes& codes);

// RFC 9112 §9.3 persistence from the version and the Connection tokens.
inline bool persistent(std::uint8_t minor, const FieldFacts& f) {
  if (f.conn_close) {
    return false;
  }
  return minor == 1 || f.conn_keep_alive;
}

inline void reset_common(HeadCommon& h) {
  h.version_minor = 1;
  h.header_count = 0;
  h.body = BodyKind::kNone;
  h.content_length = 0;
  h.keep_alive = true;
  h.connection_upgrade = false;
  h.head_size = 0;
}

}  // namespace fulcrum::l7::http1::detail
