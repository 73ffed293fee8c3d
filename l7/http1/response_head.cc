// l7/http1/response_head.cc — parse_response_head: status-line and how the body is delimited.
// Every failure is 502: a response we cannot frame is never relayed, the client gets our answer.
#include "l7/http1/chars.h"
#include "l7/http1/head_internal.h"
#include "l7/http1/parser.h"

namespace fulcrum::l7::http1 {

using namespace detail;  // NOLINT(google-build-using-namespace): the codec's own internals

namespace {

// RFC 9112 §6.3 items 1-2: these responses end with their head whatever their fields say.
bool bodyless(int status, Method request_method) {
  if (status < 200 || status == 204 || status == 304) {
    return true;
  }
  if (request_method == Method::kHead) {
    return true;
  }
  return request_method == Method::kConnect && status < 300;
}

}  // namespace

ParseResult parse_response_head(std::string_view in, ResponseHead& out, const Limits& limits,
                                Method request_method) {
  reset_common(out);
  out.status = 0;
  out.reason = {};
  const ErrorCodes& codes = kResponseErrors;
  const Cursor c = make_cursor(in, limits);
  const char* p = c.begin;

  // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF. The status line shares
  // max_request_line: no legitimate server sends kilobytes of reason phrase.
  const char* line = p;
  const char* lim = line_limit(c, line, limits);
  auto starve_line = [&] {
    if (static_cast<std::size_t>(p - line) > limits.max_request_line) {
      return error(codes.line_too_long, "status line too long");
    }
    return starve(c, codes);
  };

  switch (scan_version(p, lim, out.version_minor)) {
    case VersionScan::kOk:
      break;
    case VersionScan::kNeedMore:
      return starve_line();
    case VersionScan::kMalformed:
      return error(codes.bad, "invalid status line");
    case VersionScan::kUnsupported:
      return error(codes.version, "unsupported HTTP version");
  }
  if (p == lim) {
    return starve_line();
  }
  if (*p != ' ') {
    return error(codes.bad, "invalid status line");
  }
  ++p;
  int status = 0;
  for (int i = 0; i < 3; ++i, ++p) {
    if (p == lim) {
      return starve_line();
    }
    if (!is(*p, kDigit)) {
      return error(codes.bad, "invalid status code");
    }
    status = status * 10 + (*p - '0');
  }
  if (status < 100) {
    return error(codes.bad, "invalid status code");
  }
  if (status > 599) {
    return error(codes.bad, "invalid status code");
  }
  out.status = status;

  if (p == lim) {
    return starve_line();
  }
  // The SP before an empty reason is required by the grammar, but servers commonly drop it; it
  // does not touch framing, so "HTTP/1.1 200\r\n" is accepted.
  if (*p == ' ') {
    const char* reason = ++p;
    p = skip_value_chars(p, lim);
    if (p == lim) {
      return starve_line();
    }
    out.reason = std::string_view(reason, static_cast<std::size_t>(p - reason));
  }
  if (*p != '\r') {
    return error(codes.bad, *p == '\n' ? "bare LF" : "invalid status line");
  }
  if (p + 1 == c.end) {
    return starve(c, codes);
  }
  if (p[1] != '\n') {
    return error(codes.bad, "bare CR");
  }
  p += 2;

  if (ParseResult r = parse_fields(p, c, out, limits, codes); r.status != ParseStatus::kComplete) {
    return r;
  }
  FieldFacts f;
  if (ParseResult r = collect_facts(out, f, codes); r.status != ParseStatus::kComplete) {
    return r;
  }
  if (f.has_transfer_encoding) {
    if (out.version_minor == 0) {
      return error(codes.bad, "transfer-encoding in HTTP/1.0");
    }
    if (ParseResult r = check_transfer_encoding(f, codes); r.status != ParseStatus::kComplete) {
      return r;
    }
  }

  out.keep_alive = persistent(out.version_minor, f);
  out.connection_upgrade = f.conn_upgrade && f.has_upgrade;
  if (bodyless(status, request_method)) {
    out.body = BodyKind::kNone;
  } else if (f.has_transfer_encoding) {
    out.body = BodyKind::kChunked;
  } else if (f.has_content_length) {
    out.body = f.content_length > 0 ? BodyKind::kContentLength : BodyKind::kNone;
    out.content_length = f.content_length;
  } else {
    // Only the server's close ends this body, so the connection cannot be reused.
    out.body = BodyKind::kUntilClose;
    out.keep_alive = false;
  }
  return complete();
}

}  // namespace fulcrum::l7::http1
