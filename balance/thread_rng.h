// balance/thread_rng.h — the random source of random and p2c_ewma.
#pragma once

#include <cstdint>

namespace fulcrum::balance {

// xorshift64* with one state per thread: no shared cache line, no lock, and good enough for
// spreading load (it is not for secrets). Each thread seeds itself on first use from a process
// counter mixed through splitmix64, so threads get distinct streams and a single-threaded run is
// reproducible; tests pin a stream with seed().
class ThreadRng {
 public:
  static std::uint64_t next();
  // Restarts this thread's stream; 0 is allowed (it is remapped).
  static void seed(std::uint64_t seed);
};

}  // namespace fulcrum::balance
