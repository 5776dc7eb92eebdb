#pragma once
// Sleeping in a flash::task without an Asio operation: `co_await flash::sleep_for(1s, flash::use_task)`.
//
// Each sleeping task is a node in its own frame, kept in a heap by deadline; one Asio timer per
// execution context waits for the earliest. A sleep allocates nothing, and cancelling one
// registers nothing with Asio, so a million sleeping tasks cost their frames and little more.

#include <flash/exec/task.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace flash {

/// Asks an operation to report cancellation as its result instead of throwing.
struct no_throw_t {
  explicit no_throw_t() = default;
};
inline constexpr no_throw_t no_throw{};

namespace detail {

// A sleeping task, in its frame.
struct task_sleeper {
  static constexpr std::uint32_t not_queued = UINT32_MAX;

  std::chrono::steady_clock::time_point deadline;
  task_root* root = nullptr;
  std::coroutine_handle<> frame;
  std::uint32_t index = not_queued;  // in the heap
  bool cancelled = false;
};

class task_timer_service final : public boost::asio::execution_context::service {
 public:
  using key_type = task_timer_service;
  static inline boost::asio::execution_context::id id;

  explicit task_timer_service(boost::asio::execution_context& context) : service(context) {}

  static task_timer_service& of(const boost::asio::any_io_executor& executor) {
    return boost::asio::use_service<task_timer_service>(
        boost::asio::query(executor, boost::asio::execution::context));
  }

  void add(task_sleeper& sleeper) {
    std::lock_guard lock(mutex_);
    sleeper.index = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(&sleeper);
    sift_up(sleeper.index);
    if (sleeper.index == 0) arm(*sleeper.root->executor);
  }

  /// Takes `sleeper` out unless its deadline already took it; says whether it did.
  bool remove(task_sleeper& sleeper) {
    std::lock_guard lock(mutex_);
    if (sleeper.index == task_sleeper::not_queued) return false;
    erase(sleeper.index);
    if (heap_.empty()) timer_->cancel();  // an armed timer would keep its io_context running
    return true;
  }

 private:
  void shutdown() override {
    std::vector<task_sleeper*> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(heap_);
      timer_.reset();
    }
    for (task_sleeper* sleeper : left) {
      sleeper->index = task_sleeper::not_queued;
      sleeper->root->abandon();
    }
  }

  // Under the lock: the timer now waits for the earliest deadline.
  void arm(const boost::asio::any_io_executor& executor) {
    if (!timer_) timer_.emplace(executor);
    timer_->expires_at(heap_.front()->deadline);  // cancels the wait for the one before
    timer_->async_wait([this](boost::system::error_code error) {
      if (error != boost::asio::error::operation_aborted) wake_due();
    });
  }

  void wake_due() {
    std::vector<task_sleeper*> due;
    {
      std::lock_guard lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      while (!heap_.empty() && heap_.front()->deadline <= now) {
        due.push_back(heap_.front());
        erase(0);
      }
      if (!heap_.empty()) arm(*heap_.front()->root->executor);
    }
    for (task_sleeper* sleeper : due)
      boost::asio::dispatch(*sleeper->root->executor, task_resumption(*sleeper->root, sleeper->frame));
  }

  void erase(std::uint32_t index) {
    heap_[index]->index = task_sleeper::not_queued;
    const std::uint32_t last = static_cast<std::uint32_t>(heap_.size() - 1);
    if (index != last) {
      place(index, heap_[last]);
      heap_.pop_back();
      sift_down(index);
      sift_up(index);
    } else {
      heap_.pop_back();
    }
  }

  void place(std::uint32_t index, task_sleeper* sleeper) {
    heap_[index] = sleeper;
    sleeper->index = index;
  }

  void sift_up(std::uint32_t index) {
    task_sleeper* moving = heap_[index];
    while (index > 0) {
      const std::uint32_t parent = (index - 1) / 2;
      if (heap_[parent]->deadline <= moving->deadline) break;
      place(index, heap_[parent]);
      index = parent;
    }
    place(index, moving);
  }

  void sift_down(std::uint32_t index) {
    task_sleeper* moving = heap_[index];
    const std::size_t size = heap_.size();
    for (;;) {
      std::size_t child = 2 * std::size_t(index) + 1;
      if (child >= size) break;
      if (child + 1 < size && heap_[child + 1]->deadline < heap_[child]->deadline) ++child;
      if (moving->deadline <= heap_[child]->deadline) break;
      place(index, heap_[child]);
      index = static_cast<std::uint32_t>(child);
    }
    place(index, moving);
  }

  std::mutex mutex_;
  std::vector<task_sleeper*> heap_;
  std::optional<boost::asio::steady_timer> timer_;
};

template <bool Throws>
class sleep_awaiter {
 public:
  explicit sleep_awaiter(std::chrono::steady_clock::duration duration) {
    sleeper_.deadline = std::chrono::steady_clock::now() + duration;
  }

  bool await_ready() const noexcept { return false; }

  template <task_promise_type Promise>
  bool await_suspend(std::coroutine_handle<Promise> frame) {
    task_root& root = frame.promise().root();
    sleeper_.root = &root;
    sleeper_.frame = frame;
    if (root.cancel_requested.load(std::memory_order_acquire)) {
      sleeper_.cancelled = true;
      return false;
    }
    root.cancel_hook = &cancel;
    root.cancel_hook_target = &sleeper_;
    task_timer_service::of(*root.executor).add(sleeper_);
    return true;
  }

  auto await_resume() {
    if (sleeper_.root && sleeper_.root->cancel_hook_target == &sleeper_) sleeper_.root->cancel_hook = nullptr;
    if constexpr (Throws) {
      if (sleeper_.cancelled) throw boost::system::system_error(boost::asio::error::operation_aborted);
    } else {
      return !sleeper_.cancelled;
    }
  }

 private:
  // On the task's executor, from task_root::request_cancel.
  static void cancel(void* target) noexcept {
    auto& sleeper = *static_cast<task_sleeper*>(target);
    if (!task_timer_service::of(*sleeper.root->executor).remove(sleeper)) return;  // already due
    sleeper.cancelled = true;
    boost::asio::post(*sleeper.root->executor, task_resumption(*sleeper.root, sleeper.frame));
  }

  task_sleeper sleeper_;
};

}  // namespace detail

/// In a flash::task: waits `duration` without an Asio operation; a cancellation ends the wait
/// early by throwing boost::system::system_error with operation_aborted.
inline detail::sleep_awaiter<true> sleep_for(std::chrono::steady_clock::duration duration, use_task_t) {
  return detail::sleep_awaiter<true>(duration);
}

/// The same, returning false when cancelled rather than throwing.
inline detail::sleep_awaiter<false> sleep_for(std::chrono::steady_clock::duration duration, use_task_t,
                                              no_throw_t) {
  return detail::sleep_awaiter<false>(duration);
}

}  // namespace flash
