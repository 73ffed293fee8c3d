// l7/request_keys.h — what a request carries for choosing its server: the balancer's hash key
// and the sticky-session cookie. Shared by the HTTP/1.1 and HTTP/2 sessions.
#pragma once

#include <asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "l7/http1/parser.h"
#include "l7/snapshot.h"

namespace fulcrum::l7 {

// What consistent and source hashing hash for this request (the backend's hash_key). 0, for a
// key the request does not carry, makes the balancer fall back to round robin.
std::uint64_t request_hash(const Backend& backend, const http1::RequestHead& h,
                           std::string_view path, std::string_view query,
                           const asio::ip::address& client);

// The server the request's sticky cookie names (any state; the caller checks usability), or
// null when it carries none, an unknown token, or (learn mode) a session no server is known for.
// `sticky_key` gets the hash of the session cookie in learn mode (0: none).
const balance::Server* sticky_server(const Backend& backend, const http1::RequestHead& h,
                                     std::uint64_t& sticky_key);

// Sticky mode learn: a response that sets the session cookie ties its value to the server that
// answered; a request whose session went elsewhere (its server was out) moves it to this one.
void learn_sticky(const Backend& backend, const http1::ResponseHead& h,
                  const balance::Server& server, const balance::Server* sticky,
                  std::uint64_t sticky_key);

// The target to send upstream after the route's strip_prefix and rewrite (`route` may be null):
// written into `out` (the worker's scratch string), which the result views.
std::string_view rewrite_target(const Route* route, std::string_view path, std::string_view query,
                                std::string& out);

}  // namespace fulcrum::l7
