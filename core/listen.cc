#include "core/listen.h"

#include <netdb.h>
#include <sys/socket.h>

#include <asio/socket_base.hpp>
#include <cstring>

namespace fulcrum {

std::error_code resolve_tcp(const std::string& name, unsigned short port,
                            asio::ip::tcp::endpoint& out) {
  std::string host = name;
  if (host.empty() || host == "*") host = "0.0.0.0";
  std::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (!ec) {
    out = asio::ip::tcp::endpoint(ip, port);
    return {};
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
    return std::make_error_code(std::errc::host_unreachable);
  }
  asio::ip::tcp::endpoint ep;
  std::memcpy(ep.data(), res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  ep.port(port);
  out = ep;
  return {};
}

std::error_code open_tcp_listener(asio::ip::tcp::acceptor& acceptor,
                                  const asio::ip::tcp::endpoint& endpoint, int backlog) {
  std::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return ec;
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return {errno, std::system_category()};
  }
  acceptor.bind(endpoint, ec);
  if (ec) return ec;
  acceptor.listen(backlog, ec);
  if (ec) return ec;
  acceptor.non_blocking(true, ec);
  return ec;
}

std::error_code open_udp_listener(asio::ip::udp::socket& socket,
                                  const asio::ip::udp::endpoint& endpoint) {
  std::error_code ec;
  socket.open(endpoint.protocol(), ec);
  if (ec) return ec;
  socket.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return ec;
  int one = 1;
  if (::setsockopt(socket.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return {errno, std::system_category()};
  }
  // Datagrams from every client queue here between two wakeups of the worker; the default
  // (~200 KiB, a few hundred small datagrams) overflowed under load in tests/bench/udp_bench.py.
  // Best effort: the kernel caps it at net.core.rmem_max.
  int rcvbuf = 4 << 20;
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  socket.bind(endpoint, ec);
  if (ec) return ec;
  socket.non_blocking(true, ec);
  return ec;
}

}  // namespace fulcrum
