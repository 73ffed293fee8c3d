#include "config/text.h"

#include <array>

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

}  // namespace fulcrum::config
