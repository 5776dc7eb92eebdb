#pragma once
// The executors a command runs on, and running its handler to completion on a chosen model.
//
// The I/O context is driven by the calling (main) thread; the work-stealing pool is created on
// first use. The runtime owns the command's root cancellation source: SIGINT and SIGTERM, and
// the command's timeout, cancel it, and through it every suspended operation of the handler.

#include <flash/core/config.hpp>
#include <flash/core/error.hpp>
#include <flash/core/function_ref.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/exec/model.hpp>
#include <flash/exec/signals.hpp>
#include <flash/exec/stack_pool.hpp>
#include <flash/exec/thread_pool.hpp>
#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/memory.hpp>
#include <flash/runtime/metrics.hpp>
#include <flash/runtime/resource_scope.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>

namespace flash {
namespace detail {
struct drive_state;
}

struct runtime_options {
  std::size_t pool_threads = 0;                ///< 0: one per hardware thread
  std::size_t green_stack_size = 128 * 1024;   ///< bytes of stack for each green thread
  std::size_t max_concurrency = 10;            ///< children a context's task groups run at once
  std::optional<std::chrono::milliseconds> timeout{};  ///< for the whole command
  std::optional<std::size_t> memory_limit{};   ///< bytes the context's allocator may hand out
};

class runtime {
 public:
  using executor_type = boost::asio::any_io_executor;

  explicit runtime(runtime_options options = {})
      : options_(options), memory_(options.memory_limit, &metrics_) {}
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  ~runtime();

  /// The I/O context, created on first use: a blocking command never pays for one.
  boost::asio::io_context& io_context() {
    if (!io_) io_.emplace(1);
    return *io_;
  }

  thread_pool& pool() {
    if (!pool_) pool_ = std::make_unique<thread_pool>(options_.pool_threads);
    return *pool_;
  }

  const runtime_options& options() const noexcept { return options_; }
  cancellation_token token() const { return cancel_.token(); }
  flash::metrics& metrics() noexcept { return metrics_; }
  counting_memory_resource& memory() noexcept { return memory_; }
  resource_tracker& resources() noexcept { return resources_; }

  /// The metrics as they stand, with the pool's stealing counts.
  flash::metrics_snapshot snapshot_metrics() {
    if (pool_) {
      auto stats = pool_->stats();
      metrics_.set_steal_counts(stats.steal_attempts, stats.steal_successes);
    }
    return metrics_.snapshot();
  }

  /// The signal (SIGINT or SIGTERM) that asked the running command to stop, or 0.
  static int interrupt_signal() noexcept { return detail::pending_interrupt().load(); }

  // The handler's body arrives type-erased: what follows is compiled once per program, not once
  // per command.
  using sync_body = function_ref<int(executor_type)>;
  using stackless_body = function_ref<awaitable<int>(executor_type)>;
  using green_body = function_ref<int(executor_type, yield_context)>;

  /// Runs a plain function `int(executor_type)` on `model`.
  int run_sync(execution_model model, sync_body body);

  /// Runs a coroutine factory `awaitable<int>(executor_type)` on `model`.
  int run_stackless(execution_model model, stackless_body body);

  /// Runs a stackful function `int(executor_type, yield_context)` as a green thread; on the pool
  /// when `model` is thread_pool, else on the I/O context.
  int run_green(execution_model model, green_body body);

 private:
  executor_type executor_for(execution_model model);

  static awaitable<int> call_sync(sync_body body, executor_type executor);

  // Boost 1.81's yield_context mishandles completions carrying an exception_ptr, so the
  // coroutine's outcome travels beside a plain void() completion.
  static int await_in_green_thread(executor_type target, awaitable<int> work, yield_context yield);

  // The completion handler drive() gives the work it starts: `void(std::exception_ptr, int)`,
  // run on the I/O context, with the root cancellation slot bound. It is one type whatever the
  // model, so co_spawn, spawn and the pool hand-off are each compiled once per program.
  struct finish {
    detail::drive_state* state;
    void operator()(std::exception_ptr error, int status) const;
  };
  using done_handler = boost::asio::cancellation_slot_binder<
      boost::asio::executor_binder<finish, boost::asio::io_context::executor_type>, boost::asio::cancellation_slot>;

  // Starts the work with a done_handler, then drives the I/O context on this thread until the
  // work has finished.
  int drive(executor_type target, function_ref<void(done_handler)> start);

  // drive() for the two ways work starts: a coroutine through co_spawn, a green thread.
  int drive_coroutine(executor_type target, function_ref<awaitable<int>()> work);
  int drive_green(executor_type target, function_ref<int(yield_context)> work);

  void watch_signals(detail::drive_state& state);

  runtime_options options_;
  cancellation_source cancel_;
  flash::metrics metrics_;
  counting_memory_resource memory_;
  resource_tracker resources_;
  std::optional<stack_pool> green_stacks_;
  std::optional<boost::asio::io_context> io_;
  std::unique_ptr<thread_pool> pool_;
};

}  // namespace flash

#if defined(FLASH_HEADER_ONLY)
#include <flash/exec/impl/runtime.ipp>
#endif
