// Properties every algorithm must keep, through the make_balancer factory: servers that are
// down, drained or disabled are never picked; backups only when no primary is usable; no pick
// fails while a usable server exists; concurrent picks from four threads stay valid.
#include "balance/tiered.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "balance/round_robin.h"
#include "tests/unit/balance/servers.h"

namespace fulcrum::balance {
namespace {

using testing::keyed;
using testing::Servers;

struct Variant {
  Algorithm algorithm;
  BalancerOptions options;
  std::string name;
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (int a = 0; a <= static_cast<int>(Algorithm::kFirst); ++a) {
    const auto algorithm = static_cast<Algorithm>(a);
    v.push_back({algorithm, {}, std::string(algorithm_name(algorithm))});
  }
  BalancerOptions ring;
  ring.hash_kind = ConsistentHashKind::kRingHash;
  v.push_back({Algorithm::kConsistentHash, ring, "consistent_hash/ring_hash"});
  BalancerOptions capped;
  capped.max_connections = 2;
  v.push_back({Algorithm::kFirst, capped, "first/max_connections"});
  return v;
}

class EveryAlgorithm : public ::testing::TestWithParam<Variant> {};

// 6 primaries (weights 1..3) and 3 backups.
struct Backend {
  Backend() : s({1, 2, 3, 1, 2, 3, 1, 1, 2}) {
    for (std::size_t i = 6; i < 9; ++i) s[i].backup = true;
  }
  bool is_backup(std::size_t i) const { return i >= 6; }
  Servers s;
};

TEST_P(EveryAlgorithm, NeverPicksServersThatAreOutAndBackupsOnlyWithoutPrimaries) {
  Backend be;
  Servers& s = be.s;
  auto b = make_balancer(GetParam().algorithm, s.raw, GetParam().options);
  ASSERT_NE(b, nullptr);
  std::mt19937 rng(7);
  for (int round = 0; round < 60; ++round) {
    // Random health and admin state; every third round all primaries are out.
    bool primary_usable = false, backup_usable = false;
    for (std::size_t i = 0; i < s.raw.size(); ++i) {
      const unsigned r = rng() % 6;
      s[i].up = r != 0;
      testing::set_admin(s[i], r == 1   ? AdminState::kDrain
                               : r == 2 ? AdminState::kDisabled
                                        : AdminState::kEnabled);
      if (round % 3 == 2 && !be.is_backup(i)) s[i].up = false;
      const bool ok = usable(s[i]);
      (be.is_backup(i) ? backup_usable : primary_usable) |= ok;
    }
    for (int k = 0; k < 300; ++k) {
      const Server* p = b->pick(k % 2 == 0 ? keyed(static_cast<std::uint64_t>(k)) : PickContext{});
      if (!primary_usable && !backup_usable) {
        ASSERT_EQ(p, nullptr);
        continue;
      }
      ASSERT_NE(p, nullptr) << "round " << round;
      ASSERT_TRUE(usable(*p)) << p->name << " is out";
      ASSERT_EQ(p->backup, !primary_usable) << p->name << " in round " << round;
      p->active.fetch_add(1);  // gives least_connections, ring_hash and first some load
      Server::record_latency(*p, 1000 + 10 * s.index_of(p));
    }
    for (auto* x : s.raw) x->active = 0;
  }
}

TEST_P(EveryAlgorithm, RetryOnTheOnlyUsablePrimaryDoesNotFailOverToBackups) {
  Backend be;
  auto b = make_balancer(GetParam().algorithm, be.s.raw, GetParam().options);
  for (std::size_t i = 1; i < 6; ++i) be.s[i].up = false;
  EXPECT_EQ(b->pick({}), be.s.raw[0]);
  EXPECT_EQ(b->pick({1, be.s.raw[0]}), nullptr);
  be.s[0].up = false;
  const Server* p = b->pick({});
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->backup);
}

TEST_P(EveryAlgorithm, EmptyAndOnlyBackups) {
  auto empty = make_balancer(GetParam().algorithm, {}, GetParam().options);
  EXPECT_EQ(empty->pick({}), nullptr);
  Servers s(2);
  s[0].backup = s[1].backup = true;  // nothing to prefer them over: they serve
  auto b = make_balancer(GetParam().algorithm, s.raw, GetParam().options);
  EXPECT_NE(b->pick({}), nullptr);
}

// A control thread flips health and admin state of all but one server while four workers pick
// and update load and latency. Picks must never fail (s0 stays usable) and, under TSan, nothing
// may race.
TEST_P(EveryAlgorithm, FourWorkersAndAControlThread) {
  Servers s({1, 2, 3, 4, 5, 6, 7, 8});
  s[7].backup = true;
  auto b = make_balancer(GetParam().algorithm, s.raw, GetParam().options);
  std::atomic<bool> stop{false};
  std::thread control([&] {
    std::mt19937 rng(13);
    while (!stop.load()) {
      const std::size_t i = 1 + rng() % 7;
      s[i].up = rng() % 2 == 0;
      testing::set_admin(s[i], static_cast<AdminState>(rng() % 3));
      std::this_thread::yield();
    }
  });
  std::atomic<int> nulls{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const Server* p =
            b->pick(i % 2 == 0 ? keyed(static_cast<std::uint64_t>(i * 4 + t)) : PickContext{});
        if (p == nullptr) {
          ++nulls;
          continue;
        }
        p->active.fetch_add(1, std::memory_order_relaxed);
        Server::record_latency(*p, 1000);
        p->active.fetch_sub(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  control.join();
  EXPECT_EQ(nulls.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Balance, EveryAlgorithm, ::testing::ValuesIn(variants()),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (c == '/') c = '_';
                           }
                           return n;
                         });

TEST(Algorithm, NamesRoundTrip) {
  for (int a = 0; a <= static_cast<int>(Algorithm::kFirst); ++a) {
    const auto algorithm = static_cast<Algorithm>(a);
    EXPECT_EQ(parse_algorithm(algorithm_name(algorithm)), algorithm);
  }
  EXPECT_EQ(parse_algorithm("least_connections"), Algorithm::kLeastConnections);
  EXPECT_EQ(parse_algorithm("leastconn"), std::nullopt);
}

TEST(Algorithm, MakeRoundRobinKeepsItsOrderAndAddsBackups) {
  Servers s(4);
  s[3].backup = true;
  auto b = make_round_robin(s.raw);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(b->pick({}), s.raw[static_cast<std::size_t>(i % 3)]);
  for (std::size_t i = 0; i < 3; ++i) s[i].up = false;
  EXPECT_EQ(b->pick({}), s.raw[3]);
}

}  // namespace
}  // namespace fulcrum::balance
