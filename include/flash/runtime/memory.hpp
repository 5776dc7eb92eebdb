#pragma once
// Memory accounting for a command: a memory resource that counts what its users allocate and,
// with a limit, refuses more with flash::error(errc::resource_exhausted) instead of aborting.

#include <flash/core/error.hpp>
#include <flash/runtime/metrics.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <optional>

namespace flash {

class counting_memory_resource final : public std::pmr::memory_resource {
 public:
  explicit counting_memory_resource(std::optional<std::size_t> limit = std::nullopt,
                                    metrics* observer = nullptr,
                                    std::pmr::memory_resource* upstream = std::pmr::new_delete_resource())
      : limit_(limit), observer_(observer), upstream_(upstream) {}

  std::size_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  std::optional<std::size_t> limit() const noexcept { return limit_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    std::size_t before = in_use_.fetch_add(bytes, std::memory_order_relaxed);
    if (limit_ && before + bytes > *limit_) {
      in_use_.fetch_sub(bytes, std::memory_order_relaxed);
      throw error(errc::resource_exhausted,
                  fmt::format("allocating {} bytes with {} of the {}-byte memory limit in use", bytes,
                              before, *limit_));
    }
    void* memory = nullptr;
    try {
      memory = upstream_->allocate(bytes, alignment);
    } catch (...) {
      in_use_.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
    if (observer_) observer_->memory_allocated(bytes);
    return memory;
  }

  void do_deallocate(void* memory, std::size_t bytes, std::size_t alignment) override {
    upstream_->deallocate(memory, bytes, alignment);
    in_use_.fetch_sub(bytes, std::memory_order_relaxed);
    if (observer_) observer_->memory_released(bytes);
  }

  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  std::optional<std::size_t> limit_;
  metrics* observer_;
  std::pmr::memory_resource* upstream_;
  std::atomic<std::size_t> in_use_{0};
};

}  // namespace flash
