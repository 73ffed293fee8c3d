// The learned-affinity table of sticky `mode: learn`.
#include "balance/sticky_table.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {
namespace {

std::uint64_t key(int i) { return hash_of("session-" + std::to_string(i)); }

TEST(StickyTable, LearnsFindsAndMovesKeys) {
  StickyTable t(1024, 60);
  EXPECT_FALSE(t.find(key(1), 100));
  t.learn(key(1), 7, 100);
  t.learn(key(2), 9, 100);
  EXPECT_EQ(t.find(key(1), 101), 7u);
  EXPECT_EQ(t.find(key(2), 101), 9u);
  t.learn(key(1), 3, 102);  // another server answered the session: it moves
  EXPECT_EQ(t.find(key(1), 102), 3u);
  EXPECT_EQ(t.capacity(), 1024u);
  EXPECT_EQ(StickyTable::capacity_for(1000), 1024u);
  EXPECT_EQ(StickyTable::capacity_for(1), 8u);  // at least one bucket
}

TEST(StickyTable, EntriesExpireTtlAfterLastUse) {
  StickyTable t(64, 10);
  t.learn(key(1), 1, 1000);
  EXPECT_EQ(t.find(key(1), 1009), 1u);  // a use refreshes the stamp...
  EXPECT_EQ(t.find(key(1), 1018), 1u);  // ...so it lives 10 s past it
  EXPECT_FALSE(t.find(key(1), 1028));
}

TEST(StickyTable, AFullBucketEvictsTheLeastRecentlyUsed) {
  StickyTable t(8, 1000);  // one bucket of eight
  for (int i = 0; i < 8; ++i) t.learn(key(i), static_cast<std::uint32_t>(i), 100 + i);
  EXPECT_EQ(t.find(key(0), 110), 0u);  // key 0 is now the most recent
  t.learn(key(8), 8, 111);             // evicts key 1, the least recently used
  EXPECT_FALSE(t.find(key(1), 111));
  EXPECT_EQ(t.find(key(0), 111), 0u);
  EXPECT_EQ(t.find(key(8), 111), 8u);
}

TEST(StickyTable, HoldsItsCapacityOfKeys) {
  StickyTable t(1 << 14, 1000);
  const int n = (1 << 14) / 2;  // half full: buckets of eight rarely overflow
  for (int i = 0; i < n; ++i) t.learn(key(i), static_cast<std::uint32_t>(i % 1000), 5);
  int found = 0;
  for (int i = 0; i < n; ++i) found += t.find(key(i), 6) == static_cast<std::uint32_t>(i % 1000);
  EXPECT_GT(found, n * 99 / 100);
}

TEST(StickyTable, ConcurrentLearnAndFindNeverMixKeysAndServers) {
  StickyTable t(256, 1000);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 100'000; ++i) {
        const int k = (i * 7 + w) % 2000;
        // The server id is a function of the key: any other id found would be a torn entry.
        t.learn(key(k), static_cast<std::uint32_t>(k), 50);
        if (auto id = t.find(key(k ^ 1), 50); id && *id != static_cast<std::uint32_t>(k ^ 1)) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace fulcrum::balance
