#include "config/units.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <array>
#include <cctype>

namespace fulcrum::config {
namespace {

constexpr std::uint64_t kMaxDurationMs = 365ULL * 24 * 3600 * 1000;  // 1 year

// Parsers report "what we wanted (what was wrong)"; the loader appends `, got "<text>"`.
std::nullopt_t fail(std::string* error, std::string_view expected, std::string_view detail = {}) {
  if (error != nullptr) {
    *error = std::string(expected);
    if (!detail.empty()) {
      *error += " (";
      *error += detail;
      *error += ")";
    }
  }
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads leading decimal digits into `value`; false on overflow past `limit`. `digits` counts
// the characters consumed, so callers can tell "no number" from "0".
bool read_digits(std::string_view& s, std::uint64_t limit, std::uint64_t& value, size_t& digits) {
  value = 0;
  digits = 0;
  while (!s.empty() && is_digit(s.front())) {
    std::uint64_t d = static_cast<std::uint64_t>(s.front() - '0');
    if (value > (limit - d) / 10) return false;
    value = value * 10 + d;
    s.remove_prefix(1);
    ++digits;
  }
  return true;
}

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text, std::string* error) {
  constexpr std::string_view kWant = "expected a duration like 5s or 250ms";
  if (text.empty()) return fail(error, kWant, "empty");
  if (text.front() == '-') return fail(error, kWant, "durations cannot be negative");
  if (!is_digit(text.front())) return fail(error, kWant);

  std::string_view s = text;
  std::uint64_t whole = 0;
  size_t whole_digits = 0;
  if (!read_digits(s, kMaxDurationMs, whole, whole_digits)) {
    return fail(error, kWant, "too large; at most 1 year");
  }
  std::uint64_t frac = 0;
  std::uint64_t frac_scale = 1;
  if (!s.empty() && s.front() == '.') {
    s.remove_prefix(1);
    size_t n = 0;
    while (!s.empty() && is_digit(s.front())) {
      // Digits past the ninth can only matter if they are zeros; anything else is finer than
      // a millisecond for every unit we have.
      if (n < 9) {
        frac = frac * 10 + static_cast<std::uint64_t>(s.front() - '0');
        frac_scale *= 10;
      } else if (s.front() != '0') {
        return fail(error, kWant, "not a whole number of milliseconds");
      }
      s.remove_prefix(1);
      ++n;
    }
    if (n == 0) return fail(error, kWant, "digits expected after '.'");
  }

  if (s.empty()) {
    if (whole == 0 && frac == 0) return Duration(0);
    return fail(error, kWant, "missing unit: ms, s, m or h");
  }
  static constexpr std::array<Unit, 4> kUnits = {
      {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
  const Unit* unit = nullptr;
  for (const Unit& u : kUnits) {
    if (s == u.name) unit = &u;
  }
  if (unit == nullptr) {
    return fail(error, kWant, "unknown unit '" + std::string(s) + "'; use ms, s, m or h");
  }
  if (whole > kMaxDurationMs / unit->factor) return fail(error, kWant, "too large; at most 1 year");
  // frac < 1e9 and factor <= 3.6e6, so the product fits in 64 bits.
  std::uint64_t frac_ms = frac * unit->factor;
  if (frac_ms % frac_scale != 0) {
    return fail(error, kWant, "not a whole number of milliseconds");
  }
  std::uint64_t total = whole * unit->factor + frac_ms / frac_scale;
  if (total > kMaxDurationMs) return fail(error, kWant, "too large; at most 1 year");
  return Duration(static_cast<Duration::rep>(total));
}

std::string format_duration(Duration d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<Size> parse_size(std::string_view text, std::string* error) {
  constexpr std::string_view kWant = "expected a size like 512, 64KiB or 1MiB";
  if (text.empty()) return fail(error, kWant, "empty");
  if (text.front() == '-') return fail(error, kWant, "sizes cannot be negative");
  if (!is_digit(text.front())) return fail(error, kWant);
  std::string_view s = text;
  std::uint64_t n = 0;
  size_t digits = 0;
  if (!read_digits(s, UINT64_MAX, n, digits)) return fail(error, kWant, "too large");
  if (!s.empty() && s.front() == '.') return fail(error, kWant, "a whole number is required");

  static constexpr std::array<Unit, 6> kUnits = {{{"", 1},
                                                  {"B", 1},
                                                  {"KiB", 1ULL << 10},
                                                  {"MiB", 1ULL << 20},
                                                  {"GiB", 1ULL << 30},
                                                  {"TiB", 1ULL << 40}}};
  for (const Unit& u : kUnits) {
    if (s != u.name) continue;
    if (n > UINT64_MAX / u.factor) return fail(error, kWant, "too large");
    return n * u.factor;
  }
  // Decimal-looking suffixes could mean 1000 or 1024; say which spelling we accept.
  static constexpr std::array<std::string_view, 8> kAmbiguous = {"K", "KB", "M", "MB",
                                                                 "G", "GB", "T", "TB"};
  for (std::string_view a : kAmbiguous) {
    if (s.size() == a.size() && std::toupper(static_cast<unsigned char>(s[0])) == a[0] &&
        (s.size() == 1 || s[1] == 'B' || s[1] == 'b')) {
      return fail(error, kWant,
                  "'" + std::string(s) + "' is ambiguous; write " + std::string(1, a[0]) +
                      "iB for 1024-based units");
    }
  }
  return fail(error, kWant, "unknown unit '" + std::string(s) + "'; use B, KiB, MiB, GiB or TiB");
}

std::string format_size(Size s) {
  if (s == 0) return "0";
  static constexpr std::array<Unit, 4> kUnits = {
      {{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}}};
  for (const Unit& u : kUnits) {
    if (s % u.factor == 0) return std::to_string(s / u.factor) + std::string(u.name);
  }
  return std::to_string(s);
}

namespace {

constexpr std::string_view kWantAddress = "expected host:port, [v6]:port or unix:/path";

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    char c = h[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool alnum = is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && !(c == '-' && label > 0)) return false;
    if (++label > 63) return false;
  }
  return h.back() != '-';
}

std::optional<std::uint16_t> parse_port(std::string_view p, std::string* error) {
  if (p.empty()) return fail(error, kWantAddress, "missing port after ':'");
  std::uint64_t v = 0;
  size_t digits = 0;
  std::string_view s = p;
  if (!read_digits(s, 1'000'000, v, digits) || !s.empty() || digits == 0 || digits > 5 ||
      v > 65535) {
    return fail(error, kWantAddress, "port must be a number from 0 to 65535");
  }
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<Address> parse_address(std::string_view text, std::string* error) {
  Address a;
  if (text.empty()) return fail(error, kWantAddress, "empty");
  if (text.starts_with("unix:")) {
    a.kind = Address::Kind::kUnix;
    a.path = std::string(text.substr(5));
    if (a.path.empty() || a.path.front() != '/') {
      return fail(error, kWantAddress, "a unix socket path must be absolute");
    }
    if (a.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return fail(error, kWantAddress, "unix socket path is too long");
    }
    if (a.path.find('\0') != std::string::npos) {
      return fail(error, kWantAddress, "unix socket path contains a NUL byte");
    }
    return a;
  }
  if (auto scheme = text.find("://"); scheme != std::string_view::npos) {
    return fail(error, kWantAddress,
                "leave out the scheme '" + std::string(text.substr(0, scheme + 3)) + "'");
  }

  std::string_view host;
  std::string_view port;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail(error, kWantAddress, "missing ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return fail(error, kWantAddress, "missing ':port' after ']'");
    }
    port = rest.substr(1);
    in6_addr v6{};
    if (!host.empty() && host.find('%') == std::string_view::npos &&
        inet_pton(AF_INET6, std::string(host).c_str(), &v6) == 1) {
      a.host = std::string(host);
    } else {
      return fail(error, kWantAddress, "invalid IPv6 address inside [ ]");
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail(error, kWantAddress, "missing ':port'");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail(error, kWantAddress, "put an IPv6 address in brackets, e.g. [::1]:80");
    }
    if (host.empty())
      return fail(error, kWantAddress, "missing host; use *:port for all addresses");
    bool dotted = true;
    for (char c : host) dotted = dotted && (is_digit(c) || c == '.');
    in_addr v4{};
    if (host == "*") {
      a.host = "0.0.0.0";
    } else if (dotted) {
      if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
        return fail(error, kWantAddress, "invalid IPv4 address");
      }
      a.host = std::string(host);
    } else if (valid_hostname(host)) {
      a.host = std::string(host);
    } else {
      return fail(error, kWantAddress, "invalid host name");
    }
  }
  auto p = parse_port(port, error);
  if (!p) return std::nullopt;
  a.port = *p;
  return a;
}

std::string format_address(const Address& a) {
  if (a.kind == Address::Kind::kUnix) return "unix:" + a.path;
  std::string port = std::to_string(a.port);
  if (a.host.find(':') != std::string::npos) return "[" + a.host + "]:" + port;
  return a.host + ":" + port;
}

}  // namespace fulcrum::config
