// l7/http1/request_head.cc — parse_request_head: request-line, target form, Host and framing.
#include <cstring>

#include "l7/http1/chars.h"
#include "l7/http1/head_internal.h"
#include "l7/http1/parser.h"

namespace fulcrum::l7::http1 {

using namespace detail;  // NOLINT(google-build-using-namespace): the codec's own internals

namespace {

// RFC 9112 §2.2 asks servers to ignore at least one empty line before a request (clients that
// add CRLF after a POST body); a few are tolerated, not an unbounded stream of them.
constexpr int kMaxLeadingEmptyLines = 4;

bool same(std::string_view s, const char* literal) {
  const std::size_t n = std::strlen(literal);
  return s.size() == n && std::memcmp(s.data(), literal, n) == 0;
}

// Methods are case-sensitive (RFC 9110 §9.1), so "get" is an unknown method, not GET.
Method method_id(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (same(m, "GET")) {
        return Method::kGet;
      }
      if (same(m, "PUT")) {
        return Method::kPut;
      }
      break;
    case 4:
      if (same(m, "POST")) {
        return Method::kPost;
      }
      if (same(m, "HEAD")) {
        return Method::kHead;
      }
      break;
    case 5:
      if (same(m, "PATCH")) {
        return Method::kPatch;
      }
      if (same(m, "TRACE")) {
        return Method::kTrace;
      }
      break;
    case 6:
      if (same(m, "DELETE")) {
        return Method::kDelete;
      }
      break;
    case 7:
      if (same(m, "CONNECT")) {
        return Method::kConnect;
      }
      if (same(m, "OPTIONS")) {
        return Method::kOptions;
      }
      break;
    default:
      break;
  }
  return Method::kOther;
}

bool all_host_chars(std::string_view v) {
  for (char c : v) {
    if (!is(c, kHostChar)) {
      return false;
    }
  }
  return true;
}

// authority-form = uri-host ":" port, the only form CONNECT takes.
bool is_authority_form(std::string_view t) {
  const std::size_t colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  const std::string_view port = t.substr(colon + 1);
  if (port.empty() || port.size() > 5) {
    return false;
  }
  for (char c : port) {
    if (!is(c, kDigit)) {
      return false;
    }
  }
  return all_host_chars(t.substr(0, colon));
}

// absolute-form for the schemes a proxy serves. userinfo is refused: RFC 9110 §4.2.4 forbids
// sending it, and "http://a@b/" is a classic way to make two parsers see different hosts.
bool is_absolute_form(std::string_view t) {
  std::size_t scheme = 0;
  if (t.size() > 7 && iequals(t.substr(0, 7), "http://")) {
    scheme = 7;
  } else if (t.size() > 8 && iequals(t.substr(0, 8), "https://")) {
    scheme = 8;
  } else {
    return false;
  }
  const std::string_view rest = t.substr(scheme);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  return !authority.empty() && all_host_chars(authority);
}

const char* check_target(Method m, std::string_view t) {
  if (m == Method::kConnect) {
    return is_authority_form(t) ? nullptr : "CONNECT needs an authority-form target";
  }
  if (t.front() == '/') {
    return nullptr;
  }
  if (t.size() == 1 && t.front() == '*') {
    return m == Method::kOptions ? nullptr : "asterisk-form is only for OPTIONS";
  }
  return is_absolute_form(t) ? nullptr : "invalid request-target";
}

}  // namespace

ParseResult parse_request_head(std::string_view in, RequestHead& out, const Limits& limits) {
  reset_common(out);
  out.method = {};
  out.method_id = Method::kOther;
  out.target = {};
  out.host = {};
  out.expect_continue = false;
  const ErrorCodes& codes = kRequestErrors;
  const Cursor c = make_cursor(in, limits);
  const char* p = c.begin;

  for (int skipped = 0; p < c.end && *p == '\r'; ++skipped) {
    if (skipped == kMaxLeadingEmptyLines) {
      return error(400, "too many empty lines before request");
    }
    if (p + 1 == c.end) {
      return starve(c, codes);
    }
    if (p[1] != '\n') {
      return error(400, "bare CR");
    }
    p += 2;
  }

  // request-line = method SP request-target SP HTTP-version CRLF
  const char* line = p;
  const char* lim = line_limit(c, line, limits);
  auto starve_line = [&] {
    if (static_cast<std::size_t>(p - line) > limits.max_request_line) {
      return error(codes.line_too_long, "request line too long");
    }
    return starve(c, codes);
  };

  p = skip_tchars(p, lim);
  if (p == lim) {
    return starve_line();
  }
  if (*p != ' ' || p == line) {
    return error(400, *p == '\n' || *p == '\r' ? "incomplete request line" : "invalid method");
  }
  out.method = std::string_view(line, static_cast<std::size_t>(p - line));

  const char* target = ++p;
  p = skip_target_chars(p, lim);
  if (p == lim) {
    return starve_line();
  }
  if (*p != ' ' || p == target) {
    return error(400, "invalid request-target");
  }
  out.target = std::string_view(target, static_cast<std::size_t>(p - target));

  ++p;
  switch (scan_version(p, lim, out.version_minor)) {
    case VersionScan::kOk:
      break;
    case VersionScan::kNeedMore:
      return starve_line();
    case VersionScan::kMalformed:
      return error(400, "invalid HTTP version");
    case VersionScan::kUnsupported:
      return error(codes.version, "unsupported HTTP version");
  }
  if (p == lim) {
    return starve_line();
  }
  if (*p != '\r') {
    return error(400, *p == '\n' ? "bare LF" : "invalid request line");
  }
  // The CRLF itself does not count against max_request_line, so it is checked against `end`.
  if (p + 1 == c.end) {
    return starve(c, codes);
  }
  if (p[1] != '\n') {
    return error(400, "bare CR");
  }
  p += 2;

  out.method_id = method_id(out.method);
  if (const char* why = check_target(out.method_id, out.target)) {
    return error(400, why);
  }

  if (ParseResult r = parse_fields(p, c, out, limits, codes); r.status != ParseStatus::kComplete) {
    return r;
  }

  FieldFacts f;
  if (ParseResult r = collect_facts(out, f, codes); r.status != ParseStatus::kComplete) {
    return r;
  }
  // Two Host fields let us route on one while the server serves the other.
  if (f.host_fields > 1) {
    return error(400, "multiple host fields");
  }
  if (f.host_fields == 0 && out.version_minor == 1) {
    return error(400, "missing host");
  }
  if (!all_host_chars(f.host)) {
    return error(400, "invalid host");
  }
  out.host = f.host;

  if (f.has_transfer_encoding) {
    // An HTTP/1.0 recipient may not know chunked at all (RFC 9112 §6.1): faulty framing.
    if (out.version_minor == 0) {
      return error(400, "transfer-encoding in HTTP/1.0");
    }
    if (ParseResult r = check_transfer_encoding(f, codes); r.status != ParseStatus::kComplete) {
      return r;
    }
    out.body = BodyKind::kChunked;
  } else if (f.content_length > 0) {
    out.body = BodyKind::kContentLength;
    out.content_length = f.content_length;
  }
  out.keep_alive = persistent(out.version_minor, f);
  out.connection_upgrade = f.conn_upgrade && f.has_upgrade;
  // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request must be ignored.
  out.expect_continue = f.expect_continue && out.version_minor == 1;
  return complete();
}

}  // namespace fulcrum::l7::http1
