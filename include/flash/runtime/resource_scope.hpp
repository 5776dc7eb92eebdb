#pragma once
// Resource scopes: what a scope opens, it closes when it ends, in reverse order, on success,
// error and cancellation alike. A tracker counts what is open, so tests (and the metrics) can
// see that nothing leaked.

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace flash {

/// How many resources of each kind are open through scopes that report to it.
class resource_tracker {
 public:
  std::size_t open_files() const noexcept { return files_.load(std::memory_order_relaxed); }
  std::size_t open_connections() const noexcept { return connections_.load(std::memory_order_relaxed); }
  std::size_t temporary_files() const noexcept { return temporaries_.load(std::memory_order_relaxed); }
  std::size_t pending_cleanups() const noexcept { return cleanups_.load(std::memory_order_relaxed); }
  std::size_t total() const noexcept {
    return open_files() + open_connections() + temporary_files() + pending_cleanups();
  }

 private:
  friend class resource_scope;
  std::atomic<std::size_t> files_{0}, connections_{0}, temporaries_{0}, cleanups_{0};
};

/// A file descriptor opened through a scope.
class scoped_file {
 public:
  scoped_file(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int native_handle() const noexcept { return fd_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  friend class resource_scope;
  int fd_;
  std::filesystem::path path_;
};

/// A file written beside its destination and renamed into place by commit(); removed when the
/// scope ends without a commit, so a failure never leaves a half-written destination.
class temporary_file {
 public:
  temporary_file(int fd, std::filesystem::path path, std::filesystem::path destination)
      : fd_(fd), path_(std::move(path)), destination_(std::move(destination)) {}

  int native_handle() const noexcept { return fd_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  const std::filesystem::path& destination() const noexcept { return destination_; }
  bool committed() const noexcept { return committed_; }

  /// Flushes the data to disk, closes the file and renames it over the destination.
  void commit() {
    if (committed_) return;
    if (::fsync(fd_) != 0 || ::close(std::exchange(fd_, -1)) != 0)
      throw error(errc::filesystem_error, "writing " + path_.string(),
                  std::error_code(errno, std::generic_category()));
    std::error_code ec;
    std::filesystem::rename(path_, destination_, ec);
    if (ec)
      throw error(errc::filesystem_error,
                  fmt::format("renaming {} to {}", path_.string(), destination_.string()), ec);
    committed_ = true;
  }

 private:
  friend class resource_scope;
  int fd_;
  std::filesystem::path path_;
  std::filesystem::path destination_;
  bool committed_ = false;
};

class resource_scope {
 public:
  explicit resource_scope(resource_tracker* tracker = nullptr) : tracker_(tracker) {}
  resource_scope(const resource_scope&) = delete;
  resource_scope& operator=(const resource_scope&) = delete;
  ~resource_scope() { release_all(); }

  /// Opens `path` with open(2) flags; throws flash::error(filesystem_error) naming the path.
  scoped_file& open_file(const std::filesystem::path& path, int flags = O_RDONLY, mode_t mode = 0644) {
    reserve_one();
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) throw_filesystem_error(errno, "opening " + path.string());
    auto file = std::make_shared<scoped_file>(fd, path);
    scoped_file& handle = *file;
    push([file = std::move(file)] { ::close(file->fd_); }, &resource_tracker::files_);
    return handle;
  }

  /// Creates a temporary file in the destination's directory.
  temporary_file& create_temporary(const std::filesystem::path& destination, mode_t mode = 0644) {
    reserve_one();
    auto directory = destination.has_parent_path() ? destination.parent_path() : std::filesystem::path(".");
    std::string pattern = (directory / ("." + destination.filename().string() + ".flash-XXXXXX")).string();
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw_filesystem_error(errno, "creating a temporary file for " + destination.string());
    ::fchmod(fd, mode);
    auto file = std::make_shared<temporary_file>(fd, pattern, destination);
    temporary_file& handle = *file;
    push(
        [file = std::move(file)] {
          if (file->fd_ >= 0) ::close(file->fd_);
          if (!file->committed_) ::unlink(file->path_.c_str());
        },
        &resource_tracker::temporaries_);
    return handle;
  }

  /// Resolves and connects to host:port; throws flash::error(network_error) naming them.
  awaitable<boost::asio::ip::tcp::socket*> connect_tcp(std::string host, std::string port) {
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::ip::tcp::resolver resolver(executor);
    auto socket = std::make_shared<boost::asio::ip::tcp::socket>(executor);
    try {
      auto endpoints = co_await resolver.async_resolve(host, port, boost::asio::use_awaitable);
      co_await boost::asio::async_connect(*socket, endpoints, boost::asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      if (e.code() == boost::asio::error::operation_aborted) throw;
      throw error(errc::network_error, fmt::format("connecting to {}:{}", host, port), e.code());
    }
    reserve_one();
    auto* raw = socket.get();
    push(
        [socket = std::move(socket)] {
          boost::system::error_code ignored;
          socket->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
          socket->close(ignored);
        },
        &resource_tracker::connections_);
    co_return raw;
  }

  /// Runs `cleanup` when the scope ends (before what was added earlier).
  void on_exit(std::function<void()> cleanup) { push(std::move(cleanup), &resource_tracker::cleanups_); }

  /// Releases everything now, newest first. Cleanup failures are swallowed: a scope ending on
  /// an error must not lose that error to a second one.
  void release_all() noexcept {
    while (!entries_.empty()) {
      auto entry = std::move(entries_.back());
      entries_.pop_back();
      try {
        entry.release();
      } catch (...) {
      }
      if (tracker_) (tracker_->*entry.counter).fetch_sub(1, std::memory_order_relaxed);
    }
  }

  std::size_t size() const noexcept { return entries_.size(); }

 private:
  using counter_member = std::atomic<std::size_t> resource_tracker::*;
  struct entry {
    std::function<void()> release;
    counter_member counter;
  };

  // Called before a resource is opened, so that recording it cannot fail after it opened.
  void reserve_one() { entries_.reserve(entries_.size() + 1); }

  template <class Release>
  void push(Release release, counter_member kind) {
    entries_.push_back({std::function<void()>(std::move(release)), kind});
    if (tracker_) (tracker_->*kind).fetch_add(1, std::memory_order_relaxed);
  }

  [[noreturn]] static void throw_filesystem_error(int code, std::string what) {
    throw error(errc::filesystem_error, std::move(what), std::error_code(code, std::generic_category()));
  }

  resource_tracker* tracker_;
  std::vector<entry> entries_;
};

}  // namespace flash
