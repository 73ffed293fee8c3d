#include "config/suggest.h"

#include <algorithm>
#include <cctype>

namespace fulcrum::config {

size_t edit_distance(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  const size_t n = a.size();
  const size_t m = b.size();
  // Three rolling rows are enough for the transposition case, which looks two rows back.
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates) {
  const size_t limit = word.size() <= 3 ? 1 : 2;
  std::optional<std::string> best;
  size_t best_distance = limit + 1;
  for (std::string_view c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(c);
    }
  }
  if (best) return best;
  // A longer or shorter spelling of a value ("warning" for warn, "round" for round_robin) is
  // a common slip that edit distance alone misses.
  for (std::string_view c : candidates) {
    std::string_view shorter = word.size() < c.size() ? word : c;
    std::string_view longer = word.size() < c.size() ? c : word;
    if (shorter.size() >= 3 && edit_distance(longer.substr(0, shorter.size()), shorter) == 0) {
      return std::string(c);
    }
  }
  return std::nullopt;
}

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

}  // namespace fulcrum::config
