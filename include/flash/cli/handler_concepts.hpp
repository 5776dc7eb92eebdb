#pragma once
// The compile-time half of the command registry: concepts that tell a handler's shape from its
// signature, so that each command runs on the model that fits it and misuse does not compile.

#include <flash/cli/context.hpp>
#include <flash/dispatch/handler_shape.hpp>
#include <flash/exec/awaitable.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

namespace flash {

/// What a handler may return as the command's exit status: nothing (0) or an int.
template <class R>
concept exit_status = std::same_as<R, void> || std::same_as<R, int>;

namespace detail {
template <class T>
struct awaitable_result {};
template <class T, class Executor>
struct awaitable_result<boost::asio::awaitable<T, Executor>> {
  using type = T;
};
}  // namespace detail

/// An awaitable whose result is an exit status.
template <class A>
concept awaitable_exit_status = requires { typename detail::awaitable_result<A>::type; } &&
                                exit_status<typename detail::awaitable_result<A>::type>;

/// `int run(flash::context&)` or `void run(flash::context&)`: runs blocking.
template <class F>
concept sync_handler =
    std::invocable<F&, context&> && exit_status<std::invoke_result_t<F&, context&>>;

/// `flash::awaitable<int or void> run(flash::context&)`: runs as a stackless coroutine.
template <class F>
concept stackless_handler =
    std::invocable<F&, context&> && awaitable_exit_status<std::invoke_result_t<F&, context&>>;

/// `int or void run(flash::context&, flash::yield_context)`: runs as a green thread.
template <class F>
concept green_thread_handler = std::invocable<F&, context&, yield_context> &&
                               exit_status<std::invoke_result_t<F&, context&, yield_context>>;

/// A sync handler marked as CPU-bound with flash::cpu_bound(f): runs on the thread pool.
template <class F>
struct cpu_bound_handler_t {
  F function;
  decltype(auto) operator()(context& ctx) { return function(ctx); }
};

template <class F>
cpu_bound_handler_t<std::decay_t<F>> cpu_bound(F&& function) {
  static_assert(sync_handler<std::decay_t<F>>,
                "flash::cpu_bound takes a sync handler: int or void (flash::context&)");
  return {std::forward<F>(function)};
}

namespace detail {
template <class F>
inline constexpr bool is_cpu_bound = false;
template <class F>
inline constexpr bool is_cpu_bound<cpu_bound_handler_t<F>> = true;

template <class F>
inline constexpr int shapes_matched =
    int(sync_handler<F>) + int(stackless_handler<F>) + int(green_thread_handler<F>);

template <class F>
constexpr handler_shape shape_of() noexcept {
  if constexpr (stackless_handler<F>) return handler_shape::stackless;
  else if constexpr (green_thread_handler<F>) return handler_shape::green_thread;
  else return handler_shape::sync;
}
}  // namespace detail

/// A function of one known shape, and so a valid handler.
template <class F>
concept handler = detail::shapes_matched<F> == 1;

}  // namespace flash
