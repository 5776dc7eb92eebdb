#pragma once
// The executors a command runs on, and running its handler to completion on a chosen model.
//
// The I/O context is driven by the calling (main) thread; the work-stealing pool is created on
// first use. The runtime owns the command's root cancellation source: SIGINT and SIGTERM, and
// the command's timeout, cancel it, and through it every suspended operation of the handler.

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
  ~runtime() {
    if (pool_) pool_->join();
  }

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
  int run_sync(execution_model model, sync_body body) {
    if (model == execution_model::blocking) {
      detail::interrupt_handlers handlers(cancel_.state());
      return body(executor_type());  // the context creates the I/O context if it is asked for
    }
    auto target = executor_for(model);
    if (model == execution_model::thread_pool) {
      return drive(target, [&](auto on_done) {
        boost::asio::post(target, [body, target, on_done = std::move(on_done)]() mutable {
          std::exception_ptr error;
          int status = 0;
          try {
            status = body(target);
          } catch (...) {
            error = std::current_exception();
          }
          // The exception moves to the I/O thread: no reference to it stays on this one.
          auto home = boost::asio::get_associated_executor(on_done);
          boost::asio::dispatch(home, [on_done = std::move(on_done), error = std::move(error), status]() mutable {
            on_done(std::move(error), status);
          });
        });
      });
    }
    if (model == execution_model::green_thread) {
      return drive(target, [&](auto on_done) {
        spawn_green(target, [body, target](yield_context) { return body(target); },
                    std::move(on_done));
      });
    }
    return drive(target, [&](auto on_done) {
      boost::asio::co_spawn(target, call_sync(body, target), std::move(on_done));
    });
  }

  /// Runs a coroutine factory `awaitable<int>(executor_type)` on `model`.
  int run_stackless(execution_model model, stackless_body body) {
    auto target = executor_for(model);
    if (model == execution_model::green_thread) {
      return drive(target, [&](auto on_done) {
        spawn_green(target,
                    [body, target](yield_context yield) {
                      return await_in_green_thread(target, body(target), yield);
                    },
                    std::move(on_done));
      });
    }
    return drive(target, [&](auto on_done) {
      boost::asio::co_spawn(target, body(target), std::move(on_done));
    });
  }

  /// Runs a stackful function `int(executor_type, yield_context)` as a green thread; on the pool
  /// when `model` is thread_pool, else on the I/O context.
  int run_green(execution_model model, green_body body) {
    auto target = executor_for(model);
    return drive(target, [&](auto on_done) {
      spawn_green(target, [body, target](yield_context yield) { return body(target, yield); },
                  std::move(on_done));
    });
  }

 private:
  executor_type executor_for(execution_model model) {
    // Coroutines on the pool run in a strand: cancellation must be delivered where they run.
    if (model == execution_model::thread_pool) return boost::asio::make_strand(pool().get_executor());
    return io_context().get_executor();
  }

  static awaitable<int> call_sync(sync_body body, executor_type executor) {
    co_return body(executor);
  }

  // Boost 1.81's yield_context mishandles completions carrying an exception_ptr, so the
  // coroutine's outcome travels beside a plain void() completion.
  static int await_in_green_thread(executor_type target, awaitable<int> work, yield_context yield) {
    std::exception_ptr error;
    int status = 0;
    boost::asio::async_initiate<yield_context, void()>(
        [&](auto resume) {
          auto slot = boost::asio::get_associated_cancellation_slot(resume);
          boost::asio::co_spawn(target, std::move(work),
                                boost::asio::bind_cancellation_slot(
                                    slot, [&, resume = std::move(resume)](std::exception_ptr e,
                                                                           int result) mutable {
                                      error = e;
                                      status = result;
                                      std::move(resume)();
                                    }));
        },
        yield);
    if (error) std::rethrow_exception(error);
    return status;
  }

  template <class Function, class Handler>
  void spawn_green(executor_type target, Function function, Handler on_done) {
    if (!green_stacks_) green_stacks_.emplace(options_.green_stack_size);  // only green threads need one
    boost::asio::spawn(target, std::allocator_arg, green_stacks_->get_allocator(), std::move(function),
                       std::move(on_done));
  }

  // Starts the work with a completion handler `void(std::exception_ptr, int)` that runs on the
  // I/O context, then drives the I/O context on this thread until the work has finished.
  template <class Start>
  int drive(executor_type target, Start start) {
    std::exception_ptr error;
    int status = 0;
    auto& io = io_context();
    auto work = boost::asio::make_work_guard(io);
    auto signal = std::make_shared<boost::asio::cancellation_signal>();
    // The root token reaches the handler through its Asio cancellation slot, emitted where the
    // handler runs.
    auto forward = cancel_.token().on_cancel([target, signal] {
      boost::asio::dispatch(target, [signal] { signal->emit(boost::asio::cancellation_type::all); });
    });

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    watch_signals(signals);
    std::optional<boost::asio::steady_timer> deadline;
    bool timed_out = false;
    if (options_.timeout) {
      deadline.emplace(io, *options_.timeout);
      deadline->async_wait([this, &timed_out](boost::system::error_code ec) {
        if (ec) return;
        timed_out = true;
        cancel_.request_cancel();
      });
    }

    start(boost::asio::bind_cancellation_slot(
        signal->slot(), boost::asio::bind_executor(io, [&](std::exception_ptr e, int result) {
          error = e;
          status = result;
          signals.cancel();
          if (deadline) deadline->cancel();
          work.reset();
        })));

    io.restart();
    io.run();
    forward.reset();
    if (timed_out && interrupt_signal() == 0)
      throw flash::error(errc::timeout, fmt::format("the command did not finish within {} ms",
                                                    options_.timeout->count()));
    if (error) std::rethrow_exception(error);
    return status;
  }

  void watch_signals(boost::asio::signal_set& signals) {
    signals.async_wait([this, &signals](boost::system::error_code ec, int number) {
      if (ec) return;
      if (!detail::record_interrupt(number)) ::_exit(128 + number);
      cancel_.request_cancel();
      watch_signals(signals);
    });
  }

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
