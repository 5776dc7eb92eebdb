#pragma once
// A lean stackless coroutine, for code that runs many small tasks at once:
//
//   flash::task<std::size_t> fetch(tcp::socket& socket, std::span<char> buffer) {
//     co_return co_await socket.async_read_some(asio::buffer(buffer), flash::use_task);
//   }
//   group.spawn(fetch(socket, buffer));                          // in a task group
//   auto n = co_await flash::as_awaitable(fetch(socket, buffer)); // from a flash::awaitable
//
// A flash::awaitable (Asio's awaitable) runs on a thread object of its own, which co_spawn
// allocates beside the frame. A task is its frame and nothing else: awaiting one is a
// symmetric transfer, spawning one in a task group adds no frame and no shared state, and
// frames come from a per-thread cache. Inside a task, co_await another task, an Asio operation
// given flash::use_task as its completion token (as_tuple(flash::use_task) reports errors as
// values instead of throwing), or a flash::awaitable (run through co_spawn, at its cost).
//
// A task starts when it is awaited or spawned, and runs on the executor of whoever did that.
// Cancellation reaches the Asio operation the task is suspended in, as with flash::awaitable.

#include <flash/exec/awaitable.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace flash {

template <class T = void>
class task;

/// The completion token that makes an Asio operation awaitable in a flash::task:
/// `co_await timer.async_wait(flash::use_task);`
struct use_task_t {
  constexpr use_task_t() noexcept = default;
};
inline constexpr use_task_t use_task;

namespace detail {

struct task_spawner;

// The operation_aborted a cancelled wait of a task throws. Its own type lets
// flash::is_cancellation recognise it without rethrowing it to read it, which matters when
// 10,000 tasks are cancelled at once; it is copied from one made once, since building a
// system_error formats its message.
class task_cancelled : public boost::system::system_error {
 public:
  task_cancelled() : boost::system::system_error(prototype()) {}

 private:
  static const boost::system::system_error& prototype() {
    static const boost::system::system_error made(boost::asio::error::operation_aborted);
    return made;
  }
};

// Always inlined: every frame between the throw and the catch costs the unwinder twice.
[[noreturn, gnu::always_inline]] inline void throw_cancellation() { throw task_cancelled(); }

// What a failed wait throws: its cancellation as above, any other error as a system_error.
template <class ErrorCode>
[[noreturn, gnu::always_inline]] inline void throw_wait_failure(const ErrorCode& failure) {
  if (failure == boost::asio::error::operation_aborted) throw_cancellation();
  throw boost::system::system_error(failure);
}

// Coroutine frames come from small per-thread free lists, one per 16-byte size class. A task
// that ends gives its frame to the thread it ended on; the lists keep a few frames of each size
// and give the rest back to the heap, so a burst of tasks does not stay allocated.
class frame_cache {
 public:
  static void* allocate(std::size_t size) {
    const std::size_t index = class_of(size);
    if (index >= classes) return ::operator new(size);
    lists& cache = local();
    if (block* free = cache.heads[index]) {
      cache.heads[index] = free->next;
      --cache.counts[index];
      return free;
    }
    return ::operator new(class_size(index));
  }

  static void deallocate(void* memory, std::size_t size) noexcept {
    const std::size_t index = class_of(size);
    if (index >= classes) return ::operator delete(memory);
    lists& cache = local();
    if (cache.counts[index] == kept_per_class) return ::operator delete(memory);
    cache.heads[index] = ::new (memory) block{cache.heads[index]};
    ++cache.counts[index];
  }

 private:
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t classes = 64;  // frames up to 1 KiB
  static constexpr unsigned kept_per_class = 128;

  struct block {
    block* next;
  };
  struct lists {
    block* heads[classes] = {};
    unsigned counts[classes] = {};
    ~lists() {
      for (block* head : heads)
        while (head) ::operator delete(std::exchange(head, head->next));
    }
  };

  static std::size_t class_of(std::size_t size) noexcept { return (size + granule - 1) / granule - 1; }
  static std::size_t class_size(std::size_t index) noexcept { return (index + 1) * granule; }
  static lists& local() noexcept {
    thread_local lists cache;
    return cache;
  }
};

class task_timer_service;

// What a spawned task and the tasks it awaits share: where they run, the cancellation they
// listen to, and whom to tell when the outermost one ends.
struct task_root {
  std::coroutine_handle<> frame;  // the outermost task's
  const boost::asio::any_io_executor* executor = nullptr;
  boost::asio::cancellation_signal signal;  // the Asio operations the chain awaits bind to it
  // Called once the outermost frame is gone, with how it ended.
  void (*finish)(task_root&, std::exception_ptr) noexcept = nullptr;

  // A Flash wait that needs no Asio operation (flash::sleep_for with use_task) keeps its state
  // here rather than in the awaiting frame: a chain waits for one thing at a time, and GCC
  // keeps every awaiter in the frame for the frame's whole life. Cancelling the wait calls the
  // hook instead of emitting the signal, so registering costs no allocation.
  void (*cancel_hook)(task_root&) noexcept = nullptr;
  std::coroutine_handle<> waiting_frame;             // the frame the wait resumes
  // The sleep heap of the executor's context, looked up at the chain's first sleep (Asio's
  // use_service takes a mutex, which costs an atomic operation once a program has threads).
  task_timer_service* timers = nullptr;
  std::chrono::steady_clock::time_point wait_deadline;
  static constexpr std::uint32_t not_queued = UINT32_MAX;
  std::uint32_t wait_index = not_queued;  // the waiter's place in its timer's queue
  bool wait_cancelled = false;

  std::atomic<bool> cancel_requested{false};  // last: a derived record's fields pack after it

  /// On the chain's executor, as Asio's cancellation is.
  void request_cancel(boost::asio::cancellation_type type) {
    cancel_requested.store(true, std::memory_order_release);
    if (auto hook = std::exchange(cancel_hook, nullptr)) hook(*this);
    signal.emit(type);
  }

  /// Ends a chain whose resumption was dropped unrun (its executor shut down): destroys the
  /// frames and reports a cancellation.
  void abandon() noexcept {
    std::exchange(frame, nullptr).destroy();
    finish(*this, std::make_exception_ptr(
                      boost::system::system_error(boost::asio::error::operation_aborted)));
  }
};

class task_promise_base {
 public:
  static void* operator new(std::size_t size) { return frame_cache::allocate(size); }
  static void operator delete(void* memory, std::size_t size) noexcept {
    frame_cache::deallocate(memory, size);
  }

  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> frame) const noexcept {
      task_promise_base& promise = frame.promise();
      if (promise.continuation_) return promise.continuation_;
      task_root& root = *promise.root_;
      std::exception_ptr error = std::move(promise.error_);
      root.frame = nullptr;
      frame.destroy();
      root.finish(root, std::move(error));
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() const noexcept { return {}; }

  void unhandled_exception() noexcept { error_ = std::current_exception(); }

  task_root& root() const noexcept { return *root_; }

  /// `co_await boost::asio::this_coro::executor`: the executor the task runs on.
  auto await_transform(boost::asio::this_coro::executor_t) const noexcept {
    struct executor_awaiter {
      const boost::asio::any_io_executor& executor;
      bool await_ready() const noexcept { return true; }
      void await_suspend(std::coroutine_handle<>) const noexcept {}
      boost::asio::any_io_executor await_resume() const noexcept { return executor; }
    };
    return executor_awaiter{*root_->executor};
  }

  /// Runs a flash::awaitable through co_spawn on the task's executor.
  template <class T, class Executor>
  auto await_transform(boost::asio::awaitable<T, Executor> work) {
    return boost::asio::co_spawn(*root_->executor, std::move(work), use_task);
  }
  template <class Awaiter>
  Awaiter&& await_transform(Awaiter&& awaiter) const noexcept {
    return std::forward<Awaiter>(awaiter);
  }

 protected:
  void rethrow_if_failed() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  template <class T>
  friend class flash::task;
  friend struct task_spawner;

  std::coroutine_handle<> continuation_;  // the task awaiting this one; none for the outermost
  task_root* root_ = nullptr;
  std::exception_ptr error_;
};

template <class T>
class task_promise final : public task_promise_base {
 public:
  task<T> get_return_object() noexcept;
  template <class U = T>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }
  T result() {
    rethrow_if_failed();
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class task_promise<void> final : public task_promise_base {
 public:
  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void result() const { rethrow_if_failed(); }
};

template <class Promise>
concept task_promise_type = std::is_base_of_v<task_promise_base, Promise>;

}  // namespace detail

/// A lazily started coroutine returning T; see the top of this header.
template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task(task&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.destroy();
      frame_ = std::exchange(other.frame_, nullptr);
    }
    return *this;
  }
  ~task() {
    if (frame_) frame_.destroy();
  }

  class awaiter {
   public:
    explicit awaiter(std::coroutine_handle<promise_type> child) noexcept : child_(child) {}
    bool await_ready() const noexcept { return false; }
    template <detail::task_promise_type Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> parent) const noexcept {
      child_.promise().continuation_ = parent;
      child_.promise().root_ = &parent.promise().root();
      return child_;
    }
    T await_resume() const { return child_.promise().result(); }

   private:
    std::coroutine_handle<promise_type> child_;
  };
  /// Only a flash::task can await a task; from a flash::awaitable, use flash::as_awaitable.
  awaiter operator co_await() && noexcept { return awaiter(frame_); }

 private:
  friend promise_type;
  friend struct detail::task_spawner;
  explicit task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}

  std::coroutine_handle<promise_type> frame_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>(std::coroutine_handle<task_promise<T>>::from_promise(*this));
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>(std::coroutine_handle<task_promise<void>>::from_promise(*this));
}

// Starts a task as the outermost of a chain, on the root's executor.
struct task_spawner {
  template <class T>
  static std::coroutine_handle<> adopt(task<T> work, task_root& root) noexcept {
    auto frame = std::exchange(work.frame_, nullptr);
    frame.promise().root_ = &root;
    root.frame = frame;
    return frame;
  }
};

// A handler that resumes a frame of a chain when run, and ends the chain when destroyed unrun.
class task_resumption {
 public:
  task_resumption(task_root& root, std::coroutine_handle<> frame) noexcept : root_(&root), frame_(frame) {}
  task_resumption(task_resumption&& other) noexcept
      : root_(std::exchange(other.root_, nullptr)), frame_(other.frame_) {}
  task_resumption& operator=(task_resumption&&) = delete;
  ~task_resumption() {
    if (root_) root_->abandon();
  }
  void operator()() {
    root_ = nullptr;
    frame_.resume();
  }

 private:
  task_root* root_;
  std::coroutine_handle<> frame_;
};

// --- Asio operations awaited with use_task ----------------------------------------------------

template <class T>
inline constexpr bool is_error_code = std::is_same_v<std::decay_t<T>, boost::system::error_code>;

// What an operation completing with Args... gives the task, as use_awaitable does: an error
// code or exception_ptr first is thrown when set and dropped otherwise; then nothing, the one
// value, or a tuple of them.
template <class... Args>
struct operation_result {
  using type = std::tuple<Args...>;
  static type take(std::tuple<Args...>&& args) { return std::move(args); }
};
template <>
struct operation_result<> {
  using type = void;
  static void take(std::tuple<>&&) {}
};
template <class T>
inline constexpr bool is_failure = is_error_code<T> || std::is_same_v<std::decay_t<T>, std::exception_ptr>;

template <class Arg>
  requires(!is_failure<Arg>)
struct operation_result<Arg> {
  using type = Arg;
  static Arg take(std::tuple<Arg>&& args) { return std::move(std::get<0>(args)); }
};
template <class First, class... Rest>
  requires is_failure<First>
struct operation_result<First, Rest...> {
  using type = typename operation_result<Rest...>::type;
  static type take(std::tuple<First, Rest...>&& args) {
    if (const auto& failure = std::get<0>(args)) {
      if constexpr (is_error_code<First>)
        throw_wait_failure(failure);
      else
        std::rethrow_exception(failure);
    }
    return operation_result<Rest...>::take(
        std::apply([](auto&&, auto&&... rest) { return std::tuple<Rest...>(std::move(rest)...); },
                   std::move(args)));
  }
};

// The result an operation would have given had it been cancelled before it began: known when
// it reports errors with an error code first (also inside as_tuple's tuple).
template <class... Args>
struct aborted_result {
  static constexpr bool known = false;
};
template <class First, class... Rest>
  requires(is_error_code<First> && (std::is_default_constructible_v<Rest> && ...))
struct aborted_result<First, Rest...> {
  static constexpr bool known = true;
  static std::tuple<First, Rest...> make() { return {boost::asio::error::operation_aborted, Rest()...}; }
};
template <class... Inner>
  requires(aborted_result<Inner...>::known)
struct aborted_result<std::tuple<Inner...>> {
  static constexpr bool known = true;
  static std::tuple<std::tuple<Inner...>> make() { return {aborted_result<Inner...>::make()}; }
};

template <class Signature, class Initiation, class... InitArgs>
class operation_awaiter;

template <class... Args, class Initiation, class... InitArgs>
class operation_awaiter<void(Args...), Initiation, InitArgs...> {
  using values = std::tuple<std::decay_t<Args>...>;
  using result = operation_result<std::decay_t<Args>...>;

 public:
  template <class I, class... A>
  explicit operation_awaiter(I&& initiation, A&&... args)
      : initiation_(std::forward<I>(initiation)), arguments_(std::forward<A>(args)...) {}
  // Moved only before it is awaited, as a value returned through the layers of async_result.
  operation_awaiter(operation_awaiter&& other)
      : initiation_(std::move(other.initiation_)), arguments_(std::move(other.arguments_)) {}

  bool await_ready() const noexcept { return false; }

  template <task_promise_type Promise>
  bool await_suspend(std::coroutine_handle<Promise> frame) {
    task_root& root = frame.promise().root();
    // A cancellation that came while the task was not suspended reaches no operation: start
    // none, and report what a cancelled one would have.
    if constexpr (aborted_result<std::decay_t<Args>...>::known) {
      if (root.cancel_requested.load(std::memory_order_acquire)) {
        values_.emplace(aborted_result<std::decay_t<Args>...>::make());
        return false;
      }
    }
    std::apply(
        [&](auto&... arguments) {
          std::move(initiation_)(completion(this, frame, root), std::move(arguments)...);
        },
        arguments_);
    // A request that came before the operation installed its handler (one with no error code
    // to report it, above) reaches it now.
    if (root.cancel_requested.load(std::memory_order_acquire) &&
        state_.load(std::memory_order_acquire) == initiating)
      root.signal.emit(boost::asio::cancellation_type::terminal);
    // From here the operation may complete on another thread and the frame be gone: the
    // exchange decides who resumes, and nothing of the frame is touched after it.
    state expected = initiating;
    if (state_.compare_exchange_strong(expected, suspended, std::memory_order_acq_rel)) return true;
    if (expected == completed) {
      root.signal.slot().clear();
      return false;  // it completed inside its initiation: go on at once
    }
    root.abandon();  // it was dropped unrun inside its initiation
    return true;
  }

  typename result::type await_resume() { return result::take(std::move(*values_)); }

 private:
  enum state : unsigned char { initiating, suspended, completed, dropped };

  // The handler the operation completes: it stores the values and resumes the task, on the
  // task's executor, and gives the operation the task's cancellation slot. Destroyed without
  // being called, it ends the task's chain. Until await_suspend has returned, both leave the
  // frame to it.
  class completion {
   public:
    completion(operation_awaiter* awaiter, std::coroutine_handle<> frame, task_root& root) noexcept
        : awaiter_(awaiter), frame_(frame), root_(&root) {}
    completion(completion&& other) noexcept
        : awaiter_(other.awaiter_), frame_(other.frame_), root_(std::exchange(other.root_, nullptr)) {}
    completion& operator=(completion&&) = delete;
    ~completion() {
      if (root_ && awaiter_->state_.exchange(dropped, std::memory_order_acq_rel) == suspended)
        root_->abandon();
    }

    using executor_type = boost::asio::any_io_executor;
    executor_type get_executor() const noexcept { return *root_->executor; }
    using cancellation_slot_type = boost::asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept { return root_->signal.slot(); }

    template <class... Values>
    void operator()(Values&&... results) {
      awaiter_->values_.emplace(std::forward<Values>(results)...);
      task_root* root = std::exchange(root_, nullptr);
      if (awaiter_->state_.exchange(completed, std::memory_order_acq_rel) != suspended) return;
      // The operation is over: its cancellation handler must not outlive it in the signal.
      root->signal.slot().clear();
      frame_.resume();
    }

   private:
    operation_awaiter* awaiter_;
    std::coroutine_handle<> frame_;
    task_root* root_;
  };

  Initiation initiation_;
  std::tuple<InitArgs...> arguments_;
  std::optional<values> values_;
  std::atomic<state> state_{initiating};
};

// --- a task awaited from a flash::awaitable ---------------------------------------------------

template <class T>
using task_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
task<void> store_result(task<T> work, std::optional<task_value_t<T>>& value) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(work);
    value.emplace();
  } else {
    value.emplace(co_await std::move(work));
  }
}

// Runs a task as the outermost of its chain and completes `handler` with how it ended.
template <class T, class Handler>
class task_runner final : task_root {
 public:
  task_runner(Handler handler, boost::asio::any_io_executor executor,
              boost::asio::any_io_executor handler_executor)
      : handler_(std::move(handler)),
        executor_(std::move(executor)),
        handler_executor_(std::move(handler_executor)) {
    task_root::executor = &executor_;
    finish = &finished;
  }

  void start(task<T> work) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected())
      slot.assign([this](boost::asio::cancellation_type type) { request_cancel(type); });
    auto frame = task_spawner::adopt(store_result(std::move(work), value_), *this);
    boost::asio::dispatch(executor_, task_resumption(*this, frame));
  }

 private:
  static void finished(task_root& root, std::exception_ptr error) noexcept {
    auto* self = static_cast<task_runner*>(&root);
    auto slot = boost::asio::get_associated_cancellation_slot(self->handler_);
    if (slot.is_connected()) slot.clear();
    Handler handler = std::move(self->handler_);
    boost::asio::any_io_executor executor = std::move(self->handler_executor_);
    std::optional<task_value_t<T>> value = std::move(self->value_);
    delete self;
    // Never inline: the task may have ended inside the initiation.
    boost::asio::post(executor, [handler = std::move(handler), error = std::move(error),
                                 value = std::move(value)]() mutable {
      if constexpr (std::is_void_v<T>)
        std::move(handler)(error);
      else
        std::move(handler)(error, value ? std::move(*value) : T());
    });
  }

  Handler handler_;
  boost::asio::any_io_executor executor_;  // the task's
  boost::asio::any_io_executor handler_executor_;
  std::optional<task_value_t<T>> value_;
};

template <class T>
struct task_completion {
  using type = void(std::exception_ptr, T);
};
template <>
struct task_completion<void> {
  using type = void(std::exception_ptr);
};
template <class T>
using task_completion_t = typename task_completion<T>::type;

}  // namespace detail

/// Runs `work` from Asio code, as `asio::co_spawn` runs an awaitable: on `executor` (or an
/// execution context's executor), completing the token on its associated executor, which defaults
/// to `executor`. Cancelling the operation (the token's cancellation slot) cancels the task.
template <class Executor, class T, class CompletionToken>
  requires boost::asio::execution::executor<Executor>
auto async_run(const Executor& executor, task<T> work, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, detail::task_completion_t<T>>(
      [](auto handler, const Executor& executor, task<T> work) {
        using handler_type = decltype(handler);
        auto handler_executor = boost::asio::get_associated_executor(handler, executor);
        auto* runner = new detail::task_runner<T, handler_type>(std::move(handler), executor,
                                                                std::move(handler_executor));
        runner->start(std::move(work));
      },
      token, executor, std::move(work));
}

template <class ExecutionContext, class T, class CompletionToken>
  requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
auto async_run(ExecutionContext& context, task<T> work, CompletionToken&& token) {
  return async_run(context.get_executor(), std::move(work), std::forward<CompletionToken>(token));
}

/// `co_await flash::as_awaitable(std::move(t))` runs a task from an awaitable, on its executor.
template <class T>
awaitable<T> as_awaitable(task<T> work) {
  co_return co_await async_run(co_await boost::asio::this_coro::executor, std::move(work),
                               boost::asio::use_awaitable);
}

}  // namespace flash

namespace boost::asio {

template <class... Args>
class async_result<flash::use_task_t, void(Args...)> {
 public:
  template <class Initiation, class... InitArgs>
  static auto initiate(Initiation&& initiation, flash::use_task_t, InitArgs&&... args) {
    return flash::detail::operation_awaiter<void(Args...), std::decay_t<Initiation>, std::decay_t<InitArgs>...>(
        std::forward<Initiation>(initiation), std::forward<InitArgs>(args)...);
  }
};

}  // namespace boost::asio
