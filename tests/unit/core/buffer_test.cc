#include "core/buffer.h"

#include <gtest/gtest.h>

namespace fulcrum {
namespace {

TEST(Buffer, HoldsNoBlockUntilReserved) {
  BlockPool pool;
  Buffer b;
  EXPECT_FALSE(b.has_block());
  b.reserve(pool);
  EXPECT_TRUE(b.has_block());
  EXPECT_EQ(b.capacity(), BlockPool::kBlockSize);
}

TEST(Buffer, ReleasesWhenEmptyAndRecyclesBlocks) {
  BlockPool pool;
  Buffer b;
  b.reserve(pool);
  const char* first = b.tail();
  b.append("abc");
  b.release_if_empty();
  EXPECT_TRUE(b.has_block());  // not empty: keeps its bytes
  b.consume(3);
  b.release_if_empty();
  EXPECT_FALSE(b.has_block());
  b.reserve(pool);
  EXPECT_EQ(b.tail(), first);  // the pool handed the same block back
}

TEST(Buffer, ConsumeProduceCompact) {
  BlockPool pool;
  Buffer b;
  b.reserve(pool);
  b.append("hello world");
  b.consume(6);
  EXPECT_EQ(b.view(), "world");
  b.compact();
  EXPECT_EQ(b.view(), "world");
  EXPECT_EQ(b.tail_room(), b.capacity() - 5);
}

TEST(Buffer, GrowingKeepsBytes) {
  BlockPool pool;
  Buffer b;
  b.reserve(pool);
  b.append("keep");
  b.reserve(pool, 64 * 1024);
  EXPECT_EQ(b.capacity(), 64u * 1024);
  EXPECT_EQ(b.view(), "keep");
  b.release();
  EXPECT_FALSE(b.has_block());
}

}  // namespace
}  // namespace fulcrum

namespace fulcrum {
namespace {

TEST(Buffer, AppendingAnEmptyViewIsANoOp) {
  BlockPool pool;
  Buffer b;
  b.reserve(pool);
  b.append(std::string_view{});  // null data(): must not reach memcpy (UBSan would abort)
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace fulcrum
