#include "l4/tcp_pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace fulcrum::l4 {

PipePool::~PipePool() {
  for (std::size_t i = 0; i < free_count_; ++i) {
    ::close(free_[i].r);
    ::close(free_[i].w);
  }
}

bool PipePool::take(Pipe& out) {
  if (free_count_ > 0) {
    out = free_[--free_count_];
    return true;
  }
  if (live_ >= kMaxLive) return false;
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  // Best effort: the default is already 64 KiB; a lowered pipe-user-pages-soft may refuse.
  if (kPipeSize != 64 * 1024) ::fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
  out.r = fds[0];
  out.w = fds[1];
  ++live_;
  return true;
}

void PipePool::give(Pipe& p) {
  if (!p) return;
  if (free_count_ < kMaxFree) {
    free_[free_count_++] = p;
    p = Pipe{};
    return;
  }
  discard(p);
}

void PipePool::discard(Pipe& p) {
  if (!p) return;
  ::close(p.r);
  ::close(p.w);
  p = Pipe{};
  --live_;
}

}  // namespace fulcrum::l4
