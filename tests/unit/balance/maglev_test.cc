#include "balance/maglev.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "tests/unit/balance/servers.h"

namespace fulcrum::balance {
namespace {

using testing::keyed;
using testing::Servers;

constexpr int kKeys = 100000;

std::vector<std::size_t> owners(Maglev& b, const Servers& s) {
  std::vector<std::size_t> out(kKeys);
  for (int k = 0; k < kKeys; ++k) out[static_cast<std::size_t>(k)] = s.index_of(b.pick(keyed(k)));
  return out;
}

TEST(Maglev, TableSizeIsPrime) {
  Servers s(3);
  EXPECT_EQ(Maglev(s.raw).table_size(), 65537u);
  EXPECT_EQ(Maglev(s.raw, 1000).table_size(), 1009u);
  EXPECT_EQ(Maglev(s.raw, 1).table_size(), 3u);  // at least one entry per server
}

TEST(Maglev, EntriesSplitEvenlyAndByWeight) {
  Servers s(20);
  Maglev b(s.raw);
  const std::uint32_t m = b.table_size();
  std::vector<int> entries(20, 0);
  for (std::uint32_t e = 0; e < m; ++e) ++entries[s.index_of(b.owner(e))];
  // Servers claim one entry per round, so shares differ by at most one entry.
  for (int n : entries) EXPECT_NEAR(n, m / 20.0, 1.0);

  Servers w({1, 2, 3});
  Maglev bw(w.raw, 6007);
  std::vector<int> we(3, 0);
  for (std::uint32_t e = 0; e < bw.table_size(); ++e) ++we[w.index_of(bw.owner(e))];
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(we[i], bw.table_size() * w[i].weight / 6.0, 2.0) << "server " << i;
  }
}

TEST(Maglev, KeysSpreadEvenly) {
  Servers s(10);
  Maglev b(s.raw);
  std::vector<int> n(11, 0);
  for (std::size_t o : owners(b, s)) ++n[o];
  EXPECT_EQ(n[10], 0);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(n[static_cast<std::size_t>(i)], kKeys / 10, kKeys / 100);
}

// Rebuilding without one of N servers moves about 1/N of the keys (those of the removed server)
// plus Maglev's small disruption of the others.
void expect_minimal_disruption(int n_servers) {
  Servers s(n_servers);
  Maglev before(s.raw);
  const std::size_t removed = static_cast<std::size_t>(n_servers / 2);
  std::vector<Server*> rest = s.raw;
  rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(removed));
  Maglev after(rest);
  const auto a = owners(before, s), b = owners(after, s);
  int moved = 0, others = 0, others_stayed = 0;
  for (int k = 0; k < kKeys; ++k) {
    const auto i = static_cast<std::size_t>(k);
    moved += a[i] != b[i] ? 1 : 0;
    if (a[i] != removed) {
      ++others;
      others_stayed += a[i] == b[i] ? 1 : 0;
    }
  }
  const double moved_share = static_cast<double>(moved) / kKeys;
  const double stayed_share = static_cast<double>(others_stayed) / others;
  std::printf("maglev N=%d remove 1: moved %.4f (1/N = %.4f), others stayed %.4f\n", n_servers,
              moved_share, 1.0 / n_servers, stayed_share);
  EXPECT_LE(moved_share, 1.0 / n_servers + 0.02);
  EXPECT_GE(stayed_share, 0.95);
}

TEST(Maglev, RemovingOneOfTwentyMovesAboutOneTwentieth) { expect_minimal_disruption(20); }
TEST(Maglev, RemovingOneOfHundredMovesAboutOneHundredth) { expect_minimal_disruption(100); }

TEST(Maglev, AServerGoingDownMovesOnlyItsKeysAndSpreadsThem) {
  Servers s(20);
  Maglev b(s.raw);
  const auto before = owners(b, s);
  s[7].up = false;
  const auto after = owners(b, s);
  std::vector<int> received(21, 0);
  int its_keys = 0;
  for (int k = 0; k < kKeys; ++k) {
    const auto i = static_cast<std::size_t>(k);
    if (before[i] == 7) {
      ++its_keys;
      ++received[after[i]];
    } else {
      ASSERT_EQ(before[i], after[i]) << "key " << k << " of a healthy server moved";
    }
  }
  EXPECT_EQ(received[7], 0);
  EXPECT_EQ(received[20], 0);
  // Its keys spread over the 19 others: none takes more than three times a fair share.
  for (std::size_t i = 0; i < 20; ++i) {
    if (i != 7) {
      EXPECT_LE(received[i], 3 * its_keys / 19) << "server " << i;
    }
  }
  // And they come back when it does.
  s[7].up = true;
  EXPECT_EQ(owners(b, s), before);
}

TEST(Maglev, SameKeySameServerAcrossInstancesAndConfigOrder) {
  Servers s(12);
  Maglev a(s.raw);
  std::vector<Server*> reversed(s.raw.rbegin(), s.raw.rend());
  Maglev b(reversed);
  for (int k = 0; k < 2000; ++k) {
    const Server* first = a.pick(keyed(k));
    EXPECT_EQ(a.pick(keyed(k)), first);
    EXPECT_EQ(b.pick(keyed(k)), first);
  }
}

TEST(Maglev, RetryAvoidsDeterministically) {
  Servers s(5);
  Maglev b(s.raw);
  for (int k = 0; k < 200; ++k) {
    const Server* first = b.pick(keyed(k));
    PickContext retry = keyed(k);
    retry.attempt = 1;
    retry.avoid = first;
    const Server* second = b.pick(retry);
    EXPECT_NE(second, first);
    EXPECT_NE(second, nullptr);
    EXPECT_EQ(b.pick(retry), second);
  }
}

TEST(Maglev, NearlyAllOutStillFindsTheLastOne) {
  Servers s(20);
  Maglev b(s.raw);
  for (std::size_t i = 0; i < 19; ++i) s[i].up = false;  // walks give up; rehash finds s19
  for (int k = 0; k < 1000; ++k) EXPECT_EQ(b.pick(keyed(k)), s.raw[19]);
  s[19].up = false;
  EXPECT_EQ(b.pick(keyed(1)), nullptr);
}

TEST(Maglev, KeylessRequestsGetRoundRobin) {
  Servers s(3);
  Maglev b(s.raw);
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(b.pick({}), s.raw[i]);
  }
}

}  // namespace
}  // namespace fulcrum::balance
