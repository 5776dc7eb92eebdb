#pragma once
// What the asynchronous tests share: run_async runs a coroutine to completion on a fresh
// io_context and returns its result (or rethrows); open_descriptors counts this process's open
// files; temp_dir is a fresh directory removed with all it holds.

#include <flash/exec/awaitable.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdlib.h>
#include <string>
#include <type_traits>
#include <vector>

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

// One io_context for the whole test run: a test's thread_pool may still be returning from the
// post that resumed the coroutine when run() ends, so the context must outlive every pool.
template <class T>
T run_async(flash::awaitable<T> task) {
  static boost::asio::io_context io;
  return run_async(io, std::move(task));
}

/// How many file descriptors this process has open.
inline std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

/// A fresh directory under the system's temporary directory, named after `prefix`, removed with
/// everything in it (even what a test made unreadable).
struct temp_dir {
  std::filesystem::path path;

  explicit temp_dir(const std::string& prefix = "flash-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                 ignored);
    std::filesystem::remove_all(path, ignored);
  }

  std::filesystem::path operator/(const std::string& name) const { return path / name; }

  /// What the directory holds, by name, sorted: shows leftover temporaries too.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};
