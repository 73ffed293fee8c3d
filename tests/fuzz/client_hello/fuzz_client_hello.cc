// tests/fuzz/client_hello/fuzz_client_hello.cc — libFuzzer target for l4/client_hello.h.
//
// Besides the sanitizers, it traps when a promise of the header breaks: an error text on every
// kInvalid, a server name only on kDone and only of allowed lower-case bytes, every strict
// prefix of a complete hello incomplete, and one answer whether the hello comes in one record
// or is split into two at any point.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "l4/client_hello.h"

namespace {

using namespace fulcrum::l4;  // NOLINT(google-build-using-namespace)

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)

bool allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
         c == '*';
}

// The single first record re-framed as two records split `at` bytes into its payload.
void check_split(std::span<const std::uint8_t> in, const HelloResult& whole, std::size_t at) {
  if (in.size() < 5) return;
  const std::size_t len = static_cast<std::size_t>(in[3] << 8 | in[4]);
  // Over 2^14 the record itself is invalid; two smaller ones could be fine.
  if (len < 2 || len > (1 << 14) || in.size() < 5 + len) return;
  at = 1 + at % (len - 1);
  std::vector<std::uint8_t> two(in.begin(), in.begin() + 5 + at);
  two[3] = static_cast<std::uint8_t>(at >> 8);
  two[4] = static_cast<std::uint8_t>(at & 0xff);
  const std::size_t rest = len - at;
  two.insert(two.end(), {in[0], in[1], in[2], static_cast<std::uint8_t>(rest >> 8),
                         static_cast<std::uint8_t>(rest & 0xff)});
  two.insert(two.end(), in.begin() + 5 + at, in.begin() + 5 + len);
  const HelloResult split = peek_client_hello(two);
  // The same message bytes: where the split put the record boundary must not matter. (The
  // converse need not hold: records after the first are not copied, so `split` may be waiting.)
  if (split.status == HelloStatus::kDone) {
    FUZZ_CHECK(whole.status == HelloStatus::kDone);
    FUZZ_CHECK(split.server_name() == whole.server_name());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  const HelloResult r = peek_client_hello(in);
  FUZZ_CHECK(r.sni_len <= 255);
  if (r.status != HelloStatus::kDone) FUZZ_CHECK(r.sni_len == 0);
  if (r.status == HelloStatus::kInvalid || r.status == HelloStatus::kNotTls) {
    FUZZ_CHECK(r.error != nullptr);
  }
  if (r.status == HelloStatus::kNotTls) {
    FUZZ_CHECK(size >= 1 && (data[0] != 0x16 || (size >= 2 && data[1] != 3)));
  }
  for (std::size_t i = 0; i < r.sni_len; ++i) FUZZ_CHECK(allowed(r.sni[i]));
  if (r.status == HelloStatus::kDone) {
    // Find the shortest prefix that is complete; everything shorter must be incomplete.
    std::size_t lo = 0, hi = size;  // peek(first(hi)) is kDone
    while (lo + 1 < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (peek_client_hello(in.first(mid)).status == HelloStatus::kDone) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    const HelloResult shortest = peek_client_hello(in.first(hi));
    FUZZ_CHECK(shortest.server_name() == r.server_name());
    const std::size_t cut = size >= 2 ? (data[size - 1] | data[size - 2] << 8) % hi : 0;
    FUZZ_CHECK(peek_client_hello(in.first(cut)).status == HelloStatus::kIncomplete);
    FUZZ_CHECK(peek_client_hello(in.first(hi - 1)).status == HelloStatus::kIncomplete);
  }
  check_split(in, r, size > 8 ? data[7] | data[8] << 8 : 1);
  return 0;
}

// The fuzz build's UBSan recovers by default; a finding must stop the run and keep the input.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }
