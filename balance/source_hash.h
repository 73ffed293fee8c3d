// balance/source_hash.h — the same client address goes to the same server.
#pragma once

#include "balance/maglev.h"

namespace fulcrum::balance {

// The caller puts the client address in the PickContext (hash = hash_of(address), or its raw
// bytes in hash_key). The mapping is a Maglev table, not hash modulo the usable servers: with a
// modulo, one server going down or coming back renumbers the servers and moves almost every
// client (their sessions, their caches); with Maglev only the failed server's clients move, they
// move back when it returns, and weights are honoured. The cost is the table (256 KiB at the
// default size) and one more memory access per pick. Requests without an address (both fields
// empty, e.g. a unix-socket listener) get round robin.
class SourceHash final : public Balancer {
 public:
  explicit SourceHash(std::span<Server* const> servers,
                      std::uint32_t table_size = Maglev::kDefaultTableSize)
      : maglev_(servers, table_size) {}
  const Server* pick(const PickContext& ctx) override { return maglev_.pick(ctx); }

 private:
  Maglev maglev_;
};

}  // namespace fulcrum::balance
