// l7/http1/parser.h — strict, incremental, zero-copy HTTP/1.1 message-head parser and
// chunked-body decoder (RFC 9110, RFC 9112).
//
// A proxy that disagrees with its upstream about where a message ends is a request-smuggling
// hole, so this parser rejects instead of guessing: anything outside the grammar is an error
// with the status to answer (400, 414, 431, 501, 502 for responses) and the connection must be
// closed. On success every view in the head points into the caller's buffer, which the caller
// keeps alive and unmoved while it uses the head. Nothing here allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fulcrum::l7::http1 {

inline constexpr std::size_t kMaxHeaders = 128;  // hard cap of the fixed header array

struct Header {
  std::string_view name;   // as received (case preserved)
  std::string_view value;  // leading/trailing OWS trimmed
};

// How the body of a message is delimited.
enum class BodyKind : std::uint8_t {
  kNone,           // no body (no CL/TE on a request; HEAD/1xx/204/304 responses; CL: 0)
  kContentLength,  // exactly content_length bytes
  kChunked,        // Transfer-Encoding: chunked (use ChunkedDecoder)
  kUntilClose,     // responses only: body runs until the server closes
};

enum class Method : std::uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kConnect,
  kOptions,
  kTrace,
  kPatch,
  kOther
};

// Fields both heads share: the parsed header list and the framing conclusions drawn from it.
struct HeadCommon {
  std::uint8_t version_minor = 1;  // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
  Header headers[kMaxHeaders];
  std::size_t header_count = 0;
  BodyKind body = BodyKind::kNone;
  std::uint64_t content_length = 0;  // valid when body == kContentLength
  // Persistence per RFC 9112 §9.3: 1.1 default keep-alive unless "Connection: close";
  // 1.0 only with "Connection: keep-alive". False for kUntilClose responses.
  bool keep_alive = true;
  bool connection_upgrade = false;  // Connection lists "upgrade" and an Upgrade field is present
  std::size_t head_size = 0;        // bytes of the head including the final CRLFCRLF
};

struct RequestHead : HeadCommon {
  std::string_view method;  // token as received
  Method method_id = Method::kOther;
  std::string_view target;       // origin-form, absolute-form, authority-form (CONNECT) or "*"
  std::string_view host;         // Host field value (empty if absent; required for 1.1)
  bool expect_continue = false;  // Expect: 100-continue
};

struct ResponseHead : HeadCommon {
  int status = 0;  // 100..599
  std::string_view reason;
};

struct Limits {
  // 414 beyond; also bounds a response's status line (502 beyond). CRLF not counted.
  std::size_t max_request_line = std::size_t{8} * 1024;
  std::size_t max_head = std::size_t{32} * 1024;  // 431 beyond (whole head incl. request line)
  std::size_t max_headers = 100;                  // 431 beyond (<= kMaxHeaders)
};

enum class ParseStatus : std::uint8_t { kComplete, kIncomplete, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  int error_status = 0;  // kError: HTTP status to answer (400/414/431/501; 502 responses)
  // kError: static text for logs, e.g. "content-length with transfer-encoding".
  const char* reason = "";
};

// Parses one request head at the start of `in`. kIncomplete means "need more bytes" and is
// returned only while the limits still allow the head to complete.
ParseResult parse_request_head(std::string_view in, RequestHead& out, const Limits& limits);

// Parses one response head. `request_method` decides bodylessness (HEAD; 2xx to CONNECT).
// Errors carry error_status 502: a bad upstream answer is never forwarded.
ParseResult parse_response_head(std::string_view in, ResponseHead& out, const Limits& limits,
                                Method request_method);

// Incremental decoder for a chunked body (RFC 9112 §7.1), used to find where the body ends
// while its bytes are forwarded as they are. Chunk extensions must match the grammar; trailer
// fields are validated like header fields.
class ChunkedDecoder {
 public:
  struct Step {
    ParseStatus status;        // kComplete: the whole body (incl. trailers) ended within `in`
    std::size_t consumed;      // bytes of `in` used (all of it unless kComplete/kError)
    std::uint64_t data_bytes;  // payload bytes among them (for counters / max_body)
    const char* reason;        // kError
  };
  // Feeds the next bytes of the body. After kComplete or kError, call reset() before reuse.
  Step feed(std::string_view in);
  void reset() { *this = ChunkedDecoder(); }
  // Payload bytes of the current chunk still to come: the next that many bytes fed are all
  // data. Lets a caller that must strip the framing (an HTTP/1.0 client) find the data.
  std::uint64_t data_remaining() const { return state_ == State::kData ? remaining_ : 0; }

 private:
  // The chunk-size line states come first: feed() bounds that line's length by `< kData`.
  enum class State : std::uint8_t {
    kSize,
    kSizeOws,
    kExtension,
    kExtName,
    kExtNameOws,
    kExtValueStart,
    kExtValue,
    kExtQuoted,
    kExtQuotedEscape,
    kExtValueEnd,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailerStart,
    kTrailerLine,
    kTrailerLf,
    kFinalLf
  };
  // Laid out small (24 bytes): every connection carries two decoders. The counters are capped
  // far below 2^32 (chunk line 4 KiB, trailers 8 KiB).
  std::uint64_t remaining_ = 0;  // bytes left of the current chunk's data
  std::uint32_t trailer_bytes_ = 0;
  std::uint32_t line_bytes_ = 0;
  std::uint16_t size_digits_ = 0;
  State state_ = State::kSize;
  bool line_has_colon_ = false;
};

// Case-insensitive ASCII comparison for field names and tokens.
bool iequals(std::string_view a, std::string_view b);

}  // namespace fulcrum::l7::http1
