#pragma once
// Reading and processing many files at once, a bounded number at a time, on the thread pool.
//
//   auto results = co_await flash::read_files(ctx, paths);
//   for (const auto& file : results)
//     if (file) use(file.value());
//     else fmt::print(stderr, "{}: {}\n", file.path().string(), file.reason());
//
//   auto sizes = co_await flash::for_each_file(ctx, paths,
//       [](const std::filesystem::path& path) { return std::filesystem::file_size(path); });
//
// Each file's work runs on the pool; its result is its value, or the failure with the path and
// a readable reason ("No such file or directory"). One bad file does not stop the others unless
// `fail_fast` is set, when the first failure cancels the rest and is thrown. Results come back
// in the order of `paths`. Cancelling the awaiting coroutine cancels the work not yet done.

#include <flash/cli/context.hpp>
#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/offload.hpp>
#include <flash/runtime/task_group.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <variant>
#include <vector>

namespace flash {

/// What became of one file: its value, or why it failed.
template <class T>
class file_result {
 public:
  file_result(std::filesystem::path path, T value) : path_(std::move(path)), value_(std::move(value)) {}

  /// A failure; `error` is what the work threw.
  file_result(std::filesystem::path path, std::exception_ptr error)
      : path_(std::move(path)), exception_(std::move(error)) {
    try {
      std::rethrow_exception(exception_);
    } catch (const flash::error& e) {
      cause_ = e.cause();
      reason_ = e.cause() ? e.cause().message() : e.what();
    } catch (const std::system_error& e) {
      cause_ = e.code();
      reason_ = e.code().message();
    } catch (const boost::system::system_error& e) {
      cause_ = e.code();
      reason_ = e.code().message();
    } catch (const std::exception& e) {
      reason_ = e.what();
    } catch (...) {
      reason_ = "unknown error";
    }
  }

  const std::filesystem::path& path() const noexcept { return path_; }
  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }

  /// The value; for a failure, throws flash::error(filesystem_error) naming the path.
  T& value() & {
    check();
    return *value_;
  }
  const T& value() const& {
    check();
    return *value_;
  }
  T&& value() && {
    check();
    return std::move(*value_);
  }

  /// The system's reason for a failure ("Permission denied"), or the error's message.
  const std::string& reason() const noexcept { return reason_; }
  /// The system error behind a failure, if there was one (ENOENT, EACCES, EISDIR, ...).
  const std::error_code& cause() const noexcept { return cause_; }
  /// What the work threw, for a failure.
  const std::exception_ptr& exception() const noexcept { return exception_; }

  /// For a failure, throws it as a flash::error naming the path (a flash::error as it was).
  void rethrow() const {
    if (!exception_) return;
    try {
      std::rethrow_exception(exception_);
    } catch (const flash::error&) {
      throw;
    } catch (...) {
    }
    throw error(errc::filesystem_error, path_.string() + (cause_ ? "" : ": " + reason_), cause_);
  }

 private:
  void check() const {
    if (!value_) rethrow();
  }

  std::filesystem::path path_;
  std::optional<T> value_;
  std::exception_ptr exception_;
  std::error_code cause_;
  std::string reason_;
};

struct file_options {
  std::size_t max_concurrency = 0;  ///< files in work at once; 0: the context's limit (10 without one)
  bool fail_fast = false;           ///< the first failure cancels the rest and is thrown
  task_observer* observer = nullptr;  ///< counts each file as a task (ctx.metrics() with a context)
  cancellation_token token{};         ///< cancels the work (ctx.token() with a context)
};

namespace detail {

/// Runs `item(i)` (an awaitable<void>) for each i in [0, count), at most `limit` at once, each
/// counted as a task by `observer`. A few workers take the next index in turn, so the memory
/// used does not grow with `count`. The first exception cancels the other items and is thrown;
/// a cancellation, however it arrived, as flash::error(errc::cancelled, what).
template <class Item>
awaitable<void> for_each_index(std::size_t count, std::size_t limit, task_observer* observer,
                               cancellation_token token, Item& item, std::string what) {
  std::atomic<std::size_t> next{0};  // atomic: the executor may run the workers on several threads
  auto worker = [&]() -> awaitable<void> {
    for (std::size_t index = next++; index < count; index = next++) {
      if (observer) {
        observer->task_spawned();
        observer->task_started();
      }
      const auto started = std::chrono::steady_clock::now();
      std::exception_ptr failure;
      try {
        co_await item(index);
      } catch (...) {
        failure = std::current_exception();
      }
      if (observer)
        observer->task_finished(std::chrono::steady_clock::now() - started, is_cancellation(failure), true);
      if (failure) std::rethrow_exception(failure);
    }
  };
  const std::size_t workers = std::min(count, limit == 0 ? count : limit);
  auto body = [&](task_group& group) -> awaitable<void> {
    for (std::size_t i = 0; i < workers; ++i) group.spawn(worker());
    co_return;
  };
  const task_group_options group_options{};
  std::exception_ptr failure;
  try {
    co_await with_task_group(body, group_options, nullptr, std::move(token));
  } catch (...) {
    failure = std::current_exception();
  }
  if (is_cancellation(failure)) throw error(errc::cancelled, std::move(what));
  if (failure) std::rethrow_exception(failure);
}

template <class F>
decltype(auto) call_for_path(F& function, const std::filesystem::path& path, const cancellation_token& token) {
  if constexpr (std::is_invocable_v<F&, const std::filesystem::path&, const cancellation_token&>)
    return function(path, token);
  else
    return function(path);
}

template <class F>
using file_value_t = storable_t<std::decay_t<decltype(call_for_path(
    std::declval<F&>(), std::declval<const std::filesystem::path&>(), std::declval<const cancellation_token&>()))>>;

[[noreturn]] inline void throw_errno(const std::filesystem::path& path, int code) {
  throw error(errc::filesystem_error, path.string(), std::error_code(code, std::generic_category()));
}

}  // namespace detail

/// Calls `function(path)` (or `function(path, token)`) for each path on `pool`, at most
/// `options.max_concurrency` at once. `function` must be safe to call from several threads at
/// once; a void function gives std::monostate values.
template <class F>
awaitable<std::vector<file_result<detail::file_value_t<F>>>> for_each_file(
    boost::asio::any_io_executor pool, std::vector<std::filesystem::path> paths, F function,
    file_options options = {}) {
  using value_type = detail::file_value_t<F>;
  std::vector<std::optional<file_result<value_type>>> slots(paths.size());
  auto item = [&](std::size_t index) -> awaitable<void> {
    const std::filesystem::path& path = paths[index];
    auto work = [&function, &path](const cancellation_token& token) -> value_type {
      if constexpr (std::is_same_v<value_type, std::monostate> &&
                    std::is_void_v<decltype(detail::call_for_path(function, path, token))>) {
        detail::call_for_path(function, path, token);
        return {};
      } else {
        return detail::call_for_path(function, path, token);
      }
    };
    std::exception_ptr failure;
    try {
      value_type value = co_await offload(pool, work);
      slots[index].emplace(path, std::move(value));
    } catch (...) {
      failure = std::current_exception();
    }
    if (!failure) co_return;
    if (is_cancellation(failure)) std::rethrow_exception(failure);
    slots[index].emplace(path, failure);
    if (options.fail_fast) slots[index]->rethrow();
  };
  const std::size_t limit = options.max_concurrency == 0 ? 10 : options.max_concurrency;
  std::string what = "processing files";
  co_await detail::for_each_index(paths.size(), limit, options.observer, options.token, item, std::move(what));

  std::vector<file_result<value_type>> results;
  results.reserve(slots.size());
  for (auto& slot : slots) results.push_back(std::move(*slot));
  co_return results;
}

/// The same on the context's pool, bounded by ctx.max_concurrency() unless the options say
/// otherwise, counted in ctx.metrics() and cancelled with the command.
template <class F>
awaitable<std::vector<file_result<detail::file_value_t<F>>>> for_each_file(
    const context& ctx, std::vector<std::filesystem::path> paths, F function, file_options options = {}) {
  if (options.max_concurrency == 0) options.max_concurrency = ctx.max_concurrency();
  if (!options.observer) options.observer = &ctx.metrics();
  if (!options.token.can_be_cancelled()) options.token = ctx.token();
  return for_each_file(boost::asio::any_io_executor(ctx.pool().get_executor()), std::move(paths),
                       std::move(function), std::move(options));
}

/// Reads a whole file, checking `token` between reads. Throws flash::error(filesystem_error)
/// naming the path, with the system's reason ("Is a directory" for a directory).
inline std::string read_file(const std::filesystem::path& path, const cancellation_token& token = {}) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) detail::throw_errno(path, errno);
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_at_end{fd};
  struct stat status {};
  if (::fstat(fd, &status) != 0) detail::throw_errno(path, errno);
  if (S_ISDIR(status.st_mode)) detail::throw_errno(path, EISDIR);

  std::string contents;
  constexpr std::size_t step = 1 << 20;
  contents.resize(S_ISREG(status.st_mode) ? static_cast<std::size_t>(status.st_size) : 0);
  std::size_t filled = 0;
  for (;;) {
    token.throw_if_cancelled("reading " + path.string());
    if (filled == contents.size()) contents.resize(filled + step);  // it grew, or is not regular
    const std::size_t want = std::min(step, contents.size() - filled);
    const ssize_t n = ::read(fd, contents.data() + filled, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      detail::throw_errno(path, errno);
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  contents.resize(filled);
  return contents;
}

/// Reads every file whole, concurrently: each result holds the file's contents or its failure.
inline awaitable<std::vector<file_result<std::string>>> read_files(
    boost::asio::any_io_executor pool, std::vector<std::filesystem::path> paths, file_options options = {}) {
  auto read = [](const std::filesystem::path& path, const cancellation_token& token) {
    return read_file(path, token);
  };
  co_return co_await for_each_file(std::move(pool), std::move(paths), read, std::move(options));
}

inline awaitable<std::vector<file_result<std::string>>> read_files(
    const context& ctx, std::vector<std::filesystem::path> paths, file_options options = {}) {
  auto read = [](const std::filesystem::path& path, const cancellation_token& token) {
    return read_file(path, token);
  };
  co_return co_await for_each_file(ctx, std::move(paths), read, std::move(options));
}

}  // namespace flash
