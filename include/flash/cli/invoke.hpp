#pragma once
// Calling a checked handler with its context on the model chosen for it.

#include <flash/cli/context.hpp>
#include <flash/cli/handler_concepts.hpp>
#include <flash/exec/runtime.hpp>

#include <type_traits>
#include <utility>
#include <vector>

namespace flash::detail {

template <class F, class... Args>
int call_for_status(F& handler, Args&&... args) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&, Args...>>) {
    handler(std::forward<Args>(args)...);
    return 0;
  } else {
    return handler(std::forward<Args>(args)...);
  }
}

template <class F>
awaitable<int> call_stackless(F& handler, std::vector<const values*> scopes,
                              context::executor_type executor, runtime& rt) {
  context ctx(std::move(scopes), std::move(executor), rt);
  if constexpr (std::is_void_v<typename awaitable_result<std::invoke_result_t<F&, context&>>::type>) {
    co_await handler(ctx);
    co_return 0;
  } else {
    co_return co_await handler(ctx);
  }
}

template <class F>
int invoke_handler(F& handler, runtime& rt, execution_model model,
                   std::vector<const values*> scopes) {
  using executor_type = context::executor_type;
  if constexpr (stackless_handler<F>) {
    auto body = [&](executor_type executor) {
      return call_stackless(handler, std::move(scopes), std::move(executor), rt);
    };
    return rt.run_stackless(model, body);
  } else if constexpr (green_thread_handler<F>) {
    auto body = [&](executor_type executor, yield_context yield) {
      context ctx(std::move(scopes), std::move(executor), rt);
      return call_for_status(handler, ctx, yield);
    };
    return rt.run_green(model, body);
  } else {
    auto body = [&](executor_type executor) {
      context ctx(std::move(scopes), std::move(executor), rt);
      return call_for_status(handler, ctx);
    };
    return rt.run_sync(model, body);
  }
}

}  // namespace flash::detail
