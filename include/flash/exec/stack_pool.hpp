#pragma once
// Recycled stacks for green threads. asio::spawn allocates a fresh stack for every green thread
// by default (a 128 KiB malloc and the page faults that follow); a pool hands back the stacks of
// finished green threads instead.

#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace flash {

class stack_pool {
  struct state;

 public:
  /// Stacks of `stack_size` bytes; at most `max_cached` idle ones are kept. The default keeps
  /// enough for a few hundred green threads at once (the pages a stack never touched cost no
  /// memory); past it, each spawn pays for a fresh stack again (see docs/benchmarks.md).
  explicit stack_pool(std::size_t stack_size = 128 * 1024, std::size_t max_cached = 256)
      : state_(std::make_shared<state>(stack_size, max_cached)) {}

  /// A Boost.Context stack allocator drawing from this pool (copies share it).
  class allocator {
   public:
    boost::context::stack_context allocate() { return state_->take(); }
    void deallocate(boost::context::stack_context& stack) noexcept { state_->give_back(stack); }

   private:
    friend class stack_pool;
    explicit allocator(std::shared_ptr<stack_pool::state> state) : state_(std::move(state)) {}
    std::shared_ptr<stack_pool::state> state_;
  };

  allocator get_allocator() const { return allocator(state_); }
  std::size_t stack_size() const noexcept { return state_->stack_size; }
  std::size_t idle() const {
    std::lock_guard lock(state_->mutex);
    return state_->idle.size();
  }

 private:
  struct state {
    state(std::size_t size, std::size_t cached) : stack_size(size), max_cached(cached), source(size) {}
    ~state() {
      for (auto& stack : idle) source.deallocate(stack);
    }

    boost::context::stack_context take() {
      {
        std::lock_guard lock(mutex);
        if (!idle.empty()) {
          auto stack = idle.back();
          idle.pop_back();
          return stack;
        }
      }
      return source.allocate();
    }

    void give_back(boost::context::stack_context& stack) noexcept {
      {
        std::lock_guard lock(mutex);
        if (idle.size() < max_cached) {
          try {
            idle.push_back(stack);
            return;
          } catch (...) {
          }
        }
      }
      source.deallocate(stack);
    }

    const std::size_t stack_size;
    const std::size_t max_cached;
    boost::context::fixedsize_stack source;
    mutable std::mutex mutex;
    std::vector<boost::context::stack_context> idle;
  };

  std::shared_ptr<state> state_;
};

}  // namespace flash
