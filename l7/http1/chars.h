// l7/http1/chars.h — byte classes of the HTTP/1 grammar (RFC 9110 §5.6, RFC 9112), internal to
// the codec. One 256-entry table answers every "may this byte appear here?" with one load, and
// the word-at-a-time helpers let long values (cookies, user agents) skip 8 bytes per step.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace fulcrum::l7::http1::detail {

enum CharClass : std::uint8_t {
  kTchar = 1 << 0,       // token: field names, methods, transfer codings, chunk-ext names
  kTargetChar = 1 << 1,  // request-target: VCHAR and obs-text (no CTL, SP or DEL)
  kValueChar = 1 << 2,   // field-vchar, SP, HTAB, obs-text; also what a quoted-pair may escape
  kHexDigit = 1 << 3,
  kQdtext = 1 << 4,    // inside a quoted-string, besides '\' escapes
  kHostChar = 1 << 5,  // uri-host [":" port]: unreserved, pct-encoded, sub-delims, ':', '[', ']'
  kDigit = 1 << 6,
};

inline constexpr std::array<std::uint8_t, 256> kCharClasses = [] {
  std::array<std::uint8_t, 256> t{};
  auto in = [](unsigned c, const char* set) {
    for (; *set != '\0'; ++set) {
      if (static_cast<unsigned char>(*set) == c) return true;
    }
    return false;
  };
  for (unsigned c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c >= 0x21 && c <= 0x7e;
    const bool obs_text = c >= 0x80;
    std::uint8_t v = 0;
    if (alpha || digit || in(c, "!#$%&'*+-.^_`|~")) v |= kTchar;
    if (vchar || obs_text) v |= kTargetChar;
    if (vchar || obs_text || c == ' ' || c == '\t') v |= kValueChar;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHexDigit;
    if ((c == '\t' || c == ' ' || vchar || obs_text) && c != '"' && c != '\\') v |= kQdtext;
    if (alpha || digit || in(c, "-._~%!$&'()*+,;=:[]")) v |= kHostChar;
    if (digit) v |= kDigit;
    t[c] = v;
  }
  return t;
}();

inline bool is(char c, std::uint8_t cls) {
  return (kCharClasses[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Whether any byte of `w` is below `n` (n <= 128). The classic borrow trick: false positives are
// possible only in bytes above a true one, so the "any" answer is exact.
constexpr bool any_byte_below(std::uint64_t w, std::uint8_t n) {
  return ((w - kOnes * n) & ~w & kHighs) != 0;
}
constexpr bool any_byte_equal(std::uint64_t w, std::uint8_t b) {
  const std::uint64_t x = w ^ (kOnes * b);
  return ((x - kOnes) & ~x & kHighs) != 0;
}

// Advances over field-value bytes (VCHAR, obs-text, SP, HTAB) and returns the first other byte's
// position, or `end`. HTAB takes the slow path; it is rare in values.
inline const char* skip_value_chars(const char* p, const char* end) {
  while (p < end) {
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      if (!any_byte_below(w, 0x20) && !any_byte_equal(w, 0x7f)) {
        p += 8;
        continue;
      }
    }
    if (!is(*p, kValueChar)) break;
    ++p;
  }
  return p;
}

// Same for the request-target, which stops at SP.
inline const char* skip_target_chars(const char* p, const char* end) {
  while (p < end) {
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      if (!any_byte_below(w, 0x21) && !any_byte_equal(w, 0x7f)) {
        p += 8;
        continue;
      }
    }
    if (!is(*p, kTargetChar)) break;
    ++p;
  }
  return p;
}

inline const char* skip_tchars(const char* p, const char* end) {
  while (p < end && is(*p, kTchar)) ++p;
  return p;
}

}  // namespace fulcrum::l7::http1::detail
