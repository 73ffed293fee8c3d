#include "balance/source_hash.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/unit/balance/servers.h"

namespace fulcrum::balance {
namespace {

using testing::Servers;

asio::ip::address_v4 v4(std::uint32_t n) { return asio::ip::make_address_v4(n); }

PickContext from(const asio::ip::address_v4& a) {
  PickContext ctx;
  ctx.hash = hash_of(asio::ip::address(a));
  return ctx;
}

TEST(SourceHash, SameClientSameServer) {
  Servers s(5);
  SourceHash a(s.raw), b(s.raw);
  std::mt19937 rng(11);
  for (int i = 0; i < 1000; ++i) {
    const auto addr = v4(rng());
    const Server* first = a.pick(from(addr));
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(a.pick(from(addr)), first);
    EXPECT_EQ(b.pick(from(addr)), first);
  }
}

TEST(SourceHash, AddressHashing) {
  const auto plain = asio::ip::make_address("192.0.2.7");
  const auto mapped = asio::ip::make_address("::ffff:192.0.2.7");
  EXPECT_EQ(hash_of(plain), hash_of(mapped));
  EXPECT_NE(hash_of(plain), hash_of(asio::ip::make_address("192.0.2.8")));
  EXPECT_NE(hash_of(asio::ip::make_address("2001:db8::1")), 0u);
  // Raw bytes in hash_key give the same server as the precomputed hash.
  Servers s(7);
  SourceHash b(s.raw);
  for (std::uint32_t n = 0; n < 500; ++n) {
    const auto bytes = v4(n * 7919u).to_bytes();
    PickContext by_key;
    by_key.hash_key = std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    EXPECT_EQ(b.pick(by_key), b.pick(from(v4(n * 7919u))));
  }
}

TEST(SourceHash, ClientsSpreadByWeight) {
  Servers s({1, 1, 2});
  SourceHash b(s.raw);
  std::vector<int> n(4, 0);
  for (std::uint32_t i = 0; i < 40000; ++i) {
    ++n[s.index_of(b.pick(from(v4(0x0a000000u + i))))];  // 10.0.0.0/16-ish, sequential
  }
  EXPECT_EQ(n[3], 0);
  EXPECT_NEAR(n[0], 10000, 500);
  EXPECT_NEAR(n[1], 10000, 500);
  EXPECT_NEAR(n[2], 20000, 1000);
}

TEST(SourceHash, OnlyTheClientsOfAFailedServerMove) {
  Servers s(6);
  SourceHash b(s.raw);
  std::vector<const Server*> before;
  for (std::uint32_t i = 0; i < 5000; ++i) before.push_back(b.pick(from(v4(i))));
  s[2].up = false;
  for (std::uint32_t i = 0; i < 5000; ++i) {
    const Server* now = b.pick(from(v4(i)));
    EXPECT_NE(now, s.raw[2]);
    if (before[i] != s.raw[2]) {
      EXPECT_EQ(now, before[i]);
    }
  }
}

TEST(SourceHash, NoAddressMeansRoundRobin) {
  Servers s(3);
  SourceHash b(s.raw);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(b.pick({}), s.raw[static_cast<std::size_t>(i % 3)]);
}

}  // namespace
}  // namespace fulcrum::balance
