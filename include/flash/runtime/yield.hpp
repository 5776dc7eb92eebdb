#pragma once
// Cooperative yielding for long-running coroutines: give other tasks a turn, and stop here
// when cancellation was requested.

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace flash {

/// Reschedules the caller behind the work already queued on its executor, then throws
/// flash::error(errc::cancelled) if the caller has been cancelled.
inline awaitable<void> yield_now() {
  auto executor = co_await boost::asio::this_coro::executor;
  const bool throw_if_cancelled = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  co_await boost::asio::post(executor, boost::asio::use_awaitable);
  co_await boost::asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  auto state = co_await boost::asio::this_coro::cancellation_state;
  if (state.cancelled() != boost::asio::cancellation_type::none)
    throw error(errc::cancelled, "yield");
}

}  // namespace flash
