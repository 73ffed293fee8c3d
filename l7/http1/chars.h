// l7/http1/chars.h — byte classes of the HTTP/1 grammar (RFC 9110 §5.6, RFC 9112), internal to
// the codec. One 256-entry table answers every "may this byte appear here?" with one load, and
// the word-at-a-time helpers let long values (cookies, user agents) skip 8 bytes per step.
#pragma once

#include <array>
#include <bit>
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
      if (static_cast<unsigned char>(*set) == c) {
        return true;
      }
    }
    return false;
  };
  for (unsigned c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c >= 0x21 && c <= 0x7e;
    const bool obs_text = c >= 0x80;
    std::uint8_t v = 0;
    if (alpha || digit || in(c, "!#$%&'*+-.^_`|~")) {
      v |= kTchar;
    }
    if (vchar || obs_text) {
      v |= kTargetChar;
    }
    if (vchar || obs_text || c == ' ' || c == '\t') {
      v |= kValueChar;
    }
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      v |= kHexDigit;
    }
    if ((c == '\t' || c == ' ' || vchar || obs_text) && c != '"' && c != '\\') {
      v |= kQdtext;
    }
    if (alpha || digit || in(c, "-._~%!$&'()*+,;=:[]")) {
      v |= kHostChar;
    }
    if (digit) {
      v |= kDigit;
    }
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

// High bit set in each byte of `w` below `n` (n <= 128), by the classic borrow trick. A borrow
// can also flag a byte above a true one, never below, so the lowest flag is always genuine.
constexpr std::uint64_t bytes_below(std::uint64_t w, std::uint8_t n) {
  return (w - kOnes * n) & ~w & kHighs;
}
constexpr std::uint64_t bytes_equal(std::uint64_t w, std::uint8_t b) {
  return bytes_below(w ^ (kOnes * b), 1);
}

// The word-at-a-time paths index bytes by the position of their flag, which needs little endian;
// elsewhere the table loop alone is used.
inline constexpr bool kWordScan = std::endian::native == std::endian::little;

// Advances over field-value bytes (VCHAR, obs-text, SP, HTAB) and returns the first other byte's
// position, or `end`.
inline const char* skip_value_chars(const char* p, const char* end) {
  if constexpr (kWordScan) {
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      const std::uint64_t stops = bytes_below(w, 0x20) | bytes_equal(w, 0x7f);
      if (stops == 0) {
        p += 8;
        continue;
      }
      p += std::countr_zero(stops) / 8;
      if (*p != '\t') {
        return p;
      }
      ++p;  // HTAB is the one control a value may hold
    }
  }
  while (p < end && is(*p, kValueChar)) {
    ++p;
  }
  return p;
}

// Same for the request-target, which stops at SP.
inline const char* skip_target_chars(const char* p, const char* end) {
  if constexpr (kWordScan) {
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      const std::uint64_t stops = bytes_below(w, 0x21) | bytes_equal(w, 0x7f);
      if (stops != 0) {
        return p + std::countr_zero(stops) / 8;
      }
      p += 8;
    }
  }
  while (p < end && is(*p, kTargetChar)) {
    ++p;
  }
  return p;
}

inline const char* skip_tchars(const char* p, const char* end) {
  while (p < end && is(*p, kTchar)) {
    ++p;
  }
  return p;
}

}  // namespace fulcrum::l7::http1::detail
