// Slow start (the weight ramp after recovery) and max_connections (full servers are passed over,
// try_acquire never lets `active` pass the limit).
#include "balance/slow_start.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "balance/round_robin.h"
#include "balance/thread_rng.h"
#include "tests/unit/balance/servers.h"

namespace fulcrum::balance {
namespace {

using testing::count_picks;
using testing::Servers;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Starts `s`'s ramp so that `fraction` of a very long slow_start has passed: the share does not
// move measurably while the test runs.
void ramp(Server& s, double fraction) {
  s.slow_start = std::chrono::hours(1000);
  s.ramp_since_ns = now_ns() - static_cast<std::int64_t>(fraction * s.slow_start.count());
}

TEST(SlowStart, ShareGrowsLinearlyThenIsFull) {
  Server s;
  EXPECT_EQ(SlowStart::share(s, now_ns()), 1u << 16);  // no ramp
  s.slow_start = std::chrono::seconds(10);
  const std::int64_t t0 = 1'000'000'000'000;
  s.ramp_since_ns = t0;
  EXPECT_EQ(SlowStart::share(s, t0), 0u);
  EXPECT_EQ(SlowStart::share(s, t0 + 2'500'000'000), 1u << 14);
  EXPECT_EQ(SlowStart::share(s, t0 + 5'000'000'000), 1u << 15);
  EXPECT_EQ(SlowStart::share(s, t0 + 10'000'000'000), 1u << 16);
  EXPECT_EQ(SlowStart::share(s, t0 + 99'000'000'000), 1u << 16);
}

TEST(SlowStart, RampingServerGetsItsShareOfRoundRobin) {
  ThreadRng::seed(7);
  Servers s(4);
  ramp(s[0], 0.25);
  auto b = make_balancer(Algorithm::kRoundRobin, s.raw);
  const int n = 200'000;
  const auto c = count_picks(*b, s, n);
  // As if its weight were 1/4 of the others': 0.25 / 3.25 of the picks (a rejected pick takes
  // one more turn of the rotation, which is what makes round robin match a weight exactly).
  const double expect = n * 0.25 / 3.25;
  EXPECT_NEAR(c[0], expect, expect * 0.05);
  for (int i = 1; i < 4; ++i) {
    EXPECT_NEAR(c[static_cast<std::size_t>(i)], (n - expect) / 3, n * 0.01);
  }
  EXPECT_EQ(c[4], 0);
}

TEST(SlowStart, LeastConnectionsDoesNotFloodARecoveredServer) {
  ThreadRng::seed(11);
  Servers s(3);
  // The recovered server has nothing in flight; the others are busy. Without slow start every
  // request would go to it until it catches up.
  s[1].active = 50;
  s[2].active = 50;
  ramp(s[0], 0.1);
  auto b = make_balancer(Algorithm::kLeastConnections, s.raw);
  const int n = 100'000;
  const auto c = count_picks(*b, s, n);
  EXPECT_NEAR(c[0], n / 10, n / 10 * 0.05);
  EXPECT_EQ(c[0] + c[1] + c[2], n);
}

TEST(SlowStart, AloneItStillServes) {
  Servers s(2);
  s[1].up = false;
  ramp(s[0], 0.0);
  auto b = make_balancer(Algorithm::kRoundRobin, s.raw);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b->pick({}), s.raw[0]);
}

TEST(SlowStart, AFinishedRampIsClearedByThePick) {
  Servers s(2);
  s[0].slow_start = std::chrono::milliseconds(1);
  s[0].ramp_since_ns = now_ns() - 1'000'000'000;  // a second ago: long over
  auto b = make_balancer(Algorithm::kRoundRobin, s.raw);
  for (int i = 0; i < 4; ++i) b->pick({});
  EXPECT_EQ(s[0].ramp_since_ns.load(), 0);
}

TEST(SlowStart, HashingKeepsKeysOnARampingServer) {
  Servers s(3);
  ramp(s[0], 0.0);  // a share of 0: any spreading balancer would send it nothing
  auto b = make_balancer(Algorithm::kConsistentHash, s.raw);
  int on_s0 = 0;
  for (std::uint64_t k = 0; k < 3000; ++k) on_s0 += b->pick(testing::keyed(k)) == s.raw[0];
  EXPECT_GT(on_s0, 700);  // ~1/3 of the keys stay where they belong
}

TEST(MaxConnections, FullServersArePassedOver) {
  Servers s(3);
  s[1].max_connections = 2;
  s[1].active = 2;
  RoundRobin rr(s.raw);
  const auto c = count_picks(rr, s, 300);
  EXPECT_EQ(c[1], 0);
  EXPECT_EQ(c[0], 150);
  EXPECT_EQ(c[2], 150);
  s[0].max_connections = s[2].max_connections = 1;
  s[0].active = s[2].active = 1;
  EXPECT_EQ(rr.pick({}), nullptr);  // every server full: the engine queues
  s[1].active = 1;
  EXPECT_EQ(rr.pick({}), s.raw[1]);
}

TEST(MaxConnections, TryAcquireNeverPassesTheLimit) {
  Server s;
  s.max_connections = 3;
  std::atomic<std::uint32_t> highest{0};
  std::atomic<std::uint64_t> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50'000; ++i) {
        if (!try_acquire(s)) continue;
        taken.fetch_add(1);
        const std::uint32_t a = s.active.load();
        std::uint32_t h = highest.load();
        while (a > h && !highest.compare_exchange_weak(h, a)) {
        }
        release(s);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(highest.load(), 3u);
  EXPECT_GT(taken.load(), 0u);
  EXPECT_EQ(s.active.load(), 0u);
  s.active = 3;
  EXPECT_FALSE(try_acquire(s));
  EXPECT_EQ(s.active.load(), 3u);
  s.max_connections = 0;
  EXPECT_TRUE(try_acquire(s));  // no limit: always
  EXPECT_EQ(s.active.load(), 4u);
}

}  // namespace
}  // namespace fulcrum::balance
