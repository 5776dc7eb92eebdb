#pragma once
// Sleeping in a flash::task without an Asio operation: `co_await flash::sleep_for(1s, flash::use_task)`.
//
// Each sleeping chain's root (its task group record) holds the deadline and is kept in a heap by
// it; one Asio timer per execution context waits for the earliest. A sleep allocates nothing
// and adds a word to the frame, and cancelling one registers nothing with Asio, so a million
// sleeping tasks cost their frames, their records and a pointer each.

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

class task_timer_service final : public boost::asio::execution_context::service {
 public:
  using key_type = task_timer_service;
  static inline boost::asio::execution_context::id id;

  explicit task_timer_service(boost::asio::execution_context& context) : service(context) {}

  /// The service of the context `root` runs in; a root's executor does not change.
  static task_timer_service& of(task_root& root) {
    if (!root.timers)
      root.timers = &boost::asio::use_service<task_timer_service>(
          boost::asio::query(*root.executor, boost::asio::execution::context));
    return *root.timers;
  }

  void add(task_root& sleeper) {
    std::lock_guard lock(mutex_);
    sleeper.wait_index = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(&sleeper);
    sift_up(sleeper.wait_index);
    if (sleeper.wait_index == 0) arm(*sleeper.executor);
  }

  /// Takes `sleeper` out unless its deadline already took it; says whether it did.
  bool remove(task_root& sleeper) {
    std::lock_guard lock(mutex_);
    if (sleeper.wait_index == task_root::not_queued) return false;
    erase(sleeper.wait_index);
    if (heap_.empty()) timer_->cancel();  // an armed timer would keep its io_context running
    return true;
  }

 private:
  void shutdown() override {
    std::vector<task_root*> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(heap_);
      timer_.reset();
    }
    for (task_root* sleeper : left) {
      sleeper->wait_index = task_root::not_queued;
      sleeper->abandon();
    }
  }

  // Under the lock: the timer now waits for the earliest deadline.
  void arm(const boost::asio::any_io_executor& executor) {
    if (!timer_) timer_.emplace(executor);
    timer_->expires_at(heap_.front()->wait_deadline);  // cancels the wait for the one before
    timer_->async_wait([this](boost::system::error_code error) {
      if (error != boost::asio::error::operation_aborted) wake_due();
    });
  }

  void wake_due() {
    std::vector<task_root*> due;
    {
      std::lock_guard lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      while (!heap_.empty() && heap_.front()->wait_deadline <= now) {
        due.push_back(heap_.front());
        erase(0);
      }
      if (!heap_.empty()) arm(*heap_.front()->executor);
    }
    for (task_root* sleeper : due)
      boost::asio::dispatch(*sleeper->executor, task_resumption(*sleeper, sleeper->waiting_frame));
  }

  void erase(std::uint32_t index) {
    heap_[index]->wait_index = task_root::not_queued;
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

  void place(std::uint32_t index, task_root* sleeper) {
    heap_[index] = sleeper;
    sleeper->wait_index = index;
  }

  void sift_up(std::uint32_t index) {
    task_root* moving = heap_[index];
    while (index > 0) {
      const std::uint32_t parent = (index - 1) / 2;
      if (heap_[parent]->wait_deadline <= moving->wait_deadline) break;
      place(index, heap_[parent]);
      index = parent;
    }
    place(index, moving);
  }

  void sift_down(std::uint32_t index) {
    task_root* moving = heap_[index];
    const std::size_t size = heap_.size();
    for (;;) {
      std::size_t child = 2 * std::size_t(index) + 1;
      if (child >= size) break;
      if (child + 1 < size && heap_[child + 1]->wait_deadline < heap_[child]->wait_deadline) ++child;
      if (moving->wait_deadline <= heap_[child]->wait_deadline) break;
      place(index, heap_[child]);
      index = static_cast<std::uint32_t>(child);
    }
    place(index, moving);
  }

  std::mutex mutex_;
  std::vector<task_root*> heap_;
  std::optional<boost::asio::steady_timer> timer_;
};

template <bool Throws>
class sleep_awaiter {
 public:
  // Any duration type, so that a call like sleep_for(5s, use_task) converts nothing where it is
  // awaited: GCC keeps each temporary of a co_await expression in the frame.
  template <class Rep, class Period>
  explicit sleep_awaiter(std::chrono::duration<Rep, Period> duration)
      : deadline_(std::chrono::steady_clock::now() +
                  std::chrono::ceil<std::chrono::steady_clock::duration>(duration)) {}

  bool await_ready() const noexcept { return false; }

  template <task_promise_type Promise>
  bool await_suspend(std::coroutine_handle<Promise> frame) {
    task_root& root = frame.promise().root();
    root.wait_deadline = deadline_;
    root_ = &root;  // from here the deadline lives in the root, and the awaiter is one word
    root.waiting_frame = frame;
    root.wait_cancelled = root.cancel_requested.load(std::memory_order_acquire);
    if (root.wait_cancelled) return false;
    task_timer_service& timers = task_timer_service::of(root);  // before the hook can run
    root.cancel_hook = &cancel;
    timers.add(root);
    return true;
  }

  auto await_resume() {
    task_root& root = *root_;
    if (root.cancel_hook == &cancel) root.cancel_hook = nullptr;
    if constexpr (Throws) {
      if (root.wait_cancelled) throw_cancellation();
    } else {
      return !root.wait_cancelled;
    }
  }

 private:
  // On the task's executor, from task_root::request_cancel.
  static void cancel(task_root& root) noexcept {
    if (!task_timer_service::of(root).remove(root)) return;  // already due
    root.wait_cancelled = true;
    boost::asio::post(*root.executor, task_resumption(root, root.waiting_frame));
  }

  union {
    std::chrono::steady_clock::time_point deadline_;  // until it suspends
    task_root* root_;
  };
};

}  // namespace detail

/// In a flash::task: waits `duration` without an Asio operation; a cancellation ends the wait
/// early by throwing boost::system::system_error with operation_aborted.
template <class Rep, class Period>
detail::sleep_awaiter<true> sleep_for(std::chrono::duration<Rep, Period> duration, use_task_t) {
  return detail::sleep_awaiter<true>(duration);
}

/// The same, returning false when cancelled rather than throwing.
template <class Rep, class Period>
detail::sleep_awaiter<false> sleep_for(std::chrono::duration<Rep, Period> duration, use_task_t, no_throw_t) {
  return detail::sleep_awaiter<false>(duration);
}

}  // namespace flash
