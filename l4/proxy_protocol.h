// l4/proxy_protocol.h — PROXY protocol v1 (text) and v2 (binary) headers, written and parsed.
//
// Spec: haproxy.org/download/2.6/doc/proxy-protocol.txt. Pure functions over caller buffers, no
// I/O and no allocation: the TCP session peeks the first bytes of a connection, calls parse()
// until it stops saying kIncomplete, and discards exactly `consumed` bytes. The parser is strict
// (DESIGN rule 3): anything the spec does not allow is kInvalid, since the addresses it yields
// are trusted for logging, balancing and the next hop's PROXY header.
#pragma once

#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <span>

namespace fulcrum::l4::proxy {

struct Addresses {
  asio::ip::tcp::endpoint source, destination;
  bool local = false;  // v2 LOCAL command, v1 "UNKNOWN", or an unsupported family: no addresses
};

inline constexpr std::size_t kMaxV1 = 107;      // longest v1 line incl. CRLF
inline constexpr std::size_t kMaxV2 = 16 + 36;  // header + IPv6 address block (we send no TLVs)
// Space after the address block (TLVs) we accept from a peer; beyond it the header is invalid.
inline constexpr std::size_t kMaxV2Tlv = 2048;
// The v2 signature, first 12 bytes of every v2 header.
inline constexpr std::uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// Both write a PROXY header for `a` into `out` and return its length, or 0 when `out` is too
// small (kMaxV1 / kMaxV2 always suffice). A local `a` gives "PROXY UNKNOWN" / the LOCAL command.
// When one endpoint is IPv6 and the other IPv4, the IPv4 one is written IPv4-mapped (TCP6).
std::size_t write_v1(const Addresses& a, std::span<char> out);  // returns bytes written
std::size_t write_v2(const Addresses& a, std::span<char> out);  // PROXY command, TCP over IPv4/6

enum class Status { kIncomplete, kDone, kInvalid };
struct ParseResult {
  Status status = Status::kIncomplete;
  std::size_t consumed = 0;  // header length when kDone
  Addresses addresses;
  const char* error = nullptr;  // static text when kInvalid
};

// Detects v1 or v2 from the first bytes; kIncomplete until the whole header is there. Every
// strict prefix of a header that parses kDone is kIncomplete, never kInvalid.
ParseResult parse(std::span<const std::uint8_t> in);

}  // namespace fulcrum::l4::proxy
