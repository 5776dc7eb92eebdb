#pragma once
// Running CPU-bound work on the pool from a coroutine: `int n = co_await flash::offload(pool, f);`
//
// The caller resumes on its own executor with f's result or exception. Cancelling the caller
// while f is still queued removes it (f never runs, the caller gets operation_aborted); while f
// runs, the token f may take reports the cancellation so a long loop can stop early.

#include <flash/exec/awaitable.hpp>
#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/detail/complete.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <variant>

namespace flash {

namespace detail {

template <class F>
decltype(auto) call_with_token(F& function, const cancellation_token& token) {
  if constexpr (std::is_invocable_v<F&, const cancellation_token&>)
    return function(token);
  else
    return function();
}

template <class F>
using offload_result_t = std::decay_t<decltype(call_with_token(std::declval<F&>(),
                                                               std::declval<const cancellation_token&>()))>;

// Wraps a void result so every job completes with `void(std::exception_ptr, value)`.
template <class R>
using storable_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

enum class job_state { queued, running, abandoned };

template <class F, class Executor, class CompletionToken>
auto async_offload(Executor pool, F function, CompletionToken&& token) {
  using result = storable_t<offload_result_t<F>>;
  return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, result)>(
      [pool](auto handler, F function) {
        using handler_type = decltype(handler);
        struct job {
          job(F f, handler_type h) : function(std::move(f)), handler(std::move(h)) {}
          F function;
          std::optional<handler_type> handler;
          std::atomic<job_state> state{job_state::queued};
          cancellation_source cancel;
        };
        auto shared = std::make_shared<job>(std::move(function), std::move(handler));
        auto slot = boost::asio::get_associated_cancellation_slot(*shared->handler);
        if (slot.is_connected()) {
          std::weak_ptr<job> weak = shared;
          slot.assign([weak](boost::asio::cancellation_type) {
            auto self = weak.lock();
            if (!self) return;
            auto expected = job_state::queued;
            if (self->state.compare_exchange_strong(expected, job_state::abandoned)) {
              auto aborted = std::make_exception_ptr(
                  boost::system::system_error(boost::asio::error::operation_aborted));
              post_completion(std::move(*self->handler), aborted, result{});
            } else {
              self->cancel.request_cancel();
            }
          });
        }
        boost::asio::post(pool, [shared] {
          auto expected = job_state::queued;
          if (!shared->state.compare_exchange_strong(expected, job_state::running)) return;
          std::exception_ptr error;
          result value{};
          try {
            if constexpr (std::is_void_v<offload_result_t<F>>)
              call_with_token(shared->function, shared->cancel.token());
            else
              value = call_with_token(shared->function, shared->cancel.token());
          } catch (...) {
            error = std::current_exception();
          }
          post_completion(std::move(*shared->handler), std::move(error), std::move(value));
        });
      },
      token, std::move(function));
}

}  // namespace detail

/// Runs `function()` (or `function(token)`) on `pool` and resumes the caller with its result.
template <class Executor, class F>
auto offload(Executor pool, F function)
    -> awaitable<detail::offload_result_t<F>> {
  if constexpr (std::is_void_v<detail::offload_result_t<F>>) {
    co_await detail::async_offload(pool, std::move(function), boost::asio::use_awaitable);
  } else {
    co_return co_await detail::async_offload(pool, std::move(function), boost::asio::use_awaitable);
  }
}

}  // namespace flash
