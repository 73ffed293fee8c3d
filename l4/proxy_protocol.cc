#include "l4/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

namespace fulcrum::l4::proxy {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV2Header = 16;
constexpr std::uint8_t kCmdLocal = 0x0;
constexpr std::uint8_t kCmdProxy = 0x1;
// Address block sizes by address family (high nibble of byte 13).
constexpr std::size_t kInetBlock = 12;
constexpr std::size_t kInet6Block = 36;
constexpr std::size_t kUnixBlock = 216;

ParseResult invalid(const char* why) {
  ParseResult r;
  r.status = Status::kInvalid;
  r.error = why;
  return r;
}

// Both endpoints in one family: IPv6 when either is, the other then IPv4-mapped.
bool as_v6(const Addresses& a) {
  return a.source.address().is_v6() || a.destination.address().is_v6();
}

asio::ip::address_v6 to_v6(const asio::ip::address& ip) {
  if (ip.is_v6()) return ip.to_v6();
  return asio::ip::make_address_v6(asio::ip::v4_mapped, ip.to_v4());
}

// --- v1 ---------------------------------------------------------------------------------------

// Decimal 0..65535 without sign or leading zeros ("0" itself is fine).
bool parse_port(std::string_view s, std::uint16_t& out) {
  if (s.empty() || s.size() > 5) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

// inet_pton is strict in the way the spec asks: dotted quad of 4 decimal parts without leading
// zeros for AF_INET; RFC 4291 text for AF_INET6 (a bare dotted quad is refused there).
bool parse_ip(std::string_view s, bool v6, asio::ip::address& out) {
  std::array<char, 48> buf{};
  if (s.empty() || s.size() >= buf.size()) return false;
  std::memcpy(buf.data(), s.data(), s.size());
  if (v6) {
    asio::ip::address_v6::bytes_type b;
    if (inet_pton(AF_INET6, buf.data(), b.data()) != 1) return false;
    out = asio::ip::address_v6(b);
  } else {
    asio::ip::address_v4::bytes_type b;
    if (inet_pton(AF_INET, buf.data(), b.data()) != 1) return false;
    out = asio::ip::address_v4(b);
  }
  return true;
}

// Splits off the text up to the next single space; false when there is none.
bool next_field(std::string_view& rest, std::string_view& field) {
  const std::size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) return false;
  field = rest.substr(0, sp);
  rest.remove_prefix(sp + 1);
  return true;
}

ParseResult parse_v1(std::string_view in) {
  const std::size_t n = std::min(in.size(), kV1Prefix.size());
  if (in.substr(0, n) != kV1Prefix.substr(0, n)) return invalid("PROXY v1: bad signature");
  // Scan for CRLF, refusing early whatever no valid line can contain, so garbage does not
  // hold a connection until byte 107.
  std::size_t end = std::string_view::npos;
  const std::size_t limit = std::min(in.size(), kMaxV1);
  for (std::size_t i = n; i < limit; ++i) {
    const char c = in[i];
    if (c == '\r') {
      // The spec's 107 bytes include the CRLF: a CR at byte 107 makes a 108-byte line.
      if (i + 2 > kMaxV1) return invalid("PROXY v1: line longer than 107 bytes");
      if (i + 1 >= in.size()) break;  // the LF may still come
      if (in[i + 1] != '\n') return invalid("PROXY v1: CR without LF");
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return invalid("PROXY v1: control or non-ASCII byte");
  }
  if (end == std::string_view::npos) {
    if (in.size() >= kMaxV1) return invalid("PROXY v1: line longer than 107 bytes");
    return {};
  }
  ParseResult r;
  r.consumed = end + 2;
  std::string_view rest = in.substr(kV1Prefix.size(), end - kV1Prefix.size());
  if (rest.starts_with("UNKNOWN") && (rest.size() == 7 || rest[7] == ' ')) {
    // The spec: a receiver ignores everything after UNKNOWN up to the CRLF.
    r.status = Status::kDone;
    r.addresses.local = true;
    return r;
  }
  std::string_view proto, src, dst, sport;
  if (!next_field(rest, proto)) return invalid("PROXY v1: missing fields");
  bool v6;
  if (proto == "TCP4") {
    v6 = false;
  } else if (proto == "TCP6") {
    v6 = true;
  } else {
    return invalid("PROXY v1: protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (!next_field(rest, src) || !next_field(rest, dst) || !next_field(rest, sport)) {
    return invalid("PROXY v1: missing fields");
  }
  const std::string_view dport = rest;  // the last field runs to the CRLF
  asio::ip::address sip, dip;
  std::uint16_t sp = 0, dp = 0;
  if (!parse_ip(src, v6, sip)) return invalid("PROXY v1: bad source address");
  if (!parse_ip(dst, v6, dip)) return invalid("PROXY v1: bad destination address");
  if (!parse_port(sport, sp)) return invalid("PROXY v1: bad source port");
  if (!parse_port(dport, dp)) return invalid("PROXY v1: bad destination port");
  r.addresses.source = asio::ip::tcp::endpoint(sip, sp);
  r.addresses.destination = asio::ip::tcp::endpoint(dip, dp);
  r.status = Status::kDone;
  return r;
}

// --- v2 ---------------------------------------------------------------------------------------

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

ParseResult parse_v2(std::span<const std::uint8_t> in) {
  const std::size_t n = std::min(in.size(), sizeof kV2Signature);
  if (std::memcmp(in.data(), kV2Signature, n) != 0) return invalid("PROXY v2: bad signature");
  if (in.size() < 13) return {};
  const std::uint8_t ver_cmd = in[12];
  if ((ver_cmd >> 4) != 0x2) return invalid("PROXY v2: version is not 2");
  const std::uint8_t cmd = ver_cmd & 0x0f;
  if (cmd != kCmdLocal && cmd != kCmdProxy) return invalid("PROXY v2: unknown command");
  if (in.size() < 14) return {};
  const std::uint8_t fam = in[13];
  std::size_t block = 0;
  switch (fam >> 4) {
    case 0x0:
      block = 0;
      break;
    case 0x1:
      block = kInetBlock;
      break;
    case 0x2:
      block = kInet6Block;
      break;
    case 0x3:
      block = kUnixBlock;
      break;
    default:
      return invalid("PROXY v2: unknown address family");
  }
  const std::uint8_t transport = fam & 0x0f;
  // UNSPEC goes with UNSPEC only; the others with STREAM (1) or DGRAM (2).
  if ((fam >> 4) == 0 ? transport != 0 : (transport != 1 && transport != 2)) {
    return invalid("PROXY v2: unknown transport protocol");
  }
  if (in.size() < kV2Header) return {};
  const std::size_t len = be16(in.data() + 14);
  // LOCAL: the spec has the receiver ignore the family and its block, so only the TLV cap holds.
  const std::size_t need = cmd == kCmdLocal ? 0 : block;
  if (len < need) return invalid("PROXY v2: length too short for the address family");
  if (len - need > kMaxV2Tlv) return invalid("PROXY v2: too many TLV bytes");
  if (in.size() < kV2Header + len) return {};

  ParseResult r;
  r.status = Status::kDone;
  r.consumed = kV2Header + len;
  const std::uint8_t* p = in.data() + kV2Header;
  if (cmd == kCmdLocal || transport != 1 || (fam >> 4) == 0x3) {
    // LOCAL, UNSPEC, UDP and UNIX carry no TCP endpoints we could use: the connection's own.
    r.addresses.local = true;
    return r;
  }
  if (fam == 0x11) {
    asio::ip::address_v4::bytes_type s, d;
    std::memcpy(s.data(), p, 4);
    std::memcpy(d.data(), p + 4, 4);
    r.addresses.source = asio::ip::tcp::endpoint(asio::ip::address_v4(s), be16(p + 8));
    r.addresses.destination = asio::ip::tcp::endpoint(asio::ip::address_v4(d), be16(p + 10));
  } else {
    asio::ip::address_v6::bytes_type s, d;
    std::memcpy(s.data(), p, 16);
    std::memcpy(d.data(), p + 16, 16);
    r.addresses.source = asio::ip::tcp::endpoint(asio::ip::address_v6(s), be16(p + 32));
    r.addresses.destination = asio::ip::tcp::endpoint(asio::ip::address_v6(d), be16(p + 34));
  }
  return r;
}

}  // namespace

std::size_t write_v1(const Addresses& a, std::span<char> out) {
  std::array<char, kMaxV1 + 1> buf;
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    std::memcpy(buf.data() + n, s.data(), s.size());
    n += s.size();
  };
  auto put_ip = [&](const asio::ip::address& ip, bool v6) {
    // INET6_ADDRSTRLEN is 46: fits with the rest within kMaxV1 by the spec's own arithmetic.
    if (v6) {
      const auto b = to_v6(ip).to_bytes();
      inet_ntop(AF_INET6, b.data(), buf.data() + n, INET6_ADDRSTRLEN);
    } else {
      const auto b = ip.to_v4().to_bytes();
      inet_ntop(AF_INET, b.data(), buf.data() + n, INET_ADDRSTRLEN);
    }
    n += std::strlen(buf.data() + n);
  };
  auto put_port = [&](unsigned short port) {
    n = static_cast<std::size_t>(std::to_chars(buf.data() + n, buf.data() + buf.size(), port).ptr -
                                 buf.data());
  };
  if (a.local) {
    put("PROXY UNKNOWN\r\n");
  } else {
    const bool v6 = as_v6(a);
    put(v6 ? "PROXY TCP6 " : "PROXY TCP4 ");
    put_ip(a.source.address(), v6);
    put(" ");
    put_ip(a.destination.address(), v6);
    put(" ");
    put_port(a.source.port());
    put(" ");
    put_port(a.destination.port());
    put("\r\n");
  }
  if (n > out.size()) return 0;
  std::memcpy(out.data(), buf.data(), n);
  return n;
}

std::size_t write_v2(const Addresses& a, std::span<char> out) {
  const bool v6 = !a.local && as_v6(a);
  const std::size_t block = a.local ? 0 : v6 ? kInet6Block : kInetBlock;
  const std::size_t n = kV2Header + block;
  if (out.size() < n) return 0;
  auto* p = reinterpret_cast<std::uint8_t*>(out.data());
  std::memcpy(p, kV2Signature, sizeof kV2Signature);
  p[12] = static_cast<std::uint8_t>(0x20 | (a.local ? kCmdLocal : kCmdProxy));
  p[13] = a.local ? 0x00 : v6 ? 0x21 : 0x11;
  p[14] = static_cast<std::uint8_t>(block >> 8);
  p[15] = static_cast<std::uint8_t>(block & 0xff);
  std::uint8_t* q = p + kV2Header;
  auto put_port = [](std::uint8_t* at, unsigned short port) {
    at[0] = static_cast<std::uint8_t>(port >> 8);
    at[1] = static_cast<std::uint8_t>(port & 0xff);
  };
  if (a.local) return n;
  if (v6) {
    const auto s = to_v6(a.source.address()).to_bytes();
    const auto d = to_v6(a.destination.address()).to_bytes();
    std::memcpy(q, s.data(), 16);
    std::memcpy(q + 16, d.data(), 16);
    put_port(q + 32, a.source.port());
    put_port(q + 34, a.destination.port());
  } else {
    const auto s = a.source.address().to_v4().to_bytes();
    const auto d = a.destination.address().to_v4().to_bytes();
    std::memcpy(q, s.data(), 4);
    std::memcpy(q + 4, d.data(), 4);
    put_port(q + 8, a.source.port());
    put_port(q + 10, a.destination.port());
  }
  return n;
}

ParseResult parse(std::span<const std::uint8_t> in) {
  if (in.empty()) return {};
  if (in[0] == 'P') {
    return parse_v1(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
  }
  if (in[0] == kV2Signature[0]) return parse_v2(in);
  return invalid("PROXY: neither a v1 nor a v2 signature");
}

}  // namespace fulcrum::l4::proxy
