#pragma once
// Runs a coroutine to completion on a fresh io_context and returns its result (or rethrows).

#include <flash/exec/awaitable.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <filesystem>
#include <optional>
#include <type_traits>

template <class T>
T run_async(boost::asio::io_context& io, flash::awaitable<T> task) {
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, int, T>> result;
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) {
      error = e;
      result.emplace(0);
    });
  } else {
    boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
      error = e;
      if (!e) result.emplace(std::move(value));
    });
  }
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

template <class T>
T run_async(flash::awaitable<T> task) {
  boost::asio::io_context io;
  return run_async(io, std::move(task));
}

/// How many file descriptors this process has open.
inline std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}
