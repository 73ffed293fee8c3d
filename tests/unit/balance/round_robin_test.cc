#include "balance/round_robin.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <thread>
#include <vector>

namespace fulcrum::balance {
namespace {

struct Fixture {
  explicit Fixture(int n) {
    for (int i = 0; i < n; ++i) {
      owned.push_back(std::make_unique<Server>());
      owned.back()->name = "s" + std::to_string(i);
      raw.push_back(owned.back().get());
    }
  }
  std::vector<std::unique_ptr<Server>> owned;
  std::vector<Server*> raw;
};

TEST(RoundRobin, CyclesInOrder) {
  Fixture f(3);
  RoundRobin rr(f.raw);
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(rr.pick({}), f.raw[i]);
  }
}

TEST(RoundRobin, SkipsServersThatAreDown) {
  Fixture f(3);
  f.raw[1]->up = false;
  RoundRobin rr(f.raw);
  std::map<const Server*, int> n;
  for (int i = 0; i < 100; ++i) ++n[rr.pick({})];
  EXPECT_EQ(n.count(f.raw[1]), 0u);
  EXPECT_EQ(n[f.raw[0]] + n[f.raw[2]], 100);
  EXPECT_NEAR(n[f.raw[0]], 50, 1);
}

TEST(RoundRobin, NullWhenAllDownOrEmpty) {
  Fixture f(2);
  for (auto* s : f.raw) s->up = false;
  RoundRobin rr(f.raw);
  EXPECT_EQ(rr.pick({}), nullptr);
  RoundRobin empty(std::span<Server* const>{});
  EXPECT_EQ(empty.pick({}), nullptr);
}

TEST(RoundRobin, RetryAvoidsThePreviousPick) {
  Fixture f(2);
  RoundRobin rr(f.raw);
  for (int i = 0; i < 10; ++i) {
    const Server* first = rr.pick({});
    const Server* second = rr.pick({1, first});
    EXPECT_NE(first, second);
  }
  Fixture one(1);
  RoundRobin single(one.raw);
  EXPECT_EQ(single.pick({1, one.raw[0]}), nullptr);  // nothing else to try
}

TEST(RoundRobin, ExactShareAcrossThreads) {
  Fixture f(4);
  RoundRobin rr(f.raw);
  constexpr int kThreads = 4, kPicks = 10000;
  std::vector<std::map<const Server*, int>> counts(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPicks; ++i) ++counts[t][rr.pick({})];
    });
  }
  for (auto& t : threads) t.join();
  std::map<const Server*, int> total;
  for (auto& c : counts) {
    for (auto& [s, n] : c) total[s] += n;
  }
  for (auto* s : f.raw) EXPECT_EQ(total[s], kThreads * kPicks / 4);
}

}  // namespace
}  // namespace fulcrum::balance
