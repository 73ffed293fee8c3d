// tests/fuzz/http1/fuzz_http1.cc — libFuzzer target for the HTTP/1 codec (l7/http1/parser.h).
//
// The same bytes go to the request parser, the response parser and the chunked decoder, under
// limits picked from the input size. Besides the sanitizers, it traps when a promise of the
// header breaks: views inside the input, sizes within limits, only the documented statuses,
// a complete head's every prefix incomplete, and the chunked decoder giving one answer whatever
// the split of its input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "l7/http1/parser.h"

namespace {

using namespace fulcrum::l7::http1;  // NOLINT(google-build-using-namespace)

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)

bool inside(std::string_view view, std::string_view in) {
  if (view.empty()) return true;
  return view.data() >= in.data() && view.data() + view.size() <= in.data() + in.size();
}

Limits pick_limits(std::size_t size) {
  Limits l;
  switch (size % 4) {
    case 1:  // small: reach 414/431 and the field count with short inputs
      l.max_request_line = 48;
      l.max_head = 160;
      l.max_headers = 4;
      break;
    case 2:  // limits above the fixed array, clamped by the parser
      l.max_headers = 100000;
      l.max_head = 1 << 20;
      break;
    case 3:
      l.max_request_line = 1;
      l.max_head = 8;
      l.max_headers = 0;
      break;
    default:
      break;
  }
  return l;
}

void check_common(const HeadCommon& h, std::string_view head, const Limits& limits) {
  FUZZ_CHECK(h.head_size == head.size());
  FUZZ_CHECK(h.head_size <= limits.max_head);
  FUZZ_CHECK(h.header_count <= limits.max_headers && h.header_count <= kMaxHeaders);
  FUZZ_CHECK(h.version_minor <= 1);
  for (std::size_t i = 0; i < h.header_count; ++i) {
    FUZZ_CHECK(!h.headers[i].name.empty());
    FUZZ_CHECK(inside(h.headers[i].name, head));
    FUZZ_CHECK(inside(h.headers[i].value, head));
  }
  if (h.body == BodyKind::kContentLength) FUZZ_CHECK(h.content_length > 0);
  if (h.body == BodyKind::kUntilClose) FUZZ_CHECK(!h.keep_alive);
}

// Bytes decoded in one go, one at a time (small inputs) and split at `at` must agree.
void check_chunked(std::string_view body, std::size_t at) {
  ChunkedDecoder whole;
  const ChunkedDecoder::Step w = whole.feed(body);
  FUZZ_CHECK(w.consumed <= body.size());
  FUZZ_CHECK(w.data_bytes <= w.consumed);
  FUZZ_CHECK(w.reason != nullptr);
  if (w.status == ParseStatus::kIncomplete) FUZZ_CHECK(w.consumed == body.size());

  ChunkedDecoder split;
  const ChunkedDecoder::Step a = split.feed(body.substr(0, at));
  std::size_t consumed = a.consumed;
  std::uint64_t data = a.data_bytes;
  ParseStatus status = a.status;
  if (status == ParseStatus::kIncomplete) {
    FUZZ_CHECK(a.consumed == at);
    const ChunkedDecoder::Step b = split.feed(body.substr(at));
    consumed += b.consumed;
    data += b.data_bytes;
    status = b.status;
  }
  FUZZ_CHECK(status == w.status && consumed == w.consumed && data == w.data_bytes);

  if (body.size() > 512) return;
  ChunkedDecoder bytes;
  consumed = 0;
  data = 0;
  status = ParseStatus::kIncomplete;
  for (std::size_t i = 0; i < body.size() && status == ParseStatus::kIncomplete; ++i) {
    const ChunkedDecoder::Step s = bytes.feed(body.substr(i, 1));
    consumed += s.consumed;
    data += s.data_bytes;
    status = s.status;
  }
  FUZZ_CHECK(status == w.status && consumed == w.consumed && data == w.data_bytes);
}

void fuzz_request(std::string_view in, const Limits& limits, std::size_t at) {
  static RequestHead h;  // 4 KiB+: keep it off the stack, reuse it like a connection would
  const ParseResult r = parse_request_head(in, h, limits);
  FUZZ_CHECK(r.reason != nullptr);
  if (r.status == ParseStatus::kError) {
    const int s = r.error_status;
    FUZZ_CHECK(s == 400 || s == 414 || s == 431 || s == 501 || s == 505);
    return;
  }
  if (r.status == ParseStatus::kIncomplete) return;
  FUZZ_CHECK(h.head_size <= in.size());
  const std::string_view head = in.substr(0, h.head_size);
  check_common(h, head, limits);
  FUZZ_CHECK(!h.method.empty() && inside(h.method, head));
  FUZZ_CHECK(!h.target.empty() && inside(h.target, head));
  FUZZ_CHECK(inside(h.host, head));
  if (h.version_minor == 1) FUZZ_CHECK(h.header_count > 0);  // Host is required
  FUZZ_CHECK(h.body != BodyKind::kUntilClose);

  const std::size_t head_size = h.head_size;
  const BodyKind body = h.body;
  // A complete head's strict prefix is incomplete: no error hides behind a later byte.
  const ParseResult p = parse_request_head(in.substr(0, head_size - 1), h, limits);
  FUZZ_CHECK(p.status == ParseStatus::kIncomplete);
  if (body == BodyKind::kChunked) {
    const std::string_view rest = in.substr(head_size);
    check_chunked(rest, rest.empty() ? 0 : at % (rest.size() + 1));
  }
}

void fuzz_response(std::string_view in, const Limits& limits) {
  static ResponseHead h;
  const Method method =
      in.empty() ? Method::kGet : static_cast<Method>(static_cast<unsigned char>(in.back()) % 10);
  const ParseResult r = parse_response_head(in, h, limits, method);
  FUZZ_CHECK(r.reason != nullptr);
  if (r.status == ParseStatus::kError) {
    FUZZ_CHECK(r.error_status == 502);
    return;
  }
  if (r.status == ParseStatus::kIncomplete) return;
  FUZZ_CHECK(h.head_size <= in.size());
  const std::string_view head = in.substr(0, h.head_size);
  check_common(h, head, limits);
  FUZZ_CHECK(h.status >= 100 && h.status <= 599);
  FUZZ_CHECK(inside(h.reason, head));
  if (h.status < 200 || h.status == 204 || h.status == 304 || method == Method::kHead) {
    FUZZ_CHECK(h.body == BodyKind::kNone);
  }
  const std::size_t head_size = h.head_size;
  const ParseResult p = parse_response_head(in.substr(0, head_size - 1), h, limits, method);
  FUZZ_CHECK(p.status == ParseStatus::kIncomplete);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Limits limits = pick_limits(size);
  const std::size_t at = size >= 2 ? (data[0] | (data[1] << 8)) % (size + 1) : 0;
  fuzz_request(in, limits, at);
  fuzz_response(in, limits);
  check_chunked(in, at);
  return 0;
}

// The fuzz build's UBSan recovers by default; a finding must stop the run and keep the input.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }
