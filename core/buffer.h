// core/buffer.h — fixed-capacity byte buffers backed by a per-worker block pool.
//
// A connection holds a block only while bytes are in flight and gives it back as soon as the
// buffer drains, so an idle keep-alive connection costs no buffer memory. Blocks never grow:
// a full buffer means backpressure (stop reading), never reallocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace fulcrum {

// Owned by one worker; not thread-safe by design (workers share nothing).
class BlockPool {
 public:
  static constexpr std::size_t kBlockSize = 16 * 1024;
  explicit BlockPool(std::size_t max_cached = 1024) : max_cached_(max_cached) {}
  ~BlockPool() {
    for (char* b : free_) delete[] b;
  }
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  char* get() {
    if (free_.empty()) return new char[kBlockSize];
    char* b = free_.back();
    free_.pop_back();
    return b;
  }
  void put(char* b) {
    if (free_.size() < max_cached_) {
      free_.push_back(b);
    } else {
      delete[] b;
    }
  }

 private:
  std::vector<char*> free_;
  std::size_t max_cached_;
};

// A window [begin, end) of valid bytes inside one block (or a larger heap block when a caller
// asked for more than kBlockSize, e.g. a listener with a large max_header_size).
class Buffer {
 public:
  Buffer() = default;
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Makes sure a block of at least `capacity` bytes is held (keeps existing bytes).
  void reserve(BlockPool& pool, std::size_t capacity = BlockPool::kBlockSize) {
    if (data_ && cap_ >= capacity) return;
    char* fresh;
    std::size_t cap;
    if (capacity <= BlockPool::kBlockSize) {
      fresh = pool.get();
      cap = BlockPool::kBlockSize;
    } else {
      fresh = new char[capacity];
      cap = capacity;
    }
    if (data_) {
      std::memcpy(fresh, data_ + begin_, size());
      end_ = static_cast<std::uint32_t>(size());
      begin_ = 0;
      free_block();
    }
    pool_ = &pool;
    data_ = fresh;
    cap_ = static_cast<std::uint32_t>(cap);
  }
  // Gives the block back if no bytes are held.
  void release_if_empty() {
    if (data_ && empty()) release();
  }
  void release() {
    free_block();
    data_ = nullptr;
    cap_ = begin_ = end_ = 0;
  }

  bool has_block() const { return data_ != nullptr; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  std::size_t capacity() const { return cap_; }
  std::string_view view() const { return {data_ + begin_, size()}; }
  const char* data() const { return data_ + begin_; }

  // Writable tail; compacts first when the tail is small and there is free space at the front.
  char* tail() { return data_ + end_; }
  std::size_t tail_room() const { return cap_ - end_; }
  void compact() {
    if (begin_ == 0) return;
    std::memmove(data_, data_ + begin_, size());
    end_ -= begin_;
    begin_ = 0;
  }
  void produce(std::size_t n) { end_ += static_cast<std::uint32_t>(n); }
  void consume(std::size_t n) {
    begin_ += static_cast<std::uint32_t>(n);
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Keeps only the first `n` readable bytes.
  void truncate(std::size_t n) {
    end_ = begin_ + static_cast<std::uint32_t>(n);
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void append(std::string_view s) {
    if (s.empty()) return;  // an empty view may have a null data(); memcpy must not see it
    std::memcpy(data_ + end_, s.data(), s.size());
    end_ += static_cast<std::uint32_t>(s.size());
  }

 private:
  void free_block() {
    if (!data_) return;
    if (cap_ == BlockPool::kBlockSize) {
      pool_->put(data_);
    } else {
      delete[] data_;
    }
  }
  // 32-bit offsets (blocks are at most a few MiB) keep a Buffer at 32 bytes; a connection has
  // four of them even while idle.
  BlockPool* pool_ = nullptr;
  char* data_ = nullptr;
  std::uint32_t cap_ = 0;
  std::uint32_t begin_ = 0;
  std::uint32_t end_ = 0;
};

}  // namespace fulcrum
