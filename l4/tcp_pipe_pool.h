// l4/tcp_pipe_pool.h — one worker's kernel pipes for splice(2), taken only while bytes are
// in flight.
//
// A spliced byte goes socket -> pipe -> socket without entering user space; the pipe is the
// kernel buffer in between. A session takes a pipe when a socket turns readable and gives it
// back as soon as it is empty again, so an idle session holds none, and a worker needs about
// as many pipes as it has transfers in progress at one moment, not as many as it has sessions.
// Emptied pipes are kept (up to kMaxFree) because pipe2() plus close() is two syscalls and a
// file allocation per burst. The pool is per worker: no lock.
//
// Cap: at most kMaxLive pipes exist per worker (in use + free). Past that, or when pipe2()
// fails (EMFILE, ENFILE), take() says no and the session copies through a small user-space
// buffer instead, so a flood of busy sessions degrades to read/write rather than failing.
// Kernel memory: ~2.5 KiB of structures per pipe (slab, measured), plus the pages of the bytes
// in flight, at most kPipeSize; so per worker at most kMaxLive x (2.5 KiB + 256 KiB) ~ 260 MiB
// when every pipe is full at once, and ~2.5 KiB x kMaxFree = 160 KiB when all are idle. Pages
// in a pipe are mostly the socket buffers' own pages, moved rather than copied (SPLICE_F_MOVE).
// An unprivileged lbd is also bound by fs.pipe-user-pages-soft (16384 pages by default): past
// it the kernel refuses F_SETPIPE_SZ and hands out small pipes, which still work, more slowly.
#pragma once

#include <cstddef>

namespace fulcrum::l4 {

struct Pipe {
  int r = -1;  // read end
  int w = -1;  // write end
  explicit operator bool() const { return r >= 0; }
};

class PipePool {
 public:
  // Bytes one pipe holds (F_SETPIPE_SZ). 256 KiB moves a loopback burst in one splice pair;
  // against the kernel's default 64 KiB it cost ~10% less proxy CPU per GB on a single stream,
  // and 1 MiB gained nothing more (README, L4 section).
  static constexpr int kPipeSize = 256 * 1024;
  static constexpr std::size_t kMaxFree = 64;
  static constexpr std::size_t kMaxLive = 1024;

  PipePool() = default;
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // An empty pipe into `out`; false when the cap is reached or the kernel refuses one.
  bool take(Pipe& out);
  // Returns an empty pipe; `p` is reset.
  void give(Pipe& p);
  // Closes a pipe that may still hold bytes (a session ending mid-transfer); `p` is reset.
  void discard(Pipe& p);

  std::size_t live() const { return live_; }
  std::size_t free_count() const { return free_count_; }

 private:
  Pipe free_[kMaxFree];
  std::size_t free_count_ = 0;
  std::size_t live_ = 0;
};

}  // namespace fulcrum::l4
