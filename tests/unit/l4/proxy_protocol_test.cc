// PROXY protocol v1/v2: round trips, the spec's bytes, truncations and a table of bad headers.
#include "l4/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fulcrum::l4::proxy {
namespace {

using asio::ip::make_address;
using asio::ip::tcp;

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Addresses make(const char* src, unsigned short sp, const char* dst, unsigned short dp) {
  Addresses a;
  a.source = tcp::endpoint(make_address(src), sp);
  a.destination = tcp::endpoint(make_address(dst), dp);
  return a;
}

std::string v1(const Addresses& a) {
  char buf[kMaxV1];
  const std::size_t n = write_v1(a, buf);
  return std::string(buf, n);
}

std::string v2(const Addresses& a) {
  char buf[kMaxV2];
  const std::size_t n = write_v2(a, buf);
  return std::string(buf, n);
}

// Every strict prefix of a complete header is incomplete, never invalid.
void expect_prefixes_incomplete(const std::string& h) {
  for (std::size_t i = 0; i < h.size(); ++i) {
    const ParseResult r = parse(bytes(std::string_view(h).substr(0, i)));
    EXPECT_EQ(r.status, Status::kIncomplete) << "prefix of " << i << " bytes: " << r.error;
  }
}

TEST(ProxyV1, WritesTheSpecLineForIpv4) {
  EXPECT_EQ(v1(make("192.168.0.1", 56324, "192.168.0.11", 443)),
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
}

TEST(ProxyV1, RoundTripsIpv4AndIpv6) {
  for (const Addresses& a :
       {make("10.1.2.3", 1, "10.9.8.7", 65535), make("0.0.0.0", 0, "255.255.255.255", 80),
        make("2001:db8::1", 40000, "fe80::2", 8443)}) {
    const std::string h = v1(a);
    const ParseResult r = parse(bytes(h + "GET / HTTP/1.1\r\n"));
    ASSERT_EQ(r.status, Status::kDone) << h << r.error;
    EXPECT_EQ(r.consumed, h.size());
    EXPECT_FALSE(r.addresses.local);
    EXPECT_EQ(r.addresses.source, a.source);
    EXPECT_EQ(r.addresses.destination, a.destination);
    expect_prefixes_incomplete(h);
  }
}

TEST(ProxyV1, MixedFamiliesAreWrittenAsTcp6) {
  const std::string h = v1(make("10.0.0.1", 5, "2001:db8::9", 6));
  EXPECT_EQ(h, "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::9 5 6\r\n");
  EXPECT_EQ(parse(bytes(h)).status, Status::kDone);
}

TEST(ProxyV1, LongestLineFits) {
  const std::string h = v1(make("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
                                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
  EXPECT_EQ(h.size(), kMaxV1 - 3);  // the spec's 107 counts "PROXY UNKNOWN" + two v6 + ports
  EXPECT_EQ(parse(bytes(h)).status, Status::kDone);
}

TEST(ProxyV1, Unknown) {
  Addresses a;
  a.local = true;
  EXPECT_EQ(v1(a), "PROXY UNKNOWN\r\n");
  for (std::string h : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    const ParseResult r = parse(bytes(h));
    ASSERT_EQ(r.status, Status::kDone) << h;
    EXPECT_TRUE(r.addresses.local);
    EXPECT_EQ(r.consumed, h.size());
    expect_prefixes_incomplete(h);
  }
}

TEST(ProxyV1, NoCrlfWithin107BytesIsInvalid) {
  const std::string h = "PROXY UNKNOWN " + std::string(120, 'a');
  EXPECT_EQ(parse(bytes(h.substr(0, 106))).status, Status::kIncomplete);
  EXPECT_EQ(parse(bytes(h.substr(0, 107))).status, Status::kInvalid);
  // 105 characters plus CRLF is 107 bytes: still allowed.
  const std::string edge = h.substr(0, 105) + "\r\n";
  EXPECT_EQ(parse(bytes(edge)).status, Status::kDone);
  // 106 characters plus CRLF is 108 bytes: too long, whether or not the LF has arrived (found
  // by the fuzzer: a CR at byte 107 used to pass).
  const std::string over = h.substr(0, 106) + "\r\n";
  EXPECT_EQ(parse(bytes(over)).status, Status::kInvalid);
  EXPECT_EQ(parse(bytes(over.substr(0, 107))).status, Status::kInvalid);
}

TEST(ProxyV2, SignatureAndHeaderBytesAreTheSpecs) {
  const std::string h = v2(make("192.168.0.1", 56324, "192.168.0.11", 443));
  const std::uint8_t expected[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51,
                                   0x55, 0x49, 0x54, 0x0A,                        // signature
                                   0x21,                                          // v2, PROXY
                                   0x11,                                          // TCP over IPv4
                                   0x00, 0x0C,                                    // 12 bytes
                                   192,  168,  0,    1,    192,  168,  0,    11,  // addresses
                                   0xDC, 0x04, 0x01, 0xBB};                       // 56324, 443
  ASSERT_EQ(h.size(), sizeof expected);
  EXPECT_EQ(0, std::memcmp(h.data(), expected, sizeof expected));
}

TEST(ProxyV2, RoundTripsIpv4AndIpv6) {
  for (const Addresses& a :
       {make("10.1.2.3", 1, "10.9.8.7", 65535), make("2001:db8::1", 40000, "::1", 8443),
        make("127.0.0.1", 7, "::1", 9)}) {
    const std::string h = v2(a);
    EXPECT_EQ(h.size(),
              a.source.address().is_v4() && a.destination.address().is_v4() ? 28u : kMaxV2);
    const ParseResult r = parse(bytes(h + "payload"));
    ASSERT_EQ(r.status, Status::kDone) << r.error;
    EXPECT_EQ(r.consumed, h.size());
    EXPECT_FALSE(r.addresses.local);
    if (a.source.address().is_v4() && a.destination.address().is_v6()) {
      EXPECT_EQ(r.addresses.source.address(), make_address("::ffff:127.0.0.1"));
    } else {
      EXPECT_EQ(r.addresses.source, a.source);
    }
    EXPECT_EQ(r.addresses.destination, a.destination);
    expect_prefixes_incomplete(h);
  }
}

TEST(ProxyV2, Local) {
  Addresses a;
  a.local = true;
  const std::string h = v2(a);
  ASSERT_EQ(h.size(), 16u);
  EXPECT_EQ(static_cast<std::uint8_t>(h[12]), 0x20);
  EXPECT_EQ(static_cast<std::uint8_t>(h[13]), 0x00);
  const ParseResult r = parse(bytes(h));
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_TRUE(r.addresses.local);
  EXPECT_EQ(r.consumed, 16u);
  expect_prefixes_incomplete(h);
}

TEST(ProxyV2, TlvsAreSkippedAndUnsupportedFamiliesHaveNoAddresses) {
  std::string h = v2(make("10.0.0.1", 1, "10.0.0.2", 2));
  h[15] = 12 + 7;
  h += std::string(
      "\x04\x00\x04"
      "abcd",
      7);  // PP2_TYPE_NOOP with 4 bytes
  ParseResult r = parse(bytes(h));
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_EQ(r.consumed, h.size());
  expect_prefixes_incomplete(h);

  std::string udp = v2(make("10.0.0.1", 1, "10.0.0.2", 2));
  udp[13] = 0x12;  // UDP over IPv4
  r = parse(bytes(udp));
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_TRUE(r.addresses.local);

  std::string unix_stream = v2(make("10.0.0.1", 1, "10.0.0.2", 2)).substr(0, 16);
  unix_stream[13] = 0x31;
  unix_stream[14] = 0;
  unix_stream[15] = static_cast<char>(216);
  unix_stream += std::string(216, '\0');
  r = parse(bytes(unix_stream));
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_TRUE(r.addresses.local);
  EXPECT_EQ(r.consumed, 16u + 216u);
}

TEST(ProxyV2, TlvSpaceIsCapped) {
  std::string h = v2(make("10.0.0.1", 1, "10.0.0.2", 2));
  const std::size_t len = 12 + kMaxV2Tlv + 1;
  h[14] = static_cast<char>(len >> 8);
  h[15] = static_cast<char>(len & 0xff);
  EXPECT_EQ(parse(bytes(h.substr(0, 16))).status, Status::kInvalid);
}

TEST(ProxyV2, WriteRefusesShortBuffers) {
  char small[20];
  EXPECT_EQ(write_v2(make("10.0.0.1", 1, "10.0.0.2", 2), small), 0u);
  EXPECT_EQ(write_v1(make("10.0.0.1", 1, "10.0.0.2", 2), std::span<char>(small, 10)), 0u);
}

struct Bad {
  const char* name;
  std::string input;
};

std::string v2_with(std::size_t at, std::uint8_t value) {
  std::string h = v2(make("10.0.0.1", 1, "10.0.0.2", 2));
  h[at] = static_cast<char>(value);
  return h;
}

TEST(Proxy, InvalidInputs) {
  const std::vector<Bad> table = {
      {"not a header", "GET / HTTP/1.1\r\n"},
      {"lower-case signature", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"},
      {"no space after PROXY", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n"},
      {"unknown protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"},
      {"UNKNOWN glued", "PROXY UNKNOWNX\r\n"},
      {"missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"},
      {"extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"},
      {"double space", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"},
      {"trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"},
      {"leading zero in address", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"},
      {"short address", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"},
      {"octet > 255", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"},
      {"v6 in TCP4", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n"},
      {"v4 in TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n"},
      {"leading zero in port", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"},
      {"port > 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"},
      {"signed port", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"},
      {"hex port", "PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n"},
      {"bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"},
      {"CR not followed by LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"},
      {"control byte", std::string("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n")},
      {"NUL byte", std::string("PROXY UNKNOWN\0\r\n", 16)},
      {"v2 signature typo", v2_with(7, 0x52)},
      {"v2 version 1", v2_with(12, 0x11)},
      {"v2 version 3", v2_with(12, 0x31)},
      {"v2 unknown command", v2_with(12, 0x22)},
      {"v2 family 4", v2_with(13, 0x41)},
      {"v2 transport 3", v2_with(13, 0x13)},
      {"v2 UNSPEC with transport", v2_with(13, 0x01)},
      {"v2 TCP6 with an IPv4 block", v2_with(13, 0x21)},
      {"v2 length shorter than the block", v2_with(15, 11)},
  };
  for (const Bad& b : table) {
    const ParseResult r = parse(bytes(b.input));
    EXPECT_EQ(r.status, Status::kInvalid) << b.name;
    if (r.status == Status::kInvalid) {
      EXPECT_NE(r.error, nullptr) << b.name;
    }
  }
}

}  // namespace
}  // namespace fulcrum::l4::proxy
