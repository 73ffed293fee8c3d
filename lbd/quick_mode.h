// lbd/quick_mode.h — `lbd proxy ...`: a whole config from a few flags.
//
// The flags fill the same config::Config structs the YAML loader fills and pass the same
// validation, so the quick mode is not a second code path; `--print-config` shows the YAML.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/loader.h"

namespace fulcrum::lbd {

struct QuickMode {
  config::Config config;
  bool print_config = false;
};

// Parses the arguments after "proxy". On failure returns nullopt and fills `errors` with one
// message per problem (each naming the flag).
std::optional<QuickMode> parse_quick_mode(const std::vector<std::string>& args,
                                          std::vector<std::string>& errors);

extern const char* const kQuickModeUsage;

}  // namespace fulcrum::lbd
