// l7/http1/parser.cc — what request and response heads share: field lines and framing fields.
//
// Strictness choices (each closes a way for us and the next hop to disagree on a message):
// - line endings are CRLF only; a bare LF or bare CR anywhere in a head is an error;
// - obs-fold, whitespace between a field name and its colon, and CTLs/DEL in values are errors;
// - Content-Length: a list of identical values is one value; anything else not 1*DIGIT below
//   2^63 is an error, as is Content-Length together with Transfer-Encoding;
// - Transfer-Encoding: exactly one "chunked", last; another coding before it (e.g. "gzip,
//   chunked") is refused with 501 (502 for a response) since we implement none, and a message
//   whose final coding is not chunked has no knowable length (400/502).
#include "l7/http1/parser.h"

#include <algorithm>
#include <limits>

#include "l7/http1/chars.h"
#include "l7/http1/head_internal.h"

namespace fulcrum::l7::http1 {

// Bytes equal, or differing only in the case bit of a letter: the common case costs one compare.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]);
    const auto y = static_cast<unsigned char>(b[i]);
    if (x == y) {
      continue;
    }
    const auto lower = static_cast<unsigned char>(x | 0x20);
    if ((x ^ y) != 0x20 || lower < 'a' || lower > 'z') {
      return false;
    }
  }
  return true;
}

namespace detail {
namespace {

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && is_ows(v.front())) {
    v.remove_prefix(1);
  }
  while (!v.empty() && is_ows(v.back())) {
    v.remove_suffix(1);
  }
  return v;
}

// Calls f(element) for each element of a comma-separated list, OWS trimmed, empty elements
// included; stops early when f returns false.
template <typename F>
void for_each_element(std::string_view v, F&& f) {
  for (;;) {
    const std::size_t comma = v.find(',');
    if (!f(trim_ows(v.substr(0, comma)))) {
      return;
    }
    if (comma == std::string_view::npos) {
      return;
    }
    v.remove_prefix(comma + 1);
  }
}

bool is_token(std::string_view v) {
  if (v.empty()) {
    return false;
  }
  for (char c : v) {
    if (!is(c, kTchar)) {
      return false;
    }
  }
  return true;
}

// Why a field name stopped before its colon, for the logs.
const char* field_name_error(const char* name, const char* stop) {
  if (stop == name) {
    if (is_ows(*stop)) {
      return "obs-fold";
    }
    if (*stop == ':') {
      return "empty field name";
    }
    if (*stop == '\n') {
      return "bare LF";
    }
    return "invalid character in field name";
  }
  if (is_ows(*stop)) {
    return "whitespace before colon";
  }
  return "invalid character in field name";
}

enum class Field : std::uint8_t {
  kOther,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kUpgrade,
  kExpect
};

Field classify(std::string_view name) {
  switch (name.size()) {
    case 4:
      return iequals(name, "host") ? Field::kHost : Field::kOther;
    case 6:
      return iequals(name, "expect") ? Field::kExpect : Field::kOther;
    case 7:
      return iequals(name, "upgrade") ? Field::kUpgrade : Field::kOther;
    case 10:
      return iequals(name, "connection") ? Field::kConnection : Field::kOther;
    case 14:
      return iequals(name, "content-length") ? Field::kContentLength : Field::kOther;
    case 17:
      return iequals(name, "transfer-encoding") ? Field::kTransferEncoding : Field::kOther;
    default:
      return Field::kOther;
  }
}

// Folds one Content-Length field into `f`; false when it is malformed or disagrees with an
// earlier value.
bool add_content_length(std::string_view value, FieldFacts& f, const char*& why) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max();
  bool ok = true;
  for_each_element(value, [&](std::string_view el) {
    if (el.empty()) {
      why = "empty content-length";
      return ok = false;
    }
    std::uint64_t n = 0;
    for (char c : el) {
      if (!is(c, kDigit)) {
        why = "invalid content-length";
        return ok = false;
      }
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (n > (kMax - d) / 10) {
        why = "content-length overflow";
        return ok = false;
      }
      n = n * 10 + d;
    }
    if (f.has_content_length && n != f.content_length) {
      why = "conflicting content-length values";
      return ok = false;
    }
    f.has_content_length = true;
    f.content_length = n;
    return true;
  });
  return ok;
}

void add_transfer_encoding(std::string_view value, FieldFacts& f) {
  f.has_transfer_encoding = true;
  for_each_element(value, [&](std::string_view el) {
    // An empty element is legal list syntax, but "chunked," is exactly the kind of oddity that
    // two parsers read differently, so it is refused.
    if (!is_token(el)) {
      f.te_malformed = true;
      return false;
    }
    if (iequals(el, "chunked")) {
      ++f.te_chunked;
      f.te_chunked_last = true;
    } else {
      f.te_other = true;
      f.te_chunked_last = false;
    }
    return true;
  });
}

void add_connection(std::string_view value, FieldFacts& f) {
  for_each_element(value, [&](std::string_view el) {
    if (iequals(el, "close")) {
      f.conn_close = true;
    } else if (iequals(el, "keep-alive")) {
      f.conn_keep_alive = true;
    } else if (iequals(el, "upgrade")) {
      f.conn_upgrade = true;
    }
    return true;
  });
}

}  // namespace

Cursor make_cursor(std::string_view in, const Limits& limits) {
  const std::size_t scan = in.size() > limits.max_head ? limits.max_head + 1 : in.size();
  return {in.data(), in.data() + scan, in.size() >= limits.max_head};
}

VersionScan scan_version(const char*& p, const char* lim, std::uint8_t& minor) {
  static constexpr char kPattern[] = "HTTP/d.d";
  for (int i = 0; i < 8; ++i, ++p) {
    if (p == lim) {
      return VersionScan::kNeedMore;
    }
    const char want = kPattern[i];
    if (want == 'd' ? !is(*p, kDigit) : *p != want) {
      return VersionScan::kMalformed;
    }
  }
  if (p[-3] != '1' || (p[-1] != '0' && p[-1] != '1')) {
    return VersionScan::kUnsupported;
  }
  minor = static_cast<std::uint8_t>(p[-1] - '0');
  return VersionScan::kOk;
}

ParseResult parse_fields(const char* p, const Cursor& c, HeadCommon& out, const Limits& limits,
                         const ErrorCodes& codes) {
  const std::size_t max_fields = std::min(limits.max_headers, kMaxHeaders);
  std::size_t count = 0;
  for (;;) {
    if (p == c.end) {
      return starve(c, codes);
    }
    if (*p == '\r') {
      if (p + 1 == c.end) {
        return starve(c, codes);
      }
      if (p[1] != '\n') {
        return error(codes.bad, "bare CR");
      }
      p += 2;
      out.header_count = count;
      out.head_size = static_cast<std::size_t>(p - c.begin);
      // `end` leaves room for one byte past max_head, which the final LF may occupy.
      if (out.head_size > limits.max_head) {
        return error(codes.too_large, "head too large");
      }
      return complete();
    }
    // A field line has begun, so the head can no longer complete within the field limit.
    if (count == max_fields) {
      return error(codes.too_large, "too many header fields");
    }

    const char* name = p;
    p = skip_tchars(p, c.end);
    if (p == c.end) {
      return starve(c, codes);
    }
    if (*p != ':' || p == name) {
      return error(codes.bad, field_name_error(name, p));
    }
    const char* name_end = p++;

    while (p < c.end && is_ows(*p)) {
      ++p;
    }
    const char* value = p;
    p = skip_value_chars(p, c.end);
    if (p == c.end) {
      return starve(c, codes);
    }
    if (*p != '\r') {
      return error(codes.bad, *p == '\n' ? "bare LF" : "invalid character in field value");
    }
    if (p + 1 == c.end) {
      return starve(c, codes);
    }
    if (p[1] != '\n') {
      return error(codes.bad, "bare CR");
    }
    const char* value_end = p;
    while (value_end > value && is_ows(value_end[-1])) {
      --value_end;
    }
    out.headers[count++] =
        Header{std::string_view(name, static_cast<std::size_t>(name_end - name)),
               std::string_view(value, static_cast<std::size_t>(value_end - value))};
    p += 2;
  }
}

ParseResult collect_facts(const HeadCommon& head, FieldFacts& f, const ErrorCodes& codes) {
  for (std::size_t i = 0; i < head.header_count; ++i) {
    const Header& h = head.headers[i];
    switch (classify(h.name)) {
      case Field::kHost:
        ++f.host_fields;
        f.host = h.value;
        break;
      case Field::kContentLength: {
        const char* why = "";
        if (!add_content_length(h.value, f, why)) {
          return error(codes.bad, why);
        }
        break;
      }
      case Field::kTransferEncoding:
        add_transfer_encoding(h.value, f);
        break;
      case Field::kConnection:
        add_connection(h.value, f);
        break;
      case Field::kUpgrade:
        f.has_upgrade = true;
        break;
      case Field::kExpect:
        if (iequals(h.value, "100-continue")) {
          f.expect_continue = true;
        }
        break;
      case Field::kOther:
        break;
    }
  }
  if (f.has_transfer_encoding && f.has_content_length) {
    return error(codes.bad, "content-length with transfer-encoding");
  }
  return complete();
}

ParseResult check_transfer_encoding(const FieldFacts& f, const ErrorCodes& codes) {
  if (f.te_malformed) {
    return error(codes.bad, "invalid transfer-encoding");
  }
  if (f.te_chunked > 1) {
    return error(codes.bad, "chunked applied more than once");
  }
  if (!f.te_chunked_last) {
    return error(codes.bad, "chunked is not the final transfer coding");
  }
  if (f.te_other) {
    return error(codes.unsupported, "unsupported transfer coding");
  }
  return complete();
}

}  // namespace detail
}  // namespace fulcrum::l7::http1
