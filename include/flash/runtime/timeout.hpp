#pragma once
// with_timeout: the operation's result, or flash::error(errc::timeout) once the time is up, in
// which case the operation is cancelled and awaited before the error is thrown.

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/exec/sleep.hpp>
#include <flash/runtime/when.hpp>

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <variant>

namespace flash {

namespace detail {
inline awaitable<std::monostate> expire_after(std::chrono::steady_clock::duration limit, std::string what) {
  co_await sleep_for(limit);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
  throw error(errc::timeout, fmt::format("{} (after {} ms)", what, ms));
}

inline awaitable<std::monostate> as_monostate(awaitable<void> op) {
  co_await std::move(op);
  co_return std::monostate{};
}
}  // namespace detail

template <class T>
awaitable<T> with_timeout(awaitable<T> op, std::chrono::steady_clock::duration limit,
                          std::string what = "operation") {
  auto expiry = detail::expire_after(limit, std::move(what));
  if constexpr (std::is_void_v<T>) {
    auto operation = detail::as_monostate(std::move(op));
    co_await when_any(std::move(operation), std::move(expiry));
  } else {
    auto first = co_await when_any(std::move(op), std::move(expiry));
    co_return std::get<0>(std::move(first));
  }
}

}  // namespace flash
