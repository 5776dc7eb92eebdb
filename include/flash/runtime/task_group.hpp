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
#include <flash/exec/task.hpp>
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
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <typeinfo>
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
#if defined(__GLIBCXX__) && defined(__cpp_rtti)
  if (const std::type_info* type = error.__cxa_exception_type(); type && *type == typeid(detail::task_cancelled))
    return true;
#endif
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

class task_group_state;

// One spawned child, from its spawn to its completion. The group links the live ones so that a
// single callback on the group's token reaches them all (a spawn registers nothing with the
// token), and recycles them: records come in blocks, and a reused record's signal reuses the
// memory Asio allocated in it for the previous child's cancellation handler. A flash::task
// child runs with the record as the root of its chain.
struct child_record : task_root {  // task_root::signal is bound to an awaitable child's co_spawn
  bool cancelled = false;
  bool started = false;
  bool running = false;    // between spawn and completion (under the group's mutex)
  bool linked = false;     // on one of the group's lists of running children
  bool signalled = false;  // which of those lists: cancellation emitted or not
  std::uint32_t generation = 0;  // how many children this record has served
  task_group_state* group = nullptr;
  std::exception_ptr error;  // how the child ended, classified where it was caught
  std::chrono::steady_clock::time_point spawned_at;  // only with an observer
  child_record* prev = nullptr;                      // the group's lists of live children,
  child_record* next = nullptr;                      // or of free records
};

class task_group_state : public std::enable_shared_from_this<task_group_state> {
 public:
  task_group_state(boost::asio::any_io_executor executor, const cancellation_token& parent,
                   task_group_options options, task_observer* observer)
      : executor_(std::move(executor)), source_(parent), options_(options), observer_(observer) {
    if (options_.max_concurrency > 0) limiter_.emplace(options_.max_concurrency);
  }

  /// Called once, right after construction: cancelling the group's token emits a terminal
  /// cancellation to every live child, on the group's executor.
  void watch_cancellation() {
    registration_ = source_.token().on_cancel([weak = weak_from_this()] {
      if (auto state = weak.lock()) {
        state->cancelling_.store(true, std::memory_order_release);
        boost::asio::dispatch(state->executor_, [state] { state->cancel_children(); });
      }
    });
  }

  const boost::asio::any_io_executor& executor() const noexcept { return executor_; }
  cancellation_token token() const { return source_.token(); }
  void cancel() { source_.request_cancel(); }
  semaphore* limiter() noexcept { return limiter_ ? &*limiter_ : nullptr; }
  task_observer* observer() const noexcept { return observer_; }
  bool cancelling() const noexcept { return cancelling_.load(std::memory_order_acquire); }

  /// A fresh record for a child about to be spawned; a flash::task child's keeps the group alive
  /// until it finishes.
  child_record& child_started(bool task_child = false) {
    std::lock_guard lock(mutex_);
    if (task_child && tasks_running_++ == 0) self_while_tasks_run_ = shared_from_this();
    if (!free_) grow();
    child_record& child = *free_;
    free_ = child.next;
    child.next = nullptr;
    child.error = nullptr;
    child.cancelled = child.started = child.signalled = child.linked = false;
    child.cancel_requested.store(false, std::memory_order_relaxed);
    child.cancel_hook = nullptr;
    child.signal.slot().clear();  // nothing of the previous child's may be cancelled
    child.running = true;
    ++child.generation;
    ++running_;
    return child;
  }

  /// Makes a spawned child reachable by the group's cancellation, unless it already finished
  /// (it runs inline until it first suspends, and may end there). As with a registration made
  /// after the spawn, a child that cancels its group while running inline is not cancelled
  /// itself. Returns whether the group is being cancelled.
  bool child_spawned(child_record& child, std::uint32_t generation) {
    std::lock_guard lock(mutex_);
    if (child.running && !child.linked && child.generation == generation) {
      link(child, children_);
      child.linked = true;
    }
    return cancelling_.load(std::memory_order_relaxed);
  }

  /// Gives back an awaitable child's record once its completion handler is gone.
  void release(child_record& child) noexcept {
    std::lock_guard lock(mutex_);
    if (child.running) {  // the handler was destroyed unrun: the executor is shutting down
      if (child.linked) unlink(child);
      child.running = child.linked = false;
    }
    push_free(child);
  }

  /// Records how a child ended and wakes the waiter after the last one. A flash::task child's
  /// record is given back too (`release_task_child`), under the same lock.
  void child_finished(child_record& child, bool release_task_child = false) {
    std::shared_ptr<task_group_state> last_reference;  // may destroy the group: released last
    bool cancel_siblings = false;
    std::optional<boost::asio::any_completion_handler<void()>> waiter;
    {
      std::lock_guard lock(mutex_);
      if (child.linked) unlink(child);
      child.running = child.linked = false;
      if (child.error) {
        if (child.cancelled) {
          if (!first_cancellation_) first_cancellation_ = child.error;
        } else if (!first_error_) {
          first_error_ = child.error;
          cancel_siblings = options_.on_failure == failure_policy::cancel_siblings;
        }
      }
      if (--running_ == 0 && waiter_) {
        waiter.emplace(std::move(*waiter_));
        waiter_.reset();
      }
      if (release_task_child) {
        if (--tasks_running_ == 0) last_reference = std::move(self_while_tasks_run_);
        push_free(child);
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
  static void link(child_record& child, child_record*& head) noexcept {
    child.prev = nullptr;
    child.next = head;
    if (head) head->prev = &child;
    head = &child;
  }

  void push_free(child_record& child) noexcept {
    child.prev = nullptr;
    child.next = free_;
    free_ = &child;
  }

  void unlink(child_record& child) noexcept {
    (child.prev ? child.prev->next : (child.signalled ? signalled_ : children_)) = child.next;
    if (child.next) child.next->prev = child.prev;
    child.prev = child.next = nullptr;
  }

  void grow() {
    const std::size_t count = blocks_.empty() ? 8 : std::min<std::size_t>(block_size_ * 2, 1024);
    blocks_.push_back(std::make_unique<child_record[]>(count));
    block_size_ = count;
    for (std::size_t i = count; i-- > 0;) {
      blocks_.back()[i].group = this;
      blocks_.back()[i].next = free_;
      free_ = &blocks_.back()[i];
    }
  }

 public:
  // On the group's executor. Emitting may complete a child at once (and unlink it), so each
  // child is moved to the signalled list under the lock and emitted to outside it: a child is
  // only ever signalled while it is still running.
  void cancel_children() {
    for (;;) {
      child_record* child;
      {
        std::lock_guard lock(mutex_);
        child = children_;
        if (!child) return;
        unlink(*child);
        child->signalled = true;
        link(*child, signalled_);
      }
      child->request_cancel(boost::asio::cancellation_type::terminal);
    }
  }

 private:

  boost::asio::any_io_executor executor_;
  cancellation_source source_;
  task_group_options options_;
  task_observer* observer_;
  std::optional<semaphore> limiter_;
  std::atomic<bool> cancelling_{false};
  cancellation_registration registration_;

  mutable std::mutex mutex_;
  std::size_t running_ = 0;
  // An awaitable child's completion handler holds the group; a flash::task child has none, so
  // while any runs, the group holds itself.
  std::size_t tasks_running_ = 0;
  std::shared_ptr<task_group_state> self_while_tasks_run_;
  child_record* children_ = nullptr;   // running, not yet signalled
  child_record* signalled_ = nullptr;  // running, cancellation emitted
  child_record* free_ = nullptr;
  std::vector<std::unique_ptr<child_record[]>> blocks_;  // every record
  std::size_t block_size_ = 0;
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
    start(state_->executor(), std::move(child));
  }

  /// Spawns a flash::task child on the group's executor: no frame but its own, so the cheapest
  /// child there is. Like any child, it starts at once when spawned on that executor's thread,
  /// and runs until it first suspends.
  template <class T>
  void spawn(task<T> child) {
    detail::task_group_state* state = state_.get();
    if (state->limiter()) return spawn(as_awaitable(std::move(child)));  // waits for a place
    if (state->token().is_cancelled()) return;
    task_observer* observer = state->observer();
    if (observer) observer->task_spawned();
    detail::child_record& record = state->child_started(/*task_child=*/true);
    const std::uint32_t generation = record.generation;
    if (observer) {
      record.spawned_at = std::chrono::steady_clock::now();
      observer->task_started();
    }
    record.started = true;
    record.executor = &state->executor();
    record.finish = &task_finished;
    detail::task_spawner::adopt(std::move(child), record);
    boost::asio::dispatch(state->executor(), detail::task_resumption(record, record.frame));
    if (state->child_spawned(record, generation))
      boost::asio::dispatch(state->executor(), [state = state_] { state->cancel_children(); });
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
          start(state_->executor(), offload(pool, std::move(function)));
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

  // The one frame a child adds: it waits for a place under the limit, runs the child, and
  // classifies how it ended in the catch that ends the exception's journey (one rethrow fewer
  // than classifying the exception_ptr afterwards, which matters when 10,000 children are
  // cancelled at once).
  template <class T>
  static awaitable<void> guarded(detail::task_group_state* state, awaitable<T> child,
                                 detail::child_record* record) {
    try {
      std::optional<semaphore_permit> permit;
      if (semaphore* limiter = state->limiter()) {
        co_await limiter->acquire();
        permit.emplace(*limiter);
      }
      record->started = true;
      if (task_observer* observer = state->observer()) observer->task_started();
      co_await std::move(child);
    } catch (const flash::error& e) {
      record->error = std::current_exception();
      record->cancelled = e.code() == errc::cancelled;
    } catch (const boost::system::system_error& e) {
      record->error = std::current_exception();
      record->cancelled = e.code() == boost::asio::error::operation_aborted;
    } catch (...) {
      record->error = std::current_exception();
    }
    // The child is done: keep co_spawn from throwing operation_aborted on its way out (its last
    // co_await checks for a cancellation that no longer has anything to stop), which would cost
    // a throw and a rethrow per cancelled child.
    co_await boost::asio::this_coro::throw_if_cancelled(false);
  }

  static void task_finished(detail::task_root& root, std::exception_ptr error) noexcept {
    auto& record = static_cast<detail::child_record&>(root);
    detail::task_group_state& state = *record.group;
    record.cancelled = is_cancellation(error);
    record.error = std::move(error);
    if (task_observer* observer = state.observer())
      observer->task_finished(std::chrono::steady_clock::now() - record.spawned_at, record.cancelled, true);
    state.child_finished(record, /*release_task_child=*/true);
  }

  template <class T>
  void start(const boost::asio::any_io_executor& executor, awaitable<T> child) {
    detail::task_group_state* state = state_.get();
    if (state->token().is_cancelled()) return;  // a cancelled group starts nothing new
    task_observer* observer = state->observer();
    if (observer) observer->task_spawned();
    detail::child_record& record = state->child_started();
    const std::uint32_t generation = record.generation;
    if (observer) record.spawned_at = std::chrono::steady_clock::now();
    // Owns the record for the completion handler, and gives it back when the handler is
    // destroyed (after it ran, or unrun when the executor shuts down).
    struct record_owner {
      std::shared_ptr<detail::task_group_state> state;
      void operator()(detail::child_record* record) const noexcept { state->release(*record); }
    };
    std::unique_ptr<detail::child_record, record_owner> owner(&record, record_owner{state_});
    boost::asio::co_spawn(
        executor, guarded(state, std::move(child), &record),
        boost::asio::bind_cancellation_slot(
            record.signal.slot(), [owner = std::move(owner)](std::exception_ptr error) {
              detail::child_record& record = *owner;
              detail::task_group_state& state = *owner.get_deleter().state;
              if (error) {  // only what escaped guarded(), such as bad_alloc
                record.cancelled = is_cancellation(error);
                record.error = std::move(error);
              }
              if (task_observer* observer = state.observer())
                observer->task_finished(std::chrono::steady_clock::now() - record.spawned_at,
                                        record.cancelled, record.started);
              state.child_finished(record);
            }));
    // Cancelled while we were spawning: the group's callback may have missed this child.
    if (state->child_spawned(record, generation))
      boost::asio::dispatch(executor, [state = state_] { state->cancel_children(); });
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
  state->watch_cancellation();
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
