#include "l4/client_hello.h"

#include <algorithm>
#include <cstring>

namespace fulcrum::l4 {
namespace {

constexpr std::uint8_t kHandshakeRecord = 0x16;
constexpr std::uint8_t kClientHello = 0x01;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kHandshakeHeader = 4;
constexpr std::size_t kMaxRecord = 1 << 14;  // TLSPlaintext.length limit (RFC 8446 5.1)
constexpr std::uint16_t kServerNameExt = 0;
constexpr std::uint8_t kHostName = 0;

HelloResult fail(HelloStatus s, const char* why) {
  HelloResult r;
  r.status = s;
  r.error = why;
  return r;
}

// A bounds-checked reader over the reassembled message: any read past the end marks it bad,
// and callers check ok() once per vector rather than after every byte.
class Reader {
 public:
  Reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool ok() const { return ok_; }
  std::size_t left() const { return n_ - at_; }
  bool empty() const { return at_ == n_; }
  std::uint32_t u8() { return take(1) ? p_[at_ - 1] : 0; }
  std::uint32_t u16() { return take(2) ? (p_[at_ - 2] << 8 | p_[at_ - 1]) : 0; }
  // A sub-reader over the next `len` bytes.
  Reader sub(std::size_t len) {
    if (!take(len)) return Reader(p_, 0, false);
    return Reader(p_ + at_ - len, len);
  }
  void skip(std::size_t len) { take(len); }
  const std::uint8_t* data() const { return p_ + at_; }

 private:
  Reader(const std::uint8_t* p, std::size_t n, bool ok) : p_(p), n_(n), ok_(ok) {}
  bool take(std::size_t len) {
    if (!ok_ || len > n_ - at_) {
      ok_ = false;
      return false;
    }
    at_ += len;
    return true;
  }
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

bool name_byte(std::uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_' || c == '*';
}

// The server_name extension body (RFC 6066 3): ServerName server_name_list<1..2^16-1>.
bool parse_server_name(Reader ext, HelloResult& r) {
  const std::size_t list_len = ext.u16();
  if (!ext.ok() || list_len == 0 || list_len != ext.left()) {
    r.error = "ClientHello: bad server_name list length";
    return false;
  }
  bool have_host = false;
  while (!ext.empty()) {
    const std::uint32_t type = ext.u8();
    const std::size_t len = ext.u16();
    Reader name = ext.sub(len);
    if (!ext.ok() || len == 0) {
      r.error = "ClientHello: truncated server_name entry";
      return false;
    }
    // Other name types have never been defined; RFC 6066 gives them the same opaque<1..2^16-1>
    // shape, so they are skipped, not refused.
    if (type != kHostName) continue;
    if (have_host) {
      r.error = "ClientHello: two host_name entries";
      return false;
    }
    have_host = true;
    if (len > 255) {
      r.error = "ClientHello: server name longer than 255 bytes";
      return false;
    }
    for (std::size_t i = 0; i < len; ++i) {
      std::uint8_t c = name.data()[i];
      if (!name_byte(c)) {
        r.error = "ClientHello: server name has a byte outside [A-Za-z0-9.-_*]";
        return false;
      }
      if (c >= 'A' && c <= 'Z') c = static_cast<std::uint8_t>(c - 'A' + 'a');
      r.sni[i] = static_cast<char>(c);
    }
    r.sni_len = len;
  }
  return true;
}

// The ClientHello body (RFC 8446 4.1.2; TLS 1.2's is the same shape).
HelloResult parse_body(const std::uint8_t* p, std::size_t n) {
  HelloResult r;
  Reader m(p, n);
  m.skip(2 + 32);  // legacy_version, random
  const std::size_t sid = m.u8();
  if (!m.ok() || sid > 32) return fail(HelloStatus::kInvalid, "ClientHello: bad session id");
  m.skip(sid);
  const std::size_t suites = m.u16();
  if (!m.ok() || suites < 2 || suites % 2 != 0)
    return fail(HelloStatus::kInvalid, "ClientHello: bad cipher suites");
  m.skip(suites);
  const std::size_t comp = m.u8();
  if (!m.ok() || comp < 1)
    return fail(HelloStatus::kInvalid, "ClientHello: bad compression methods");
  m.skip(comp);
  if (!m.ok()) return fail(HelloStatus::kInvalid, "ClientHello: truncated");
  if (m.empty()) {  // pre-TLS-1.2 clients may omit extensions altogether
    r.status = HelloStatus::kDone;
    return r;
  }
  const std::size_t ext_len = m.u16();
  if (!m.ok() || ext_len != m.left())
    return fail(HelloStatus::kInvalid, "ClientHello: bad extensions length");
  bool seen_sni = false;
  while (!m.empty()) {
    const std::uint32_t type = m.u16();
    const std::size_t len = m.u16();
    Reader ext = m.sub(len);
    if (!m.ok()) return fail(HelloStatus::kInvalid, "ClientHello: truncated extension");
    if (type != kServerNameExt) continue;
    if (seen_sni)
      return fail(HelloStatus::kInvalid, "ClientHello: duplicate server_name extension");
    seen_sni = true;
    if (!parse_server_name(ext, r)) return fail(HelloStatus::kInvalid, r.error);
  }
  r.status = HelloStatus::kDone;
  return r;
}

}  // namespace

HelloResult peek_client_hello(std::span<const std::uint8_t> in) {
  // The handshake message, gathered from as many records as it spans.
  std::uint8_t msg[kHandshakeHeader + kMaxClientHello];
  std::size_t have = 0;
  std::size_t want = kHandshakeHeader;  // grows to header + body length once the header is in
  std::size_t at = 0;
  bool first = true;
  while (have < want) {
    if (in.size() - at < 1) return {};
    if (in[at] != kHandshakeRecord) {
      return fail(first ? HelloStatus::kNotTls : HelloStatus::kInvalid,
                  "ClientHello: record is not a handshake record");
    }
    if (in.size() - at < 2) return {};
    if (in[at + 1] != 3) {
      return fail(first ? HelloStatus::kNotTls : HelloStatus::kInvalid,
                  "ClientHello: record version is not 3.x");
    }
    if (in.size() - at < kRecordHeader) return {};
    const std::size_t len = static_cast<std::size_t>(in[at + 3] << 8 | in[at + 4]);
    if (len == 0 || len > kMaxRecord) {
      return fail(HelloStatus::kInvalid, "ClientHello: bad record length");
    }
    first = false;
    at += kRecordHeader;
    // Copy the record's bytes that belong to the message; what follows the message inside the
    // record (a further handshake message) is none of our business.
    std::size_t off = 0;
    while (off < len && have < want) {
      const std::size_t step = std::min(len - off, want - have);
      const std::size_t avail = std::min(step, in.size() - (at + off));
      std::memcpy(msg + have, in.data() + at + off, avail);
      have += avail;
      off += avail;
      if (have == kHandshakeHeader && want == kHandshakeHeader) {
        if (msg[0] != kClientHello) {
          return fail(HelloStatus::kInvalid, "ClientHello: first message is not a ClientHello");
        }
        const std::size_t body = static_cast<std::size_t>(msg[1] << 16 | msg[2] << 8 | msg[3]);
        if (body > kMaxClientHello) {
          return fail(HelloStatus::kInvalid, "ClientHello: longer than 16 KiB");
        }
        want = kHandshakeHeader + body;
      }
      if (avail < step) return {};  // the record is cut short: wait for more
    }
    at += len;
  }
  return parse_body(msg + kHandshakeHeader, want - kHandshakeHeader);
}

}  // namespace fulcrum::l4
