// core/listen.h — opening listening sockets the way every worker needs them.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <string>
#include <system_error>

namespace fulcrum {

// Resolves a numeric or named host and a port to a TCP endpoint (first result). Blocking:
// called at config load, never on the request path. "*" or "" means all IPv4 addresses.
std::error_code resolve_tcp(const std::string& host, unsigned short port,
                            asio::ip::tcp::endpoint& out);

// Opens a TCP listener with SO_REUSEADDR and SO_REUSEPORT, so every worker can bind its own
// copy of the same address and the kernel spreads new connections across them.
std::error_code open_tcp_listener(asio::ip::tcp::acceptor& acceptor,
                                  const asio::ip::tcp::endpoint& endpoint, int backlog = 4096);

// Opens a non-blocking UDP socket bound with SO_REUSEADDR and SO_REUSEPORT: each worker binds
// its own copy and the kernel spreads datagrams by a hash of the client's address and port, so
// a client's datagrams keep reaching the same worker (and its flow table).
std::error_code open_udp_listener(asio::ip::udp::socket& socket,
                                  const asio::ip::udp::endpoint& endpoint);

}  // namespace fulcrum
