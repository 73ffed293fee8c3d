// config/text.h — small text helpers shared by the loader, validate() and to_yaml().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fulcrum::config {

// `s` in quotes for a message, with control bytes escaped and long text shortened, so a
// stray binary value cannot garble a terminal or flood a log line.
std::string quote(std::string_view s, char q = '"');

// Plain decimal digits only (no sign, spaces or 0x), at most `max`.
std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t max);

// The shortest decimal text that reads back as exactly `v` ("1.25", "2").
std::string format_number(double v);

// `s` as a YAML scalar that reads back as the same string: plain when that is unambiguous,
// else double-quoted.
std::string yaml_scalar(std::string_view s);

// An HTTP token (RFC 9110 §5.6.2): what header field names and methods are made of.
bool is_token(std::string_view s);

// True when `s` holds an ASCII control byte (CR, LF, NUL, ...); tab is allowed when `tab`.
bool has_control(std::string_view s, bool tab = false);

// An IPv4 or IPv6 address, optionally with a /prefix length: 10.0.0.0/8, ::1, fd00::/8.
bool is_address_or_cidr(std::string_view s);

// The key path of a mapping entry: `parent.key`, or `parent["key"]` when the key holds
// anything but letters, digits, '-' and '_' (so the path stays readable and unambiguous).
std::string entry_path(std::string_view parent, std::string_view key);

}  // namespace fulcrum::config
