#include "balance/least_connections.h"

#include <gtest/gtest.h>

#include <thread>

#include "balance/first.h"
#include "tests/unit/balance/servers.h"

namespace fulcrum::balance {
namespace {

using testing::count_picks;
using testing::Servers;

TEST(LeastConnections, PicksTheLowestActivePerWeight) {
  Servers s({1, 1, 1});
  s[0].active = 5;
  s[1].active = 2;
  s[2].active = 9;
  LeastConnections b(s.raw);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.pick({}), s.raw[1]);

  Servers w({4, 1});
  w[0].active = 4;  // 4 / 4 = 1
  w[1].active = 2;  // 2 / 1 = 2
  LeastConnections bw(w.raw);
  EXPECT_EQ(bw.pick({}), w.raw[0]);
}

TEST(LeastConnections, TiesTakeTurns) {
  Servers s(3);
  LeastConnections b(s.raw);
  const auto n = count_picks(b, s, 300);  // nothing in flight: all tied every time
  EXPECT_EQ(n[0], 100);
  EXPECT_EQ(n[1], 100);
  EXPECT_EQ(n[2], 100);
}

// Requests that stay in flight: the active counts settle on the weights. Greedy least-ratio
// keeps every server within one request of its exact share (within w/2 below it).
TEST(LeastConnections, ActiveCountsFollowWeights) {
  Servers s({1, 2, 3});
  LeastConnections b(s.raw);
  for (int i = 0; i < 600; ++i) {
    const Server* p = b.pick({});
    ASSERT_NE(p, nullptr);
    p->active.fetch_add(1);
    for (std::size_t k = 0; k < 3; ++k) {
      // After every pick: (active_k - 1) / w_k <= active_j / w_j for all j.
      for (std::size_t j = 0; j < 3; ++j) {
        const std::uint64_t ak = s[k].active, aj = s[j].active;
        if (ak > 0) {
          EXPECT_LE((ak - 1) * s[j].weight, aj * s[k].weight);
        }
      }
    }
  }
  EXPECT_NEAR(s[0].active.load(), 100, 1);
  EXPECT_NEAR(s[1].active.load(), 200, 2);
  EXPECT_NEAR(s[2].active.load(), 300, 3);
}

TEST(LeastConnections, SkipsServersThatAreOutAndTheAvoided) {
  Servers s(4);
  s[0].up = false;
  testing::set_admin(s[1], AdminState::kDrain);
  testing::set_admin(s[2], AdminState::kDisabled);
  LeastConnections b(s.raw);
  s[3].active = 100;  // busiest, but the only one usable
  EXPECT_EQ(b.pick({}), s.raw[3]);
  EXPECT_EQ(b.pick({1, s.raw[3]}), nullptr);
}

TEST(LeastConnections, FourThreadsWithInFlightRequests) {
  Servers s({1, 2, 3, 4});
  LeastConnections b(s.raw);
  std::vector<std::thread> threads;
  std::atomic<int> nulls{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<const Server*> held;
      for (int i = 0; i < 20000; ++i) {
        const Server* p = b.pick({});
        if (p == nullptr) {
          ++nulls;
          continue;
        }
        p->active.fetch_add(1, std::memory_order_relaxed);
        held.push_back(p);
        if (held.size() > 10) {  // keep ~10 in flight per thread
          held.front()->active.fetch_sub(1, std::memory_order_relaxed);
          held.erase(held.begin());
        }
      }
      for (const Server* p : held) p->active.fetch_sub(1, std::memory_order_relaxed);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(nulls.load(), 0);
  for (auto* x : s.raw) EXPECT_EQ(x->active.load(), 0u);
}

TEST(First, FirstUsableInOrder) {
  Servers s(3);
  First b(s.raw, 0);
  EXPECT_EQ(b.pick({}), s.raw[0]);
  s[0].active = 1000;  // no max_connections: load does not matter
  EXPECT_EQ(b.pick({}), s.raw[0]);
  s[0].up = false;
  EXPECT_EQ(b.pick({}), s.raw[1]);
  testing::set_admin(s[1], AdminState::kDrain);
  EXPECT_EQ(b.pick({}), s.raw[2]);
  EXPECT_EQ(b.pick({1, s.raw[2]}), nullptr);
}

TEST(First, FillsServersUpToMaxConnections) {
  Servers s(3);
  First b(s.raw, 2);
  std::vector<std::size_t> order;
  for (int i = 0; i < 6; ++i) {
    const Server* p = b.pick({});
    order.push_back(s.index_of(p));
    p->active.fetch_add(1);
  }
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 0, 1, 1, 2, 2}));
  // All full: the least loaded takes the overflow, not always server 0.
  s[1].active = 3;
  s[0].active = 4;
  EXPECT_EQ(b.pick({}), s.raw[2]);
  // A slot frees on server 0: back to filling in order.
  s[0].active = 1;
  EXPECT_EQ(b.pick({}), s.raw[0]);
}

TEST(First, PerServerLimitsOverrideTheDefault) {
  Servers s(3);
  s[0].max_connections = 1;
  s[0].active = 1;
  First unlimited(s.raw, 0);
  EXPECT_EQ(unlimited.pick({}), s.raw[1]);  // s0 is full by its own limit
  s[1].active = 5;
  First capped(s.raw, 5);
  EXPECT_EQ(capped.pick({}), s.raw[2]);  // s1 full by the default
  s[1].max_connections = 10;
  EXPECT_EQ(capped.pick({}), s.raw[1]);  // its own, higher limit
}

}  // namespace
}  // namespace fulcrum::balance
