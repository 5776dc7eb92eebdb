#pragma once
// Shielding cleanup from cancellation, so that flushing a file, sending a goodbye or removing a
// temporary is not cut short.
//
// Asio refuses every co_await in a coroutine that has been cancelled, so a shield must be put
// up before the cancellation arrives: `shielded(op)` runs op to its end whatever happens while
// it runs, and `with_cleanup(work, cleanup)` runs cleanup after work on every path, shielded.

#include <flash/exec/awaitable.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <optional>
#include <type_traits>

namespace flash {

/// `co_await flash::shielded(flush(file));` — cancellation of the caller does not reach it.
template <class T>
awaitable<T> shielded(awaitable<T> operation) {
  const bool throw_if_cancelled = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  auto executor = co_await boost::asio::this_coro::executor;
  // An unconnected slot: the caller's cancellation has nowhere to go.
  auto unreachable = boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(),
                                                         boost::asio::use_awaitable);
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, int, T>> result;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await boost::asio::co_spawn(executor, std::move(operation), unreachable);
      result.emplace(0);
    } else {
      result.emplace(co_await boost::asio::co_spawn(executor, std::move(operation), unreachable));
    }
  } catch (...) {
    error = std::current_exception();
  }
  co_await boost::asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*result);
}

/// Runs `work`, then `cleanup` on every path (success, error, cancellation), shielded; then
/// returns work's result or rethrows its error.
template <class T>
awaitable<T> with_cleanup(awaitable<T> work, awaitable<void> cleanup) {
  const bool throw_if_cancelled = co_await boost::asio::this_coro::throw_if_cancelled();
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, int, T>> result;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(work);
      result.emplace(0);
    } else {
      result.emplace(co_await std::move(work));
    }
  } catch (...) {
    error = std::current_exception();
  }
  // The caller may be cancelled by now; awaiting the cleanup must not throw for that.
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  auto executor = co_await boost::asio::this_coro::executor;
  auto unreachable = boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(),
                                                         boost::asio::use_awaitable);
  std::exception_ptr cleanup_error;
  try {
    co_await boost::asio::co_spawn(executor, std::move(cleanup), unreachable);
  } catch (...) {
    cleanup_error = std::current_exception();
  }
  co_await boost::asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  if (error) std::rethrow_exception(error);
  if (cleanup_error) std::rethrow_exception(cleanup_error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*result);
}

}  // namespace flash
