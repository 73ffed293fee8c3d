// config/suggest.h — "did you mean" for misspelt keys, enum values and names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fulcrum::config {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions, so "wieght" is
// one edit from "weight"), ignoring ASCII case.
size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate when it is near enough to be a plausible typo: at most 1 edit for
// words of up to 3 characters, 2 for longer ones; failing that, a candidate that is a prefix
// of the word or the other way round (3 characters at least). Ties go to the earlier candidate.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates);

// "a, b, c" for messages such as "expected one of: a, b, c".
std::string join(const std::vector<std::string_view>& items);

}  // namespace fulcrum::config
