#pragma once
// Structured concurrency: a task group (a nursery) whose children never outlive it.
//
//   auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
//     for (const auto& url : urls) group.spawn(fetch(url));
//     co_return;
//   };
//   co_await flash::with_task_group(body);   // returns when every child has finished
//
// The first child to fail cancels its siblings, and its error is the one with_task_group
// throws (failure_policy::keep_going lets the others run and throws the first error at the end).
// Cancelling the awaiting coroutine cancels the children and still waits for them.

#include <flash/exec/awaitable.hpp>
#include <flash/exec/model.hpp>
#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/detail/complete.hpp>
#include <flash/runtime/offload.hpp>
#include <flash/runtime/semaphore.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <vector>

namespace flash {

enum class failure_policy {
  cancel_siblings,  ///< the first failure cancels the other children (the default)
  keep_going,       ///< every child runs to its end; the first failure is reported after
};

struct task_group_options {
  failure_policy on_failure = failure_policy::cancel_siblings;
  std::size_t max_concurrency = 0;  ///< children running at once; 0 for no limit
};

/// Counts what task groups do; flash::metrics implements it (see runtime/metrics.hpp).
class task_observer {
 public:
  /// A child was spawned; it may wait for a place under the group's concurrency limit.
  virtual void task_spawned() noexcept = 0;
  /// The child got its place and runs.
  virtual void task_started() noexcept = 0;
  /// The child ended; `started` says whether it had begun to run.
  virtual void task_finished(std::chrono::nanoseconds duration, bool cancelled, bool started) noexcept = 0;

 protected:
  ~task_observer() = default;
};

/// Whether an exception means "this was cancelled" rather than "this failed".
inline bool is_cancellation(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const flash::error& e) {
    return e.code() == errc::cancelled;
  } catch (const boost::system::system_error& e) {
    return e.code() == boost::asio::error::operation_aborted;
  } catch (...) {
  }
  return false;
}

namespace detail {

template <class A>
inline constexpr bool is_awaitable = false;
template <class T, class E>
inline constexpr bool is_awaitable<boost::asio::awaitable<T, E>> = true;

class task_group_state : public std::enable_shared_from_this<task_group_state> {
 public:
  task_group_state(boost::asio::any_io_executor executor, const cancellation_token& parent,
                   task_group_options options, task_observer* observer)
      : executor_(std::move(executor)), source_(parent), options_(options), observer_(observer) {
    if (options_.max_concurrency > 0) limiter_.emplace(options_.max_concurrency);
  }

  const boost::asio::any_io_executor& executor() const noexcept { return executor_; }
  cancellation_token token() const { return source_.token(); }
  void cancel() { source_.request_cancel(); }
  semaphore* limiter() noexcept { return limiter_ ? &*limiter_ : nullptr; }
  task_observer* observer() const noexcept { return observer_; }

  void child_started() {
    std::lock_guard lock(mutex_);
    ++running_;
  }

  void child_finished(std::exception_ptr error) {
    bool cancel_siblings = false;
    std::optional<boost::asio::any_completion_handler<void()>> waiter;
    {
      std::lock_guard lock(mutex_);
      if (error) {
        if (is_cancellation(error)) {
          if (!first_cancellation_) first_cancellation_ = error;
        } else if (!first_error_) {
          first_error_ = error;
          cancel_siblings = options_.on_failure == failure_policy::cancel_siblings;
        }
      }
      if (--running_ == 0 && waiter_) {
        waiter.emplace(std::move(*waiter_));
        waiter_.reset();
      }
    }
    if (cancel_siblings) cancel();
    if (waiter) post_completion(executor_, std::move(*waiter));
  }

  /// Completes when no child is running. Cancelling the wait cancels the children instead.
  template <class CompletionToken>
  auto async_wait_all(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void()>(
        [self = shared_from_this()](auto handler) {
          std::unique_lock lock(self->mutex_);
          if (self->running_ == 0) {
            lock.unlock();
            post_completion(std::move(handler));
            return;
          }
          self->waiter_.emplace(std::move(handler));
          // The erased handler has put its own cancellation state in the original slot: the
          // slot to use from now on is the one it exposes.
          auto slot = boost::asio::get_associated_cancellation_slot(*self->waiter_);
          lock.unlock();
          if (slot.is_connected())
            slot.assign([weak = std::weak_ptr(self)](boost::asio::cancellation_type) {
              if (auto state = weak.lock()) state->cancel();
            });
        },
        token);
  }

  /// The error with_task_group reports: the first failure, else the first cancellation.
  std::exception_ptr outcome() const {
    std::lock_guard lock(mutex_);
    return first_error_ ? first_error_ : first_cancellation_;
  }

 private:
  boost::asio::any_io_executor executor_;
  cancellation_source source_;
  task_group_options options_;
  task_observer* observer_;
  std::optional<semaphore> limiter_;

  mutable std::mutex mutex_;
  std::size_t running_ = 0;
  std::exception_ptr first_error_;
  std::exception_ptr first_cancellation_;
  // Boost 1.81's any_completion_handler recurses forever in its move assignment: only
  // move-construct it (hence the optionals).
  std::optional<boost::asio::any_completion_handler<void()>> waiter_;
};

}  // namespace detail

class task_group {
 public:
  explicit task_group(std::shared_ptr<detail::task_group_state> state) : state_(std::move(state)) {}

  /// Spawns a stackless child on the group's executor.
  template <class T>
  void spawn(awaitable<T> child) {
    start(state_->executor(), discard_result(std::move(child)));
  }

  /// Spawns a child on `model`: for thread_pool and blocking, `function()` (or
  /// `function(token)`) runs on `pool`; for green_thread, `function(yield_context)` runs as a
  /// green thread; for stackless, `function()` returns the awaitable to run.
  template <class PoolExecutor, class F>
  void spawn(execution_model model, const PoolExecutor& pool, F function) {
    switch (model) {
      case execution_model::stackless:
        if constexpr (std::is_invocable_v<F&>) {
          if constexpr (detail::is_awaitable<std::invoke_result_t<F&>>) {
            start(state_->executor(), keep_alive_while_running(std::move(function)));
            return;
          }
        }
        break;
      case execution_model::green_thread:
        if constexpr (std::is_invocable_v<F&, yield_context>) {
          start(state_->executor(), as_green_thread(std::move(function)));
          return;
        }
        break;
      case execution_model::thread_pool:
      case execution_model::blocking:
        if constexpr (std::is_invocable_v<F&> || std::is_invocable_v<F&, const cancellation_token&>) {
          start(state_->executor(), discard_result(offload(pool, std::move(function))));
          return;
        }
        break;
    }
    throw std::invalid_argument("flash::task_group::spawn: the function does not fit the model " +
                                std::string(to_string(model)));
  }

  /// Cancels every child; with_task_group then reports the cancellation.
  void cancel() { state_->cancel(); }
  cancellation_token token() const { return state_->token(); }
  const boost::asio::any_io_executor& executor() const noexcept { return state_->executor(); }

 private:
  template <class T>
  static awaitable<void> discard_result(awaitable<T> child) {
    co_await std::move(child);
  }

  // A lambda coroutine reads its captures through the closure: keep the closure in this frame.
  template <class F>
  static awaitable<void> keep_alive_while_running(F function) {
    co_await function();
  }

  template <class F>
  static awaitable<void> as_green_thread(F function) {
    auto executor = co_await boost::asio::this_coro::executor;
    co_await boost::asio::spawn(executor, std::move(function), boost::asio::use_awaitable);
  }

  static awaitable<void> guarded(std::shared_ptr<detail::task_group_state> state,
                                 awaitable<void> child, std::shared_ptr<bool> started) {
    std::optional<semaphore_permit> permit;
    if (semaphore* limiter = state->limiter()) {
      co_await limiter->acquire();
      permit.emplace(*limiter);
    }
    *started = true;
    if (task_observer* observer = state->observer()) observer->task_started();
    co_await std::move(child);
  }

  void start(const boost::asio::any_io_executor& executor, awaitable<void> child) {
    auto state = state_;
    if (state->token().is_cancelled()) return;  // a cancelled group starts nothing new
    auto signal = std::make_shared<boost::asio::cancellation_signal>();
    auto registration = std::make_shared<cancellation_registration>();
    state->child_started();
    task_observer* observer = state->observer();
    if (observer) observer->task_spawned();
    auto spawned_at = std::chrono::steady_clock::now();
    auto started = std::make_shared<bool>(false);
    boost::asio::co_spawn(
        executor, guarded(state, std::move(child), started),
        boost::asio::bind_cancellation_slot(
            signal->slot(), [state, signal, registration, observer, spawned_at, started](std::exception_ptr error) {
              registration->reset();
              if (observer)
                observer->task_finished(std::chrono::steady_clock::now() - spawned_at,
                                        is_cancellation(error), *started);
              state->child_finished(error);
            }));
    *registration = state->token().on_cancel([executor, signal] {
      boost::asio::dispatch(executor, [signal] { signal->emit(boost::asio::cancellation_type::terminal); });
    });
  }

  std::shared_ptr<detail::task_group_state> state_;
};

/// Runs `body(group)` and waits for every child the group spawned, on every path: when the body
/// or a child fails, the others are cancelled and awaited before the error propagates.
template <class Body>
auto with_task_group(Body& body, task_group_options options = {}, task_observer* observer = nullptr,
                     cancellation_token parent = {})
    -> awaitable<typename std::invoke_result_t<Body&, task_group&>::value_type> {
  using result_type = typename std::invoke_result_t<Body&, task_group&>::value_type;
  auto executor = co_await boost::asio::this_coro::executor;
  auto state = std::make_shared<detail::task_group_state>(executor, parent, options, observer);
  task_group group(state);

  std::exception_ptr body_error;
  std::optional<detail::storable_t<result_type>> result;
  try {
    if constexpr (std::is_void_v<result_type>) {
      co_await body(group);
      result.emplace();
    } else {
      result.emplace(co_await body(group));
    }
  } catch (...) {
    body_error = std::current_exception();
    group.cancel();
  }

  // Wait for the children even when this coroutine is being cancelled: they must not outlive it.
  auto cancellation = co_await boost::asio::this_coro::cancellation_state;
  if (cancellation.cancelled() != boost::asio::cancellation_type::none) group.cancel();
  const bool throw_if_cancelled = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  co_await state->async_wait_all(boost::asio::use_awaitable);
  co_await boost::asio::this_coro::throw_if_cancelled(throw_if_cancelled);

  if (body_error && !is_cancellation(body_error)) std::rethrow_exception(body_error);
  if (auto error = state->outcome()) std::rethrow_exception(error);
  if (body_error) std::rethrow_exception(body_error);
  if constexpr (!std::is_void_v<result_type>) co_return std::move(*result);
}

}  // namespace flash
