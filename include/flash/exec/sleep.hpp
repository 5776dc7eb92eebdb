#pragma once
// Suspending the current coroutine for a while: `co_await flash::sleep_for(100ms);` (in a
// flash::task, `co_await flash::sleep_for(100ms, flash::use_task);`).

#include <flash/exec/awaitable.hpp>
#include <flash/exec/task_sleep.hpp>  // the flash::task forms, and no_throw

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace flash {

/// Waits `duration` without blocking the thread; a cancellation (Ctrl-C) ends the wait early
/// by throwing boost::system::system_error with operation_aborted.
inline awaitable<void> sleep_for(std::chrono::steady_clock::duration duration) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, duration);
  auto [error] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  if (error) detail::throw_wait_failure(error);
}

/// The same, returning false when cancelled rather than throwing: `if (!co_await
/// flash::sleep_for(1s, flash::no_throw)) co_return;`. An exception costs microseconds a frame
/// it crosses; this is for code that many tasks run at once and that is often cancelled.
inline awaitable<bool> sleep_for(std::chrono::steady_clock::duration duration, no_throw_t) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, duration);
  auto [error] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return !error;
}

/// The green-thread form: `flash::sleep_for(100ms, yield);`
inline void sleep_for(std::chrono::steady_clock::duration duration, yield_context yield) {
  boost::asio::steady_timer timer(yield.get_executor(), duration);
  timer.async_wait(yield);
}

/// The green-thread form that returns false when cancelled rather than throwing.
inline bool sleep_for(std::chrono::steady_clock::duration duration, yield_context yield, no_throw_t) {
  boost::asio::steady_timer timer(yield.get_executor(), duration);
  boost::system::error_code error;
  timer.async_wait(yield[error]);
  return !error;
}

}  // namespace flash
