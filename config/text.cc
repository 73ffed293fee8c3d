#include "config/text.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>

namespace fulcrum::config {

namespace {

void append_escaped(std::string& out, char c, char q) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto u = static_cast<unsigned char>(c);
  if (c == q || c == '\\') {
    out += '\\';
    out += c;
  } else if (c == '\n') {
    out += "\\n";
  } else if (c == '\t') {
    out += "\\t";
  } else if (u < 0x20 || u == 0x7f) {
    out += "\\x";
    out += kHex[u >> 4];
    out += kHex[u & 0xf];
  } else {
    out += c;
  }
}

}  // namespace

std::string quote(std::string_view s, char q) {
  constexpr size_t kMax = 64;
  bool cut = s.size() > kMax;
  if (cut) s = s.substr(0, kMax);
  std::string out(1, q);
  for (char c : s) append_escaped(out, c, q);
  if (cut) out += "...";
  out += q;
  return out;
}

std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t max) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (d > max || v > max / 10 || v * 10 > max - d) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string format_number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

std::string yaml_scalar(std::string_view s) {
  // Plain scalars are safe when made only of these characters and not starting with one that
  // YAML gives a meaning ('-' sequence, ':' mapping, '.' is harmless, but '[' '*' '&' '!' are
  // not even in the set). `name: null` or `~` would read back as no value, so those are quoted.
  auto safe = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '/' || c == ':';
  };
  bool plain = !s.empty() && s.front() != '-' && s.front() != ':' && s.back() != ':';
  for (char c : s) plain = plain && safe(c);
  static constexpr std::array<std::string_view, 4> kNull = {"~", "null", "Null", "NULL"};
  for (std::string_view n : kNull) plain = plain && s != n;
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) append_escaped(out, c, '"');
  out += '"';
  return out;
}

bool is_token(std::string_view s) {
  static constexpr std::string_view kSpecial = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && kSpecial.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool has_control(std::string_view s, bool tab) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !(tab && c == '\t')) || u == 0x7f) return true;
  }
  return false;
}

// The same reading as the runtime's CidrSet::add (l7/router/router.cc), so what passes here
// cannot fail there.
bool is_address_or_cidr(std::string_view s) {
  const size_t slash = s.find('/');
  const std::string addr(s.substr(0, slash));
  unsigned char bytes[16];
  unsigned max = 0;
  if (inet_pton(AF_INET, addr.c_str(), bytes) == 1) {
    max = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), bytes) == 1) {
    max = 128;
  } else {
    return false;
  }
  if (slash == std::string_view::npos) return true;
  auto prefix = parse_uint(s.substr(slash + 1), 999);
  return prefix && s.size() - slash - 1 <= 3 && *prefix <= max;
}

std::string entry_path(std::string_view parent, std::string_view key) {
  bool plain = !key.empty();
  for (char c : key) {
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_');
  }
  std::string out(parent);
  if (plain) return out + "." + std::string(key);
  return out + "[" + quote(key) + "]";
}

}  // namespace fulcrum::config
