#pragma once
// The executors a command runs on, and running one body of work to completion on a chosen model.
//
// The I/O context is driven by the calling (main) thread; the thread pool is created on first use.
// While a body runs on the I/O context or the pool, SIGINT and SIGTERM cancel it through Asio's
// cancellation slots; a body on the blocking model sees the request through is_cancelled().

#include <flash/exec/awaitable.hpp>
#include <flash/exec/model.hpp>
#include <flash/exec/signals.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <csignal>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <thread>

namespace flash {

struct runtime_options {
  std::size_t pool_threads = 0;                ///< 0: one per hardware thread
  std::size_t green_stack_size = 128 * 1024;   ///< bytes of stack for each green thread
};

class runtime {
 public:
  using executor_type = boost::asio::any_io_executor;

  explicit runtime(runtime_options options = {}) : options_(options) {}
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  ~runtime() {
    if (pool_) pool_->join();
  }

  boost::asio::io_context& io_context() noexcept { return io_; }

  boost::asio::thread_pool& pool() {
    if (!pool_) {
      std::size_t threads = options_.pool_threads;
      if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
      pool_.emplace(threads);
    }
    return *pool_;
  }

  const runtime_options& options() const noexcept { return options_; }

  /// The signal (SIGINT or SIGTERM) that asked the running command to stop, or 0.
  static int interrupt_signal() noexcept { return detail::pending_interrupt().load(); }
  static bool is_cancelled() noexcept { return interrupt_signal() != 0; }

  /// Runs a plain function `int(executor_type)` on `model`.
  template <class Body>
  int run_sync(execution_model model, Body& body) {
    if (model == execution_model::blocking) {
      detail::interrupt_handlers handlers;
      return body(executor_type(io_.get_executor()));
    }
    auto target = executor_for(model);
    if (model == execution_model::thread_pool) {
      return drive(target, [&](auto on_done) {
        boost::asio::post(target, [&body, target, on_done = std::move(on_done)]() mutable {
          std::exception_ptr error;
          int status = 0;
          try {
            status = body(target);
          } catch (...) {
            error = std::current_exception();
          }
          boost::asio::dispatch(boost::asio::get_associated_executor(on_done),
                                [on_done = std::move(on_done), error, status]() mutable {
                                  on_done(error, status);
                                });
        });
      });
    }
    if (model == execution_model::green_thread) {
      return drive(target, [&](auto on_done) {
        spawn_green(target, [&body, target](yield_context) { return body(target); },
                    std::move(on_done));
      });
    }
    return drive(target, [&](auto on_done) {
      boost::asio::co_spawn(target, call_sync(body, target), std::move(on_done));
    });
  }

  /// Runs a coroutine factory `awaitable<int>(executor_type)` on `model`.
  template <class Body>
  int run_stackless(execution_model model, Body& body) {
    auto target = executor_for(model);
    if (model == execution_model::green_thread) {
      return drive(target, [&](auto on_done) {
        spawn_green(target,
                    [&body, target](yield_context yield) {
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
  template <class Body>
  int run_green(execution_model model, Body& body) {
    auto target = executor_for(model);
    return drive(target, [&](auto on_done) {
      spawn_green(target, [&body, target](yield_context yield) { return body(target, yield); },
                  std::move(on_done));
    });
  }

 private:
  executor_type executor_for(execution_model model) {
    if (model == execution_model::thread_pool) return boost::asio::make_strand(pool().get_executor());
    return io_.get_executor();
  }

  template <class Body>
  static awaitable<int> call_sync(Body& body, executor_type executor) {
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
    boost::asio::spawn(target, std::allocator_arg,
                       boost::context::fixedsize_stack(options_.green_stack_size),
                       std::move(function), std::move(on_done));
  }

  // Starts the work with a completion handler `void(std::exception_ptr, int)` that runs on the
  // I/O context, then drives the I/O context on this thread until the work has finished.
  template <class Start>
  int drive(executor_type target, Start start) {
    std::exception_ptr error;
    int status = 0;
    auto cancel = std::make_shared<boost::asio::cancellation_signal>();
    auto work = boost::asio::make_work_guard(io_);
    boost::asio::signal_set signals(io_, SIGINT, SIGTERM);
    watch_signals(signals, cancel, target);

    start(boost::asio::bind_cancellation_slot(
        cancel->slot(),
        boost::asio::bind_executor(io_, [&](std::exception_ptr e, int result) {
          error = e;
          status = result;
          signals.cancel();
          work.reset();
        })));

    io_.restart();
    io_.run();
    if (error) std::rethrow_exception(error);
    return status;
  }

  void watch_signals(boost::asio::signal_set& signals,
                     std::shared_ptr<boost::asio::cancellation_signal> cancel, executor_type target) {
    signals.async_wait([this, &signals, cancel, target](boost::system::error_code ec, int number) {
      if (ec) return;
      if (!detail::record_interrupt(number)) ::_exit(128 + number);
      // The cancellation slot belongs to the work's executor: emit from there.
      boost::asio::dispatch(target, [cancel] { cancel->emit(boost::asio::cancellation_type::all); });
      watch_signals(signals, cancel, target);
    });
  }

  runtime_options options_;
  boost::asio::io_context io_{1};
  std::optional<boost::asio::thread_pool> pool_;
};

}  // namespace flash
