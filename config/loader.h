// config/loader.h — YAML text -> validated Config, with every error located.
//
// The loader reports all errors it can find in one pass (not just the first), each naming
// file:line:column, the key path (e.g. `backends[1].servers[0].address`) and what was
// expected. Unknown keys are errors with a "did you mean" suggestion for near misses.
// A Config is returned only when there are no errors, so callers never see half-valid data.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace fulcrum::config {

struct ConfigError {
  Mark mark;         // position of the offending node (file may be empty for quick mode)
  std::string path;  // key path, e.g. "listeners[0].address"; empty for document-level errors
  std::string message;
  // "file:line:col: path: message" (the parts that are known).
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<ConfigError> errors;
};

LoadResult load_file(const std::string& path);
// `name` is used as the file name in marks and messages.
LoadResult load_string(std::string_view yaml, const std::string& name);

// Cross-field validation shared by the loader and the quick mode (backend references,
// unique names, at least one listener, ...). Appends to `errors`.
void validate(const Config& config, std::vector<ConfigError>& errors);

// The YAML a user would write to get `config` (used by `lbd proxy --print-config`).
// load_string(to_yaml(c)) yields a Config equal to c (marks aside).
std::string to_yaml(const Config& config);

}  // namespace fulcrum::config
