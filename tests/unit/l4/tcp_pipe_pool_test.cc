// The pipe pool: pipes are reused, the free list is bounded, and a pipe handed back with bytes
// in it is closed rather than reused (its bytes would reach the next session).
#include "l4/tcp_pipe_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace fulcrum::l4 {
namespace {

TEST(PipePool, ReusesAGivenBackPipe) {
  PipePool pool;
  Pipe p;
  ASSERT_TRUE(pool.take(p));
  EXPECT_TRUE(p);
  EXPECT_EQ(pool.live(), 1u);
  const Pipe first = p;
  pool.give(p);
  EXPECT_FALSE(p);
  EXPECT_EQ(pool.free_count(), 1u);
  Pipe again;
  ASSERT_TRUE(pool.take(again));
  EXPECT_EQ(again.r, first.r);
  EXPECT_EQ(again.w, first.w);
  EXPECT_EQ(pool.live(), 1u);
  pool.give(again);
}

TEST(PipePool, PipesAreNonBlockingAndMoveBytes) {
  PipePool pool;
  Pipe p;
  ASSERT_TRUE(pool.take(p));
  EXPECT_TRUE(::fcntl(p.r, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(p.w, F_GETFL) & O_NONBLOCK);
  // The size is best effort: an unprivileged user past fs.pipe-user-pages-soft gets less.
  if (::geteuid() == 0) {
    EXPECT_EQ(::fcntl(p.w, F_GETPIPE_SZ), PipePool::kPipeSize);
  }
  ASSERT_EQ(::write(p.w, "abc", 3), 3);
  char buf[4];
  ASSERT_EQ(::read(p.r, buf, sizeof buf), 3);
  EXPECT_EQ(::read(p.r, buf, sizeof buf), -1);  // empty: EAGAIN, not a block
  pool.give(p);
}

TEST(PipePool, DiscardClosesAPipeThatHoldsBytes) {
  PipePool pool;
  Pipe p;
  ASSERT_TRUE(pool.take(p));
  const int r = p.r;
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  pool.discard(p);
  EXPECT_FALSE(p);
  EXPECT_EQ(pool.live(), 0u);
  EXPECT_EQ(pool.free_count(), 0u);
  EXPECT_EQ(::fcntl(r, F_GETFD), -1);  // closed
}

TEST(PipePool, FreeListIsBounded) {
  PipePool pool;
  std::vector<Pipe> pipes(PipePool::kMaxFree + 8);
  for (Pipe& p : pipes) ASSERT_TRUE(pool.take(p));
  EXPECT_EQ(pool.live(), pipes.size());
  for (Pipe& p : pipes) pool.give(p);
  EXPECT_EQ(pool.free_count(), PipePool::kMaxFree);
  EXPECT_EQ(pool.live(), PipePool::kMaxFree);  // the surplus was closed
}

}  // namespace
}  // namespace fulcrum::l4
