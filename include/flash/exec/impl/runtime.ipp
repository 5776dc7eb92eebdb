#pragma once
// The definitions of runtime.hpp: included by it when Flash is header-only, else by <flash/src.hpp>.

#include <flash/exec/runtime.hpp>

namespace flash {

namespace detail {

// What drive() keeps on its stack while the work runs, and the work's completion settles.
struct drive_state {
  std::exception_ptr error;
  int status = 0;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  boost::asio::signal_set signals;
  std::optional<boost::asio::steady_timer> deadline;

  explicit drive_state(boost::asio::io_context& io)
      : work(boost::asio::make_work_guard(io)), signals(io, SIGINT, SIGTERM) {}
};

}  // namespace detail

FLASH_DECL void runtime::finish::operator()(std::exception_ptr error, int status) const {
  state->error = std::move(error);
  state->status = status;
  state->signals.cancel();
  if (state->deadline) state->deadline->cancel();
  state->work.reset();
}

FLASH_DECL int runtime::drive(executor_type target, function_ref<void(done_handler)> start) {
  auto& io = io_context();
  detail::drive_state state(io);
  auto signal = std::make_shared<boost::asio::cancellation_signal>();
  // The root token reaches the work through its Asio cancellation slot, emitted where it runs.
  auto forward = cancel_.token().on_cancel([target, signal] {
    boost::asio::dispatch(target, [signal] { signal->emit(boost::asio::cancellation_type::all); });
  });

  watch_signals(state);
  bool timed_out = false;
  if (options_.timeout) {
    state.deadline.emplace(io, *options_.timeout);
    state.deadline->async_wait([this, &timed_out](boost::system::error_code ec) {
      if (ec) return;
      timed_out = true;
      cancel_.request_cancel();
    });
  }

  start(boost::asio::bind_cancellation_slot(signal->slot(),
                                            boost::asio::bind_executor(io, finish{&state})));

  io.restart();
  io.run();
  forward.reset();
  if (timed_out && interrupt_signal() == 0)
    throw flash::error(errc::timeout, fmt::format("the command did not finish within {} ms",
                                                  options_.timeout->count()));
  if (state.error) std::rethrow_exception(state.error);
  return state.status;
}

FLASH_DECL int runtime::drive_coroutine(executor_type target, function_ref<awaitable<int>()> work) {
  return drive(target, [&](done_handler on_done) {
    boost::asio::co_spawn(target, work(), std::move(on_done));
  });
}

FLASH_DECL int runtime::drive_green(executor_type target, function_ref<int(yield_context)> work) {
  if (!green_stacks_) green_stacks_.emplace(options_.green_stack_size);  // only green threads need one
  return drive(target, [&](done_handler on_done) {
    boost::asio::spawn(target, std::allocator_arg, green_stacks_->get_allocator(),
                       [work](yield_context yield) { return work(yield); }, std::move(on_done));
  });
}

FLASH_DECL runtime::~runtime() {
  if (pool_) pool_->join();
}

FLASH_DECL int runtime::run_sync(execution_model model, sync_body body) {
  if (model == execution_model::blocking) {
    detail::interrupt_handlers handlers(cancel_.state());
    return body(executor_type());  // the context creates the I/O context if it is asked for
  }
  auto target = executor_for(model);
  if (model == execution_model::thread_pool) {
    return drive(target, [&](done_handler on_done) {
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
  if (model == execution_model::green_thread)
    return drive_green(target, [&](yield_context) { return body(target); });
  return drive_coroutine(target, [&] { return call_sync(body, target); });
}

FLASH_DECL int runtime::run_stackless(execution_model model, stackless_body body) {
  auto target = executor_for(model);
  if (model == execution_model::green_thread) {
    return drive_green(target, [&](yield_context yield) {
      return await_in_green_thread(target, body(target), yield);
    });
  }
  return drive_coroutine(target, [&] { return body(target); });
}

FLASH_DECL int runtime::run_green(execution_model model, green_body body) {
  auto target = executor_for(model);
  return drive_green(target, [&](yield_context yield) { return body(target, yield); });
}

FLASH_DECL runtime::executor_type runtime::executor_for(execution_model model) {
  // Coroutines on the pool run in a strand: cancellation must be delivered where they run.
  if (model == execution_model::thread_pool) return boost::asio::make_strand(pool().get_executor());
  return io_context().get_executor();
}

FLASH_DECL awaitable<int> runtime::call_sync(sync_body body, executor_type executor) {
  co_return body(executor);
}

FLASH_DECL int runtime::await_in_green_thread(executor_type target, awaitable<int> work, yield_context yield) {
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

FLASH_DECL void runtime::watch_signals(detail::drive_state& state) {
  state.signals.async_wait([this, &state](boost::system::error_code ec, int number) {
    if (ec) return;
    if (!detail::record_interrupt(number)) detail::exit_on_second_interrupt(number);
    cancel_.request_cancel();
    // A signal can arrive after the work finished, its wait already complete when finish()
    // cancelled the set and released the work guard: waiting again then would keep the I/O
    // context running for ever.
    if (state.work.owns_work()) watch_signals(state);
  });
}

}  // namespace flash
