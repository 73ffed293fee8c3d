// tests/fuzz/proxy_protocol/fuzz_proxy_protocol.cc — libFuzzer target for l4/proxy_protocol.h.
//
// Besides the sanitizers, it traps when a promise of the header breaks: a consumed length
// within the input, an error text on every kInvalid, every strict prefix of a complete header
// incomplete, and addresses that survive being written as v1 and v2 and parsed again.
#include <cstddef>
#include <cstdint>
#include <span>

#include "l4/proxy_protocol.h"

namespace {

using namespace fulcrum::l4::proxy;  // NOLINT(google-build-using-namespace)

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)

void check_round_trip(const Addresses& a) {
  char buf[kMaxV1];
  for (int version = 1; version <= 2; ++version) {
    const std::size_t n = version == 1 ? write_v1(a, buf) : write_v2(a, std::span(buf, kMaxV2));
    FUZZ_CHECK(n > 0 && n <= (version == 1 ? kMaxV1 : kMaxV2));
    const ParseResult back = parse(std::span(reinterpret_cast<const std::uint8_t*>(buf), n));
    FUZZ_CHECK(back.status == Status::kDone && back.consumed == n);
    FUZZ_CHECK(back.addresses.local == a.local);
    if (a.local) continue;
    // Same-family pairs come back unchanged; mixed pairs come back IPv4-mapped.
    if (a.source.protocol() == a.destination.protocol()) {
      FUZZ_CHECK(back.addresses.source == a.source);
      FUZZ_CHECK(back.addresses.destination == a.destination);
    }
    FUZZ_CHECK(back.addresses.source.port() == a.source.port());
    FUZZ_CHECK(back.addresses.destination.port() == a.destination.port());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  const ParseResult r = parse(in);
  switch (r.status) {
    case Status::kInvalid:
      FUZZ_CHECK(r.error != nullptr);
      break;
    case Status::kIncomplete:
      FUZZ_CHECK(size < 16 + 0xffff);
      break;
    case Status::kDone: {
      FUZZ_CHECK(r.consumed > 0 && r.consumed <= size);
      // A complete header's strict prefix is incomplete: no error hides behind a later byte.
      FUZZ_CHECK(parse(in.first(r.consumed - 1)).status == Status::kIncomplete);
      const std::size_t cut = size >= 2 ? (data[size - 1] | data[size - 2] << 8) % r.consumed : 0;
      FUZZ_CHECK(parse(in.first(cut)).status == Status::kIncomplete);
      check_round_trip(r.addresses);
      break;
    }
  }
  return 0;
}

// The fuzz build's UBSan recovers by default; a finding must stop the run and keep the input.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }
