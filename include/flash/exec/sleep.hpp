#pragma once
// Suspending the current coroutine for a while: `co_await flash::sleep_for(100ms);`

#include <flash/exec/awaitable.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace flash {

/// Waits `duration` without blocking the thread; a cancellation (Ctrl-C) ends the wait early
/// by throwing boost::system::system_error with operation_aborted.
inline awaitable<void> sleep_for(std::chrono::steady_clock::duration duration) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, duration);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

/// The green-thread form: `flash::sleep_for(100ms, yield);`
inline void sleep_for(std::chrono::steady_clock::duration duration, yield_context yield) {
  boost::asio::steady_timer timer(yield.get_executor(), duration);
  timer.async_wait(yield);
}

}  // namespace flash
