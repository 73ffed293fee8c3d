#include "balance/weighted_round_robin.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>

#include "tests/unit/balance/servers.h"

namespace fulcrum::balance {
namespace {

using testing::count_picks;
using testing::Servers;

std::string letters(WeightedRoundRobin& b, const Servers& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>('a' + s.index_of(b.pick({})));
  return out;
}

TEST(WeightedRoundRobin, ClassicSmoothSequence) {
  Servers s({5, 1, 1});
  WeightedRoundRobin b(s.raw);
  EXPECT_EQ(letters(b, s, 21),
            "aabacaa"
            "aabacaa"
            "aabacaa");
}

// The heavy server never gets a burst: in every window of k consecutive picks (cyclically, so
// windows across the cycle boundary count too), server i gets at most ceil(k * w_i / W) + 1.
void expect_smooth(const std::vector<std::uint32_t>& weights) {
  Servers s(weights);
  WeightedRoundRobin b(s.raw);
  const auto cycle = b.cycle();
  const std::size_t len = cycle.size();
  std::uint64_t total = 0;
  for (auto w : weights) total += w;
  ASSERT_EQ(total % len, 0u) << "cycle is sum(weights) reduced by their gcd";
  const std::uint64_t g = total / len;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const std::uint64_t w = weights[i] / g;
    // prefix[j] = picks of server i among the first j entries of two cycles back to back.
    std::vector<std::uint32_t> prefix(2 * len + 1, 0);
    for (std::size_t j = 0; j < 2 * len; ++j) {
      prefix[j + 1] = prefix[j] + (cycle[j % len] == s.raw[i] ? 1 : 0);
    }
    ASSERT_EQ(prefix[len], w) << "server " << i << " share over one cycle";
    for (std::size_t k = 1; k <= len; ++k) {
      const std::uint64_t bound = (k * w + len - 1) / len + 1;
      for (std::size_t start = 0; start < len; ++start) {
        ASSERT_LE(prefix[start + k] - prefix[start], bound)
            << "server " << i << " window " << k << " at " << start;
      }
    }
  }
}

TEST(WeightedRoundRobin, NoBurstInAnyWindow) {
  expect_smooth({5, 1, 1});
  expect_smooth({10, 3, 2, 1});
  expect_smooth({100, 1});
  expect_smooth({256, 255, 1, 7});
  std::mt19937 rng(42);
  std::vector<std::uint32_t> w(20);
  for (auto& x : w) x = std::uniform_int_distribution<std::uint32_t>(1, 10)(rng);
  expect_smooth(w);
}

TEST(WeightedRoundRobin, ExactSharesAndGcdReduction) {
  Servers s({20, 10, 30});
  WeightedRoundRobin b(s.raw);
  EXPECT_EQ(b.cycle().size(), 6u);  // 2, 1, 3
  const auto n = count_picks(b, s, 600);
  EXPECT_EQ(n[0], 200);
  EXPECT_EQ(n[1], 100);
  EXPECT_EQ(n[2], 300);
}

TEST(WeightedRoundRobin, HugeWeightSumsUseABoundedTableWithNearRatios) {
  std::vector<std::uint32_t> weights(600);
  for (std::size_t i = 0; i < weights.size(); ++i)
    weights[i] = static_cast<std::uint32_t>(i % 256 + 1);
  Servers s(weights);
  ASSERT_GT(s.total_weight(), WeightedRoundRobin::kMaxTable);
  WeightedRoundRobin b(s.raw);
  const std::size_t len = b.cycle().size();
  EXPECT_LE(len, WeightedRoundRobin::kMaxTable + weights.size());
  std::vector<int> n(weights.size(), 0);
  for (const Server* x : b.cycle()) ++n[s.index_of(x)];
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double expected = static_cast<double>(len) * weights[i] / s.total_weight();
    // Scaling floors each weight: off by under one entry, plus the ~1% the minimum of 1 costs.
    EXPECT_NEAR(n[i], expected, 1.0 + 0.02 * expected) << "server " << i;
  }
}

TEST(WeightedRoundRobin, TurnsOfAServerThatIsOutGoByWeight) {
  Servers s({5, 1, 1});
  WeightedRoundRobin b(s.raw);
  s[2].up = false;
  auto n = count_picks(b, s, 70000);
  EXPECT_EQ(n[2], 0);
  EXPECT_EQ(n[3], 0) << "no null picks";
  EXPECT_NEAR(static_cast<double>(n[0]) / n[1], 5.0, 0.05);  // not 6:1 as next-in-cycle gives

  s[2].up = true;
  s[0].up = false;  // the heavy one: its turns split evenly, not all to b (next in the cycle)
  n = count_picks(b, s, 70000);
  EXPECT_EQ(n[0], 0);
  EXPECT_NEAR(static_cast<double>(n[1]) / n[2], 1.0, 0.02);
}

TEST(WeightedRoundRobin, RetryAvoidsThePreviousPick) {
  Servers s({3, 1});
  WeightedRoundRobin b(s.raw);
  for (int i = 0; i < 100; ++i) {
    const Server* first = b.pick({});
    PickContext retry{1, first};
    EXPECT_NE(b.pick(retry), first);
  }
}

TEST(WeightedRoundRobin, EmptyAndAllDown) {
  WeightedRoundRobin empty(std::span<Server* const>{});
  EXPECT_EQ(empty.pick({}), nullptr);
  Servers s({2, 1});
  WeightedRoundRobin b(s.raw);
  s[0].up = false;
  testing::set_admin(s[1], AdminState::kDrain);
  EXPECT_EQ(b.pick({}), nullptr);
}

TEST(WeightedRoundRobin, ExactSharesAcrossFourThreads) {
  Servers s({5, 1, 1});
  WeightedRoundRobin b(s.raw);
  constexpr int kThreads = 4, kPicks = 7000;
  std::vector<std::vector<int>> counts(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { counts[t] = count_picks(b, s, kPicks); });
  }
  for (auto& t : threads) t.join();
  std::vector<int> total(4, 0);
  for (auto& c : counts) {
    for (std::size_t i = 0; i < c.size(); ++i) total[i] += c[i];
  }
  // Every pick takes its own turn of the shared counter, so whole cycles are exact.
  EXPECT_EQ(total[0], kThreads * kPicks / 7 * 5);
  EXPECT_EQ(total[1], kThreads * kPicks / 7);
  EXPECT_EQ(total[2], kThreads * kPicks / 7);
}

}  // namespace
}  // namespace fulcrum::balance
