// ClientHello SNI peek: real captured hellos, records split anywhere, truncations, bad lengths.
#include "l4/client_hello.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/l4/client_hello_vectors.h"

namespace fulcrum::l4 {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

void put16(Bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xff));
}

Bytes record(const Bytes& payload, std::size_t from, std::size_t n) {
  Bytes r = {0x16, 0x03, 0x01};
  put16(r, n);
  r.insert(r.end(), payload.begin() + from, payload.begin() + from + n);
  return r;
}

// The handshake message inside a single-record hello.
Bytes message_of(const Bytes& one_record) {
  return Bytes(one_record.begin() + 5, one_record.end());
}

// The same message carried in two records, the first holding `k` bytes of it.
Bytes split(const Bytes& one_record, std::size_t k) {
  const Bytes m = message_of(one_record);
  Bytes out = record(m, 0, k);
  const Bytes second = record(m, k, m.size() - k);
  out.insert(out.end(), second.begin(), second.end());
  return out;
}

HelloResult peek(const Bytes& b) { return peek_client_hello(b); }

void expect_prefixes_incomplete(const Bytes& b) {
  for (std::size_t i = 0; i < b.size(); ++i) {
    const HelloResult r = peek_client_hello(std::span(b.data(), i));
    ASSERT_EQ(r.status, HelloStatus::kIncomplete) << "prefix of " << i << " bytes: " << r.error;
  }
}

// A ClientHello built by hand, so single fields can be corrupted at known places. `exts` are
// whole extensions (type, length, body).
struct Built {
  Bytes bytes;
  std::size_t suites_len_at = 0, ext_len_at = 0, sni_ext_at = 0;
};

Bytes sni_extension(const std::vector<std::string>& names) {
  Bytes list;
  for (const std::string& n : names) {
    list.push_back(0);  // host_name
    put16(list, n.size());
    list.insert(list.end(), n.begin(), n.end());
  }
  Bytes ext = {0x00, 0x00};
  put16(ext, list.size() + 2);
  put16(ext, list.size());
  ext.insert(ext.end(), list.begin(), list.end());
  return ext;
}

Built build(const std::vector<Bytes>& exts, bool with_extensions = true) {
  Bytes body = {0x03, 0x03};
  body.insert(body.end(), 32, 0xAB);  // random
  body.push_back(0);                  // empty session id
  Built b;
  b.suites_len_at = 5 + 4 + body.size();
  put16(body, 2);
  body.push_back(0x13);
  body.push_back(0x01);
  body.push_back(1);  // one compression method: null
  body.push_back(0);
  if (with_extensions) {
    Bytes all;
    for (const Bytes& e : exts) {
      if (e.size() >= 2 && e[0] == 0 && e[1] == 0)
        b.sni_ext_at = 5 + 4 + body.size() + 2 + all.size();
      all.insert(all.end(), e.begin(), e.end());
    }
    b.ext_len_at = 5 + 4 + body.size();
    put16(body, all.size());
    body.insert(body.end(), all.begin(), all.end());
  }
  Bytes msg = {0x01, 0x00};
  put16(msg, body.size());
  msg.insert(msg.end(), body.begin(), body.end());
  b.bytes = record(msg, 0, msg.size());
  return b;
}

struct Vector {
  const char* name;
  const char* hex;
  const char* sni;
};

const Vector kVectors[] = {
    {"openssl TLS 1.3", test::kOpensslTls13, "example.com"},
    {"openssl TLS 1.2", test::kOpensslTls12, "api.example.org"},
    {"python ssl", test::kPythonSsl, "www.fulcrum.test"},
    {"openssl no SNI", test::kOpensslNoSni, ""},
};

TEST(ClientHello, CapturedHellosGiveTheirServerName) {
  for (const Vector& v : kVectors) {
    Bytes b = from_hex(v.hex);
    const HelloResult r = peek(b);
    ASSERT_EQ(r.status, HelloStatus::kDone) << v.name << ": " << r.error;
    EXPECT_EQ(r.server_name(), v.sni) << v.name;
    // What follows the hello (early data, the next flight) does not matter.
    b.insert(b.end(), {0x17, 0x03, 0x03, 0x00, 0x01, 0x00});
    EXPECT_EQ(peek(b).server_name(), v.sni) << v.name;
  }
}

TEST(ClientHello, EveryTruncationIsIncomplete) {
  for (const Vector& v : kVectors) expect_prefixes_incomplete(from_hex(v.hex));
}

TEST(ClientHello, SplitOverTwoRecordsAnywhere) {
  for (const Vector& v : kVectors) {
    const Bytes one = from_hex(v.hex);
    const std::size_t len = one.size() - 5;
    for (std::size_t k = 1; k < len; ++k) {
      const Bytes two = split(one, k);
      const HelloResult r = peek(two);
      ASSERT_EQ(r.status, HelloStatus::kDone) << v.name << " split at " << k << ": " << r.error;
      EXPECT_EQ(r.server_name(), v.sni);
    }
    // Prefixes of one split (inside the header, both records) are incomplete too.
    expect_prefixes_incomplete(split(one, 2));
    expect_prefixes_incomplete(split(one, len / 2));
  }
}

TEST(ClientHello, ManySmallRecords) {
  const Bytes m = message_of(from_hex(test::kPythonSsl));
  Bytes many;
  for (std::size_t at = 0; at < m.size(); at += 7) {
    const Bytes r = record(m, at, std::min<std::size_t>(7, m.size() - at));
    many.insert(many.end(), r.begin(), r.end());
  }
  const HelloResult r = peek(many);
  ASSERT_EQ(r.status, HelloStatus::kDone) << r.error;
  EXPECT_EQ(r.server_name(), "www.fulcrum.test");
}

TEST(ClientHello, NotTls) {
  for (const Bytes& b :
       {Bytes{'G', 'E', 'T', ' '}, Bytes{0x17}, Bytes{0x16, 0x02},
        Bytes{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28}, Bytes{0x16, 0x00, 0x02}}) {
    EXPECT_EQ(peek(b).status, HelloStatus::kNotTls);
  }
  EXPECT_EQ(peek(Bytes{}).status, HelloStatus::kIncomplete);
  EXPECT_EQ(peek(Bytes{0x16}).status, HelloStatus::kIncomplete);
}

TEST(ClientHello, BuiltHellos) {
  HelloResult r = peek(build({sni_extension({"Mixed-Case_1.*.Example"})}).bytes);
  ASSERT_EQ(r.status, HelloStatus::kDone) << r.error;
  EXPECT_EQ(r.server_name(), "mixed-case_1.*.example");
  r = peek(build({}, /*with_extensions=*/false).bytes);
  EXPECT_EQ(r.status, HelloStatus::kDone);
  EXPECT_EQ(r.sni_len, 0u);
  r = peek(build({Bytes{0x00, 0x17, 0x00, 0x00}}).bytes);  // extended_master_secret only
  EXPECT_EQ(r.status, HelloStatus::kDone);
  EXPECT_EQ(r.sni_len, 0u);
  const std::string longest(255, 'a');
  r = peek(build({sni_extension({longest})}).bytes);
  ASSERT_EQ(r.status, HelloStatus::kDone) << r.error;
  EXPECT_EQ(r.server_name(), longest);
}

struct Bad {
  const char* name;
  Bytes input;
};

Bytes with(Bytes b, std::size_t at, std::uint8_t v) {
  b.at(at) = v;
  return b;
}

TEST(ClientHello, Invalid) {
  const Bytes real = from_hex(test::kOpensslTls13);
  const Built ok = build({sni_extension({"a.example"}), Bytes{0x00, 0x17, 0x00, 0x00}});
  Bytes big_record = {0x16, 0x03, 0x01, 0x40, 0x01};
  Bytes big_hello = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x40, 0x01};
  Bytes second_not_handshake = split(real, 10);
  second_not_handshake.at(5 + 10) = 0x17;
  Bytes second_bad_version = split(real, 10);
  second_bad_version.at(5 + 10 + 1) = 0x04;
  const std::vector<Bad> table = {
      {"record length 0", {0x16, 0x03, 0x01, 0x00, 0x00}},
      {"record over 2^14", big_record},
      {"hello over 16 KiB", big_hello},
      {"ServerHello first", with(real, 5, 0x02)},
      {"hello length one short", with(real, 8, real[8] - 1)},
      {"hello length zero", {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00}},
      {"session id over 32", with(real, 5 + 4 + 34, 33)},
      {"odd cipher suites length", with(ok.bytes, ok.suites_len_at + 1, 3)},
      {"cipher suites past the end", with(ok.bytes, ok.suites_len_at, 0x10)},
      {"extensions length short",
       with(ok.bytes, ok.ext_len_at + 1, ok.bytes[ok.ext_len_at + 1] - 1)},
      {"extensions length long",
       with(ok.bytes, ok.ext_len_at + 1, ok.bytes[ok.ext_len_at + 1] + 1)},
      {"sni list length", with(ok.bytes, ok.sni_ext_at + 5, ok.bytes[ok.sni_ext_at + 5] + 1)},
      {"sni name length", with(ok.bytes, ok.sni_ext_at + 8, ok.bytes[ok.sni_ext_at + 8] + 1)},
      {"sni extension length", with(ok.bytes, ok.sni_ext_at + 3, ok.bytes[ok.sni_ext_at + 3] + 1)},
      {"duplicate sni extension",
       build({sni_extension({"a.example"}), sni_extension({"b.example"})}).bytes},
      {"two host names", build({sni_extension({"a.example", "b.example"})}).bytes},
      {"empty host name", build({sni_extension({""})}).bytes},
      {"name over 255", build({sni_extension({std::string(256, 'a')})}).bytes},
      {"NUL in name", build({sni_extension({std::string("a\0b", 3)})}).bytes},
      {"space in name", build({sni_extension({"a b"})}).bytes},
      {"slash in name", build({sni_extension({"a/b"})}).bytes},
      {"non-ASCII name", build({sni_extension({"\xc3\xa9.example"})}).bytes},
      {"second record not handshake", second_not_handshake},
      {"second record bad version", second_bad_version},
  };
  for (const Bad& b : table) {
    const HelloResult r = peek(b.input);
    EXPECT_EQ(r.status, HelloStatus::kInvalid) << b.name;
    EXPECT_EQ(r.sni_len, 0u) << b.name;
    if (r.status == HelloStatus::kInvalid) {
      EXPECT_NE(r.error, nullptr) << b.name;
    }
  }
}

}  // namespace
}  // namespace fulcrum::l4
