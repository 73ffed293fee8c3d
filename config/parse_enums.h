// config/parse_enums.h — the one parser each for the balancing and health-check words, shared
// by the YAML loader and the quick mode (`lbd proxy --balance maglev --hash-key header:X-User
// --health-check http:/healthz`), so a word means the same thing in both.
//
// As in units.h, parsers return std::nullopt and set `error` to a short phrase on bad input
// ("expected source, header:NAME, cookie:NAME, path or query:NAME"); callers add what was given.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace fulcrum::config {

// The YAML spellings of `balance`, in the order docs/config.md lists them. consistent_hash is
// kMaglev or kRingHash, told apart by `consistent_hash.method`.
const std::vector<std::string_view>& balance_names();
// The YAML spelling of `balance` for `v`: to_string(v), except "consistent_hash" for kMaglev
// and kRingHash.
std::string_view balance_yaml_name(BalanceAlgorithm v);
// True for the algorithms that read `hash_key`: source_hash, maglev, ring_hash.
bool uses_hash_key(BalanceAlgorithm v);

// A `balance` value or `--balance` flag: any name of balance_names() (consistent_hash means its
// default method, maglev), or the shorthands "maglev" and "ring_hash".
std::optional<BalanceAlgorithm> parse_balance(std::string_view name, std::string* error = nullptr);

// "source", "path", "header:NAME", "cookie:NAME" or "query:NAME".
std::optional<HashKey> parse_hash_key(std::string_view text, std::string* error = nullptr);
std::string format_hash_key(const HashKey& k);  // inverse of parse_hash_key

// The `--health-check` flag: "tcp", "http" (path /) or "http:/PATH"; every other setting at
// its default.
std::optional<HealthCheckConfig> parse_health_check_flag(std::string_view text,
                                                         std::string* error = nullptr);

// The YAML spellings (found by the loader's enum reader through ADL).
std::string_view to_string(ServerConfig::Admin v);
std::string_view to_string(HealthCheckConfig::Type v);
std::string_view to_string(StickyConfig::Mode v);

}  // namespace fulcrum::config
