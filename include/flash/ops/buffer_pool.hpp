#pragma once
// Fixed-size buffers lent out and taken back, so that streaming and copying reuse a bounded
// amount of memory whatever the size of their input.
//
//   flash::buffer_pool pool(64 * 1024, 8, &ctx.metrics());
//   flash::buffer_lease buffer = pool.acquire();           // or co_await pool.async_acquire()
//   ssize_t n = ::read(fd, buffer.data(), buffer.size());
//   // the buffer goes back to the pool when `buffer` is destroyed
//
// At most `max_buffers` are lent at once: acquire() then fails with errc::resource_exhausted,
// try_acquire() returns nothing and async_acquire() waits (cancellably) for one to come back.
// A buffer is allocated the first time it is needed and kept for reuse until the pool ends.
// The bytes lent out are reported to the metrics (memory current and peak in the report).

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/runtime/metrics.hpp>
#include <flash/runtime/semaphore.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace flash {

class buffer_pool;

/// One buffer lent by a buffer_pool; gives it back when destroyed. Move-only.
class buffer_lease {
 public:
  buffer_lease() noexcept = default;
  buffer_lease(buffer_lease&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), data_(std::exchange(other.data_, nullptr)) {}
  buffer_lease& operator=(buffer_lease&& other) noexcept {
    if (this != &other) {
      release();
      pool_ = std::exchange(other.pool_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }
  buffer_lease(const buffer_lease&) = delete;
  buffer_lease& operator=(const buffer_lease&) = delete;
  ~buffer_lease() { release(); }

  std::byte* data() const noexcept { return data_; }
  char* chars() const noexcept { return reinterpret_cast<char*>(data_); }
  inline std::size_t size() const noexcept;
  std::span<std::byte> span() const noexcept { return {data_, size()}; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

  /// Gives the buffer back now.
  inline void release() noexcept;

 private:
  friend class buffer_pool;
  buffer_lease(buffer_pool* pool, std::byte* data) noexcept : pool_(pool), data_(data) {}

  buffer_pool* pool_ = nullptr;
  std::byte* data_ = nullptr;
};

/// A thread-safe pool of `max_buffers` buffers of `buffer_size` bytes. It must outlive the
/// leases it hands out.
class buffer_pool {
 public:
  /// `observer` counts the bytes lent out; `upstream` provides the memory (pass ctx.memory() to
  /// hold the buffers to the command's memory limit; it counts them itself, so then leave
  /// `observer` null rather than count them twice).
  buffer_pool(std::size_t buffer_size, std::size_t max_buffers, metrics* observer = nullptr,
              std::pmr::memory_resource* upstream = std::pmr::new_delete_resource())
      : buffer_size_(buffer_size),
        max_buffers_(max_buffers),
        observer_(observer),
        upstream_(upstream),
        permits_(max_buffers) {
    if (buffer_size == 0 || max_buffers == 0)
      throw error(errc::validation_error, "a buffer pool needs a non-zero buffer size and count");
    free_.reserve(max_buffers);
  }
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;
  ~buffer_pool() {
    for (std::byte* buffer : free_) upstream_->deallocate(buffer, buffer_size_, alignment());
  }

  /// A free buffer; throws flash::error(errc::resource_exhausted) when all are lent.
  buffer_lease acquire() {
    if (auto lease = try_acquire()) return std::move(*lease);
    throw error(errc::resource_exhausted,
                fmt::format("all {} buffers of {} bytes are in use", max_buffers_, buffer_size_));
  }

  /// A free buffer, or nothing when all are lent (or others are waiting for one).
  std::optional<buffer_lease> try_acquire() {
    if (!permits_.try_acquire()) return std::nullopt;
    return take();
  }

  /// Waits for a free buffer; throws when the waiting coroutine is cancelled.
  awaitable<buffer_lease> async_acquire() {
    co_await permits_.acquire();
    co_return take();
  }

  std::size_t buffer_size() const noexcept { return buffer_size_; }
  std::size_t max_buffers() const noexcept { return max_buffers_; }

  /// Buffers lent out now.
  std::size_t in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
  }

  /// Buffers allocated so far (lent or kept for reuse); never more than max_buffers().
  std::size_t allocated() const {
    std::lock_guard lock(mutex_);
    return allocated_;
  }

 private:
  friend class buffer_lease;

  std::size_t alignment() const noexcept {
    return buffer_size_ >= 4096 ? 4096 : alignof(std::max_align_t);  // page-aligned for big ones
  }

  // Called with a permit held: a buffer is free or may be allocated.
  buffer_lease take() {
    std::byte* buffer = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        buffer = free_.back();
        free_.pop_back();
        ++in_use_;
      }
    }
    if (!buffer) {
      try {
        buffer = static_cast<std::byte*>(upstream_->allocate(buffer_size_, alignment()));
      } catch (...) {
        permits_.release();
        throw;
      }
      std::lock_guard lock(mutex_);
      ++allocated_;
      ++in_use_;
    }
    if (observer_) observer_->memory_allocated(buffer_size_);
    return buffer_lease(this, buffer);
  }

  void give_back(std::byte* buffer) noexcept {
    {
      std::lock_guard lock(mutex_);
      free_.push_back(buffer);  // never reallocates: reserved for max_buffers
      --in_use_;
    }
    if (observer_) observer_->memory_released(buffer_size_);
    permits_.release();
  }

  const std::size_t buffer_size_;
  const std::size_t max_buffers_;
  metrics* const observer_;
  std::pmr::memory_resource* const upstream_;
  semaphore permits_;
  mutable std::mutex mutex_;
  std::vector<std::byte*> free_;
  std::size_t allocated_ = 0;
  std::size_t in_use_ = 0;
};

inline std::size_t buffer_lease::size() const noexcept { return pool_ ? pool_->buffer_size() : 0; }

inline void buffer_lease::release() noexcept {
  if (data_) pool_->give_back(std::exchange(data_, nullptr));
  pool_ = nullptr;
}

}  // namespace flash
