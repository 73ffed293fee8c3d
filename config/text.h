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

// `s` as a YAML scalar that reads back as the same string: plain when that is unambiguous,
// else double-quoted.
std::string yaml_scalar(std::string_view s);

}  // namespace fulcrum::config
