// l7/http2/h2_headers.h — converting message heads between HTTP/2 header lists and the HTTP/1.1
// heads the rest of the L7 engine (router, forward.cc, upstream pool) works on.
//
// An HTTP/2 stream becomes an HTTP/1.1 request head whose views point into the stream's own
// storage, so routing, X-Forwarded-* and header rules behave exactly as for HTTP/1.1 clients.
// Pure functions: no I/O, unit-tested in tests/unit/l7/http2_headers_test.cc.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "l7/http1/parser.h"
#include "l7/router/router.h"

namespace fulcrum::l7 {
// Header fields as (name, value) pairs.
using H2Fields = std::vector<std::pair<std::string, std::string>>;
}  // namespace fulcrum::l7

namespace fulcrum::l7::http2 {

// One request's HEADERS block as received. nghttp2's HTTP messaging checks already ran: names
// are lower case, pseudo-fields come first and are valid, no connection-specific fields.
struct H2Request {
  std::string method, scheme, authority, path;
  std::vector<std::pair<std::string, std::string>> fields;  // regular fields, in order
  std::uint64_t list_size = 0;  // RFC 9113 §6.5.2: name + value + 32 per field

  // Adds one field; false once the list is over `limit` (the field is not kept then).
  bool add(std::string_view name, std::string_view value, std::uint64_t limit);
};

http1::Method method_id(std::string_view method);

// Fills `out` as the HTTP/1.1 head of the same request: views into `req` and `cookie` (the
// Cookie fields, which HTTP/2 may split, joined with "; " as RFC 9113 §8.2.3 asks). A request
// without END_STREAM on its HEADERS and without content-length gets its body chunked upstream.
// Returns 0, or the status to answer (400 no host, 431 too many fields).
int to_request_head(const H2Request& req, bool end_stream, std::string& cookie,
                    http1::RequestHead& out);

// Bytes write_request_head may need for `head` (fields plus the request line).
std::size_t head_size_hint(const http1::RequestHead& head);

// The response head as an HTTP/2 header list: ":status", then the server's fields with names
// lower-cased, hop-by-hop fields (and the ones Connection names) dropped, the route's response
// rules applied, and `extra_line`, `extra_line2` ("Name: value\r\n": a sticky cookie, HSTS)
// added. The name and
// value bytes live in `store`; `nva` points into it.
void to_response_nva(const http1::ResponseHead& h, const CompiledHeaderOps* ops,
                     std::string_view extra_line, std::string& store, std::vector<nghttp2_nv>& nva,
                     std::string_view extra_line2 = {});

// The request for an HTTP/2 server, made from the HTTP/1.1 head forward.cc wrote for it (so
// X-Forwarded-*, header rules and path rewrites are exactly those of HTTP/1.1): pseudo-fields
// from the request line and Host, the rest lower-cased without connection-specific fields, and
// "te: trailers" when the client asked for trailers (gRPC). False if `h1_head` does not parse.
// `https`: the server is reached over TLS (:scheme https).
bool to_upstream_nva(std::string_view h1_head, bool te_trailers, http1::RequestHead& scratch,
                     std::string& store, std::vector<nghttp2_nv>& nva, bool https = false);

// A response head (status > 0) or trailers (status 0) from an HTTP/2 server, for the client:
// connection-specific fields dropped, `ops` and `extra_line` applied as in to_response_nva.
void to_client_nva(int status, const H2Fields& fields, const CompiledHeaderOps* ops,
                   std::string_view extra_line, std::string& store, std::vector<nghttp2_nv>& nva,
                   std::string_view extra_line2 = {});

}  // namespace fulcrum::l7::http2
