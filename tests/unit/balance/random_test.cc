#include "balance/random.h"

#include <gtest/gtest.h>

#include <thread>

#include "balance/p2c_ewma.h"
#include "balance/thread_rng.h"
#include "tests/unit/balance/servers.h"

namespace fulcrum::balance {
namespace {

using testing::count_picks;
using testing::Servers;

constexpr int kPicks = 100000;

// Shares within 1 percentage point of the weights: the binomial standard deviation at 100k
// picks is ~0.15 points, so this fails only on a real bias.
void expect_shares(const std::vector<int>& n, const std::vector<double>& want, int total) {
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(static_cast<double>(n[i]) / total, want[i], 0.01) << "server " << i;
  }
}

TEST(Random, SharesFollowWeights) {
  ThreadRng::seed(1);
  Servers s({1, 2, 3, 4});
  Random b(s.raw);
  const auto n = count_picks(b, s, kPicks);
  EXPECT_EQ(n[4], 0);
  expect_shares(n, {0.1, 0.2, 0.3, 0.4}, kPicks);
}

TEST(Random, ShareOfAServerThatIsOutGoesByWeight) {
  ThreadRng::seed(2);
  Servers s({4, 1, 2, 3});
  s[0].up = false;
  Random b(s.raw);
  const auto n = count_picks(b, s, kPicks);
  EXPECT_EQ(n[0], 0);
  EXPECT_EQ(n[4], 0);
  expect_shares(n, {0, 1.0 / 6, 2.0 / 6, 3.0 / 6}, kPicks);
}

TEST(Random, AvoidAndAllOut) {
  ThreadRng::seed(3);
  Servers s(2);
  Random b(s.raw);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.pick({1, s.raw[0]}), s.raw[1]);
  s[1].up = false;
  EXPECT_EQ(b.pick({1, s.raw[0]}), nullptr);
}

TEST(Random, FourThreadsKeepTheWeights) {
  Servers s({1, 3});
  Random b(s.raw);
  std::vector<std::vector<int>> counts(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ThreadRng::seed(100 + t);
      counts[t] = count_picks(b, s, kPicks / 4);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> total(3, 0);
  for (auto& c : counts) {
    for (std::size_t i = 0; i < c.size(); ++i) total[i] += c[i];
  }
  expect_shares(total, {0.25, 0.75}, kPicks);
}

TEST(P2cEwma, RecordLatencyIsAnEighthPerSample) {
  Server s;
  Server::record_latency(s, 1000);
  EXPECT_EQ(s.ewma_ns.load(), 1000u);  // the first sample seeds it
  Server::record_latency(s, 1800);
  EXPECT_EQ(s.ewma_ns.load(), 1100u);
  Server::record_latency(s, 300);
  EXPECT_EQ(s.ewma_ns.load(), 1000u);
  for (int i = 0; i < 100; ++i) Server::record_latency(s, 5000);
  EXPECT_NEAR(static_cast<double>(s.ewma_ns.load()), 5000, 10);
}

TEST(P2cEwma, LowerLatencyTimesLoadWinsAndTheLoserDecays) {
  ThreadRng::seed(4);
  Servers s(2);
  s[0].ewma_ns = 1000;
  s[1].ewma_ns = 2000;
  P2cEwma b(s.raw);
  EXPECT_EQ(b.pick({}), s.raw[0]);
  EXPECT_EQ(s[1].ewma_ns.load(), 2000u - 2000u / 128);
  // Load counts too: 1000 * (3 + 1) > 1985 * (0 + 1).
  s[0].active = 3;
  EXPECT_EQ(b.pick({}), s.raw[1]);
  // And weight (s0 decayed to 993 as the loser): 993 * (3 + 1) / 4 < 1985.
  s[0].weight = 4;
  EXPECT_EQ(b.pick({}), s.raw[0]);
}

TEST(P2cEwma, UnmeasuredServersAreTriedWhenIdleAndSparedWhenBusy) {
  ThreadRng::seed(5);
  Servers s(2);
  s[0].ewma_ns = 1000;
  P2cEwma b(s.raw);
  EXPECT_EQ(b.pick({}), s.raw[1]);  // never measured, idle: try it
  s[1].active = 1;
  EXPECT_EQ(b.pick({}), s.raw[0]);  // never measured, busy: do not pile on
}

// A simulated backend where s2 is ten times slower: the engine records each pick's latency.
// The slow server keeps a small share (it is re-probed as its ewma decays), the fast ones
// split the rest evenly.
TEST(P2cEwma, ShiftsLoadAwayFromASlowServer) {
  ThreadRng::seed(6);
  Servers s(3);
  const std::uint64_t latency[] = {1'000'000, 1'000'000, 10'000'000};
  P2cEwma b(s.raw);
  std::vector<int> n(4, 0);
  for (int i = 0; i < 30000; ++i) {
    const Server* p = b.pick({});
    const std::size_t k = s.index_of(p);
    ++n[k];
    if (p != nullptr) Server::record_latency(*p, latency[k]);
  }
  EXPECT_EQ(n[3], 0);
  EXPECT_GT(n[2], 0) << "the slow server is still probed";
  EXPECT_LT(n[2], 30000 * 5 / 100);
  EXPECT_NEAR(static_cast<double>(n[0]) / n[1], 1.0, 0.1);
}

TEST(P2cEwma, EligibilityEdges) {
  ThreadRng::seed(7);
  Servers one(1);
  P2cEwma b1(one.raw);
  EXPECT_EQ(b1.pick({}), one.raw[0]);
  EXPECT_EQ(b1.pick({1, one.raw[0]}), nullptr);

  Servers s(10);
  for (int i = 0; i < 9; ++i) s[static_cast<std::size_t>(i)].up = false;  // forces the slow path
  P2cEwma b(s.raw);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.pick({}), s.raw[9]);
  s[8].up = true;
  const auto n = count_picks(b, s, 1000);
  EXPECT_EQ(n[8] + n[9], 1000);
  EXPECT_GT(n[8], 0);
  EXPECT_GT(n[9], 0);
}

TEST(P2cEwma, FourThreadsWithLatencyAndLoadUpdates) {
  Servers s(8);
  P2cEwma b(s.raw);
  std::atomic<int> nulls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ThreadRng::seed(200 + t);
      for (int i = 0; i < 20000; ++i) {
        const Server* p = b.pick({});
        if (p == nullptr) {
          ++nulls;
          continue;
        }
        p->active.fetch_add(1, std::memory_order_relaxed);
        Server::record_latency(*p, 1000 + 100 * s.index_of(p));
        p->active.fetch_sub(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(nulls.load(), 0);
  for (auto* x : s.raw) EXPECT_EQ(x->active.load(), 0u);
}

}  // namespace
}  // namespace fulcrum::balance
