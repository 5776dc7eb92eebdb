#pragma once
// Resource scopes: what a scope opens, it closes when it ends, in reverse order, on success,
// error and cancellation alike. A tracker counts what is open, so tests (and the metrics) can
// see that nothing leaked.
//
// The one way Flash writes a file is through a temporary beside the destination, renamed over
// it once complete, so that a failure, a full disk or a cancellation never leaves half of one:
//
//   flash::resource_scope scope(&tracker);
//   flash::temporary_file& out = scope.create_temporary("backup/big.iso", 0644);
//   write(out.native_handle(), ...);
//   out.commit();                   // on disk (fsync), then renamed into place
//   out.commit({.sync = false});    // or: renamed at once; the kernel writes it back in its time
//
// Flushing every file costs a disk round trip each (cp does not do it), so it is the caller's
// choice. A destination that exists and is not a regular file (a directory, a fifo, a device)
// is refused before anything is written: the rename would replace it, not write into it.

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/runtime/unfinished_files.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

namespace flash {

/// Why a destination was refused, as the cause of a flash::error.
enum class destination_errc { not_regular_file = 1 };

namespace detail {
class destination_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "flash.destination"; }
  std::string message(int) const override {
    return "not a regular file; the output is written beside it and renamed into place, which would replace it";
  }
};
}  // namespace detail

namespace detail {
/// The process's umask, read once from /proc/self/status (Linux 4.7 and later), or nothing
/// when it cannot be read. umask(2) cannot read it without setting it, which races with
/// other threads creating files.
inline std::optional<mode_t> process_umask() {
  static const std::optional<mode_t> mask = []() -> std::optional<mode_t> {
    std::FILE* status = std::fopen("/proc/self/status", "r");
    if (!status) return std::nullopt;
    std::optional<mode_t> found;
    char line[256];
    unsigned value = 0;
    while (!found && std::fgets(line, sizeof line, status))
      if (std::sscanf(line, "Umask: %o", &value) == 1) found = static_cast<mode_t>(value);
    std::fclose(status);
    return found;
  }();
  return mask;
}

/// Replaces the trailing XXXXXX of `path` with six random letters and digits, as mkstemp does.
inline void fill_random_suffix(std::string& path) {
  static constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::minstd_rand generator(std::random_device{}());
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  for (std::size_t i = path.size() - 6; i < path.size(); ++i) path[i] = alphabet[pick(generator)];
}
}  // namespace detail

inline std::error_code make_error_code(destination_errc code) noexcept {
  static const detail::destination_category_impl category;
  return {static_cast<int>(code), category};
}

}  // namespace flash

template <>
struct std::is_error_code_enum<flash::destination_errc> : std::true_type {};

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

/// Refuses `destination` when it exists and is not a regular file: flash::error naming it, of
/// filesystem_error (cause EISDIR) for a directory, else validation_error (cause
/// destination_errc::not_regular_file). A symbolic link is judged by what it points to.
inline void check_writable_destination(const std::filesystem::path& destination) {
  struct stat status {};
  if (::stat(destination.c_str(), &status) != 0 || S_ISREG(status.st_mode)) return;
  if (S_ISDIR(status.st_mode))
    throw error(errc::filesystem_error, "writing " + destination.string(), std::make_error_code(std::errc::is_a_directory));
  throw error(errc::validation_error, destination.string(), destination_errc::not_regular_file);
}

namespace detail {
/// Where writing `destination` really writes: the file its chain of symbolic links ends at (a
/// link itself would be replaced by the rename, and what it points to left as it was). A
/// relative link is resolved from the directory holding it; a chain of more than 40 links is
/// left as it is, for the open to refuse.
inline std::filesystem::path through_symlinks(std::filesystem::path destination) {
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(destination, ec))) return destination;
    std::filesystem::path target = std::filesystem::read_symlink(destination, ec);
    if (ec) return destination;
    destination = target.is_absolute() ? target : destination.parent_path() / target;
  }
  return destination;
}
}  // namespace detail

struct commit_options {
  bool sync = true;  ///< fsync before the rename: the data is on disk when the name appears
};

/// A file written beside its destination and renamed over it by commit(); removed when the
/// scope that created it (resource_scope::create_temporary) ends without a commit, so a failure
/// never leaves a half-written destination.
class temporary_file {
 public:
  explicit temporary_file(std::filesystem::path destination) : destination_(std::move(destination)) {}
  temporary_file(const temporary_file&) = delete;
  temporary_file& operator=(const temporary_file&) = delete;
  ~temporary_file() { discard(); }

  int native_handle() const noexcept { return fd_; }
  /// The temporary's path, until commit() renames it to destination() (a file made in place:
  /// destination()).
  const std::filesystem::path& path() const noexcept { return in_place_ ? destination_ : path_; }
  const std::filesystem::path& destination() const noexcept { return destination_; }
  bool committed() const noexcept { return committed_; }

  /// Closes the file (after an fsync unless options.sync is false) and renames it over the
  /// destination (a file made by create_in_place is there already). Throws
  /// flash::error(filesystem_error) naming the file; the file is then removed with the scope.
  void commit(commit_options options = {}) {
    if (committed_) return;
    if ((options.sync && ::fsync(fd_) != 0) || ::close(std::exchange(fd_, -1)) != 0)
      throw error(errc::filesystem_error, "writing " + path().string(),
                  std::error_code(errno, std::generic_category()));
    std::error_code ec;
    if (!in_place_) std::filesystem::rename(path_, destination_, ec);
    if (ec)
      throw error(errc::filesystem_error,
                  fmt::format("renaming {} to {}", path_.string(), destination_.string()), ec);
    committed_ = true;
    unfinished_.reset();
  }

  /// Closes and removes the temporary unless it was committed. Safe to call more than once.
  void discard() noexcept {
    if (!committed_ && made_ && still_ours()) ::unlink(path().c_str());
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    made_ = false;
    unfinished_.reset();
  }

 private:
  friend class resource_scope;

  // Whether path() still names the file this one wrote. A file created in place has its final
  // name, which another writer may have replaced since (two sources copied to one name): that
  // file is not this one's to remove. Only checked on failure.
  bool still_ours() const noexcept {
    if (!in_place_ || fd_ < 0) return true;
    struct stat mine {}, named {};
    if (::fstat(fd_, &mine) != 0 || ::lstat(destination_.c_str(), &named) != 0) return false;
    return mine.st_dev == named.st_dev && mine.st_ino == named.st_ino;
  }

  int fd_ = -1;
  std::filesystem::path path_;  // the temporary beside the destination; empty when made in place
  std::filesystem::path destination_;
  bool in_place_ = false;  // made under the destination's name: nothing to rename
  bool made_ = false;      // a file is there for discard() to remove
  bool committed_ = false;
  detail::unfinished_files::entry unfinished_;  // removed by a forced exit until committed
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

  /// Creates a temporary with permissions `mode` in the destination's directory, removed when
  /// the scope ends unless committed. A destination that exists and is not a regular file is
  /// refused first (check_writable_destination). A destination that is a symbolic link is
  /// written through, as cp and a shell's > do: the temporary goes beside the file the link
  /// points to, which commit() replaces. Throws flash::error naming the destination.
  temporary_file& create_temporary(const std::filesystem::path& named, mode_t mode = 0644) {
    check_writable_destination(named);
    const std::filesystem::path destination = detail::through_symlinks(named);
    const auto directory = destination.has_parent_path() ? destination.parent_path() : std::filesystem::path(".");
    std::string path = (directory / ("." + destination.filename().string() + ".flash-XXXXXX")).string();
    temporary_file& handle =
        record_file(destination, std::move(path), "creating a temporary file for ", [](std::string& path, auto& registration) {
          // mkstemp's way, with the name known before the file exists (see unfinished_files).
          int fd = -1;
          for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
            detail::fill_random_suffix(path);
            fd = detail::unfinished_files::create(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600,
                                                  registration);
            if (fd < 0 && errno != EEXIST) break;
          }
          return fd;
        });
    ::fchmod(handle.native_handle(), mode);
    return handle;
  }

  /// Creates `destination` itself, which must not exist (O_EXCL), with permissions `mode`;
  /// removed when the scope ends unless committed (and unless something else has taken its name
  /// meanwhile). For a file that nothing else looks at until it is complete, such as one in a
  /// directory the caller has just made: it saves the temporary's rename (and its fchmod when
  /// the umask, read once per process, keeps `mode`). Unlike a temporary, a process killed
  /// mid-write leaves the partial file under its name. Throws flash::error naming the
  /// destination (EEXIST when something is there).
  temporary_file& create_in_place(const std::filesystem::path& destination, mode_t mode = 0644) {
    temporary_file& handle = record_file(destination, destination.string(), "creating ", [mode](std::string& path, auto& registration) {
      return detail::unfinished_files::create(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode,
                                              registration);
    });
    const std::optional<mode_t> umask = detail::process_umask();
    if (!umask || (mode & *umask) != 0) ::fchmod(handle.native_handle(), mode);
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

  // A file written for `destination`, created at `path` by `create` (a descriptor, or -1 and
  // errno; a temporary's random suffix is chosen in `path`). It is recorded before it exists,
  // so that recording cannot fail once there is a file to remove; a failure throws `what` +
  // the destination.
  template <class Create>
  temporary_file& record_file(const std::filesystem::path& destination, std::string path, std::string_view what,
                              Create create) {
    auto file = std::make_shared<temporary_file>(destination);
    temporary_file& handle = *file;
    reserve_one();
    push([file = std::move(file)] { file->discard(); }, &resource_tracker::temporaries_);
    const int fd = create(path, handle.unfinished_);
    if (fd < 0) {
      const int code = errno;
      forget_newest();  // nothing was created: not counted as open
      throw_filesystem_error(code, std::string(what) + destination.string());
    }
    handle.fd_ = fd;  // closed with the scope from here on
    try {
      handle.in_place_ = path == destination.native();
      if (!handle.in_place_) handle.path_ = path;
    } catch (...) {
      ::unlink(path.c_str());
      throw;
    }
    handle.made_ = true;
    return handle;
  }

  // Called before a resource is opened, so that recording it cannot fail after it opened.
  void reserve_one() {
    if (entries_.size() == entries_.capacity()) entries_.reserve(std::max<std::size_t>(4, 2 * entries_.size()));
  }

  template <class Release>
  void push(Release release, counter_member kind) {
    entries_.push_back({std::function<void()>(std::move(release)), kind});
    if (tracker_) (tracker_->*kind).fetch_add(1, std::memory_order_relaxed);
  }

  // Drops the newest entry without running it, for a resource that was recorded but never opened.
  void forget_newest() noexcept {
    const counter_member kind = entries_.back().counter;
    entries_.pop_back();
    if (tracker_) (tracker_->*kind).fetch_sub(1, std::memory_order_relaxed);
  }

  [[noreturn]] static void throw_filesystem_error(int code, std::string what) {
    throw error(errc::filesystem_error, std::move(what), std::error_code(code, std::generic_category()));
  }

  resource_tracker* tracker_;
  std::vector<entry> entries_;
};

}  // namespace flash
