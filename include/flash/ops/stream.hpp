#pragma once
// Processing a file, a pipe or standard input chunk by chunk, in constant memory whatever its
// size, and splitting it into lines.
//
//   flash::buffer_pool buffers(64 * 1024, ctx.max_concurrency(), &ctx.metrics());
//   flash::stream_processor processor(ctx, buffers);
//   std::uint64_t bytes = co_await processor.process(STDIN_FILENO, [&](std::string_view chunk) {
//     ...                                      // one chunk at a time, in order
//   });
//   co_await flash::for_each_line(processor, path, [&](std::string_view line) { ... });
//
// Regular files (which epoll cannot watch) are read on the pool, and each chunk is handed to the
// callback there, right after it is read. Pipes, terminals and sockets are read without blocking
// through Asio on the caller's executor, and the callback runs there. Either way the callback
// sees one chunk at a time, in order, never two at once for one stream; it may take a
// std::string_view or a std::span<const std::byte>. Each stream holds one buffer of the pool
// while it runs.

#include <flash/cli/context.hpp>
#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/ops/buffer_pool.hpp>
#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/offload.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace flash {

namespace detail {

template <class F>
void call_with_chunk(F& on_chunk, const std::byte* data, std::size_t size) {
  if constexpr (std::is_invocable_v<F&, std::span<const std::byte>>)
    on_chunk(std::span<const std::byte>(data, size));
  else
    on_chunk(std::string_view(reinterpret_cast<const char*>(data), size));
}

[[noreturn]] inline void throw_read_error(const std::string& name, int code) {
  throw error(errc::filesystem_error, "reading " + name, std::error_code(code, std::generic_category()));
}

// Puts a descriptor's flags back as they were (Asio makes a descriptor non-blocking, and the
// flags belong to the open file, which standard input shares with the shell).
class restore_flags {
 public:
  explicit restore_flags(int fd) : fd_(fd), flags_(::fcntl(fd, F_GETFL)) {}
  restore_flags(const restore_flags&) = delete;
  restore_flags& operator=(const restore_flags&) = delete;
  ~restore_flags() {
    if (flags_ >= 0) ::fcntl(fd_, F_SETFL, flags_);
  }

 private:
  int fd_;
  int flags_;
};

}  // namespace detail

/// Reads streams in chunks from a buffer pool. The pool and the executor must outlive it.
class stream_processor {
 public:
  /// `pool` runs the reads of regular files; `token` cancels every stream processed.
  stream_processor(boost::asio::any_io_executor pool, buffer_pool& buffers, cancellation_token token = {})
      : pool_(std::move(pool)), buffers_(&buffers), token_(std::move(token)) {}

  /// On the context's pool, cancelled with the command.
  stream_processor(const context& ctx, buffer_pool& buffers)
      : stream_processor(ctx.pool().get_executor(), buffers, ctx.token()) {}

  buffer_pool& buffers() const noexcept { return *buffers_; }

  /// Reads `fd` from where it is to its end, calling `on_chunk` for each chunk read; returns the
  /// number of bytes. `name` names the stream in errors. The descriptor stays open.
  template <class OnChunk>
  awaitable<std::uint64_t> process(int fd, OnChunk on_chunk, std::string name = "standard input") {
    struct stat status {};
    if (::fstat(fd, &status) != 0) detail::throw_read_error(name, errno);
    if (S_ISDIR(status.st_mode)) detail::throw_read_error(name, EISDIR);
    buffer_lease buffer = co_await buffers_->async_acquire();
    if (!S_ISREG(status.st_mode) && !S_ISBLK(status.st_mode)) {
      // epoll refuses some descriptors (/dev/null and other character devices): read those on
      // the pool too.
      auto executor = co_await boost::asio::this_coro::executor;
      const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) detail::throw_read_error(name, errno);
      detail::restore_flags restore(fd);
      boost::asio::posix::stream_descriptor stream(executor);
      boost::system::error_code ec;
      stream.assign(copy, ec);
      if (!ec) co_return co_await read_stream(stream, buffer, on_chunk, name, S_ISFIFO(status.st_mode));
      ::close(copy);
    }
    co_return co_await read_on_pool(fd, buffer, on_chunk, name);
  }

  /// Opens and processes the file at `path` (`-` is standard input).
  template <class OnChunk>
  awaitable<std::uint64_t> process(const std::filesystem::path& path, OnChunk on_chunk) {
    if (path == "-") {
      std::string name = "standard input";
      co_return co_await process(STDIN_FILENO, std::move(on_chunk), std::move(name));
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw error(errc::filesystem_error, "opening " + path.string(), std::error_code(errno, std::generic_category()));
    struct closer {
      int fd;
      ~closer() { ::close(fd); }
    } close_at_end{fd};
    std::string name = path.string();
    co_return co_await process(fd, std::move(on_chunk), std::move(name));
  }

 private:
  template <class OnChunk>
  awaitable<std::uint64_t> read_on_pool(int fd, buffer_lease& buffer, OnChunk& on_chunk, const std::string& name) {
    std::uint64_t total = 0;
    // Reads one chunk and processes it, both on the pool; 0 at the end.
    auto step = [&](const cancellation_token& cancelled) -> std::size_t {
      for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) detail::throw_read_error(name, errno);
        if (n > 0 && !cancelled.is_cancelled()) detail::call_with_chunk(on_chunk, buffer.data(), static_cast<std::size_t>(n));
        return static_cast<std::size_t>(n);
      }
    };
    for (;;) {
      token_.throw_if_cancelled("reading " + name);
      const std::size_t n = co_await offload(pool_, step);
      if (n == 0) break;
      total += n;
    }
    co_return total;
  }

  template <class OnChunk>
  awaitable<std::uint64_t> read_stream(boost::asio::posix::stream_descriptor& stream, buffer_lease& buffer,
                                       OnChunk& on_chunk, const std::string& name, bool is_fifo) {
    std::uint64_t total = 0;
    if (is_fifo) {
      // A FIFO opened with O_NONBLOCK reads as ended until its first writer comes; epoll
      // reports nothing before then, so waiting first keeps the wait for a writer (and Ctrl-C
      // can end it).
      boost::system::error_code ec;
      co_await stream.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                                 boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec == boost::asio::error::operation_aborted) throw error(errc::cancelled, "reading " + name);
    }
    for (;;) {
      token_.throw_if_cancelled("reading " + name);
      boost::system::error_code ec;
      const std::size_t n = co_await stream.async_read_some(boost::asio::buffer(buffer.data(), buffer.size()),
                                                            boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec == boost::asio::error::eof) break;
      if (ec == boost::asio::error::operation_aborted) throw error(errc::cancelled, "reading " + name);
      if (ec) throw error(errc::filesystem_error, "reading " + name, std::error_code(ec.value(), std::generic_category()));
      detail::call_with_chunk(on_chunk, buffer.data(), n);
      total += n;
    }
    co_return total;
  }

  boost::asio::any_io_executor pool_;
  buffer_pool* buffers_;
  cancellation_token token_;
};

/// Splits chunks into lines: `on_line` gets each line without its '\n' (a '\r' before it is
/// kept), including lines that cross chunk boundaries; finish() gives the last line when the
/// input does not end with '\n'. A line held across chunks is copied, up to `max_line_length`
/// bytes (past that, feed throws flash::error(errc::resource_exhausted)), so memory stays bounded.
class line_splitter {
 public:
  explicit line_splitter(std::size_t max_line_length = std::numeric_limits<std::size_t>::max())
      : max_line_length_(max_line_length) {}

  template <class OnLine>
  void feed(std::string_view chunk, OnLine&& on_line) {
    while (!chunk.empty()) {
      const auto newline = chunk.find('\n');
      if (newline == std::string_view::npos) {
        if (chunk.size() > max_line_length_ - pending_.size())
          throw error(errc::resource_exhausted,
                      "a line longer than " + std::to_string(max_line_length_) + " bytes");
        pending_.append(chunk);
        return;
      }
      if (pending_.empty()) {
        on_line(chunk.substr(0, newline));  // straight from the chunk: no copy
      } else {
        pending_.append(chunk.substr(0, newline));
        on_line(std::string_view(pending_));
        pending_.clear();
      }
      ++lines_;
      chunk.remove_prefix(newline + 1);
    }
  }

  /// Gives the unfinished last line, if there is one.
  template <class OnLine>
  void finish(OnLine&& on_line) {
    if (pending_.empty()) return;
    on_line(std::string_view(pending_));
    ++lines_;
    pending_.clear();
  }

  /// Lines given so far.
  std::uint64_t lines() const noexcept { return lines_; }
  /// Bytes held of an unfinished line.
  std::size_t pending() const noexcept { return pending_.size(); }

 private:
  std::size_t max_line_length_;
  std::string pending_;
  std::uint64_t lines_ = 0;
};

/// Calls `on_line(std::string_view)` for each line of `source` (a path, `-`, or a descriptor),
/// in order; returns the number of lines.
template <class Source, class OnLine>
awaitable<std::uint64_t> for_each_line(stream_processor& processor, const Source& source, OnLine on_line,
                                       std::size_t max_line_length = std::numeric_limits<std::size_t>::max()) {
  line_splitter splitter(max_line_length);
  auto on_chunk = [&](std::string_view chunk) { splitter.feed(chunk, on_line); };
  co_await processor.process(source, on_chunk);
  splitter.finish(on_line);
  co_return splitter.lines();
}

}  // namespace flash
