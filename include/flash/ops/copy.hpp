#pragma once
// Copying files without passing their data through user space, and copying directory trees
// concurrently.
//
//   auto result = flash::copy_file("big.iso", "/backup/big.iso");          // blocking: run it on the pool
//   auto result = co_await flash::async_copy_file(ctx, "big.iso", "/backup/big.iso");
//   auto tree = co_await flash::copy_tree(ctx, "src", "/backup/src");
//
// copy_file tries copy_file_range(2), then sendfile(2), then read(2)/write(2) with a pooled
// buffer, each time falling through when the kernel or a file system refuses the method (EXDEV,
// EINVAL, ENOSYS, EOPNOTSUPP...); copy_options::method forces one. The data goes to a temporary
// file beside the destination (resource_scope::create_temporary), renamed over it only once
// complete, so a failure, a full disk or a cancellation (checked between chunks) never leaves a
// half-written destination. copy_tree writes a file straight to its name (create_in_place,
// O_EXCL) when its directory is one the copy made, where there is nothing to replace; such a
// file is removed if its copy fails. A few workers share the files out. Like cp, it does not
// wait for the disk; copy_options::sync flushes each file first.
// Errors are flash::copy_error (a flash::error of errc::filesystem_error, or errc::cancelled)
// naming both paths: "copying a to b: No space left on device".
//
// A file-size limit (RLIMIT_FSIZE) is reported as an error (EFBIG) when SIGXFSZ is ignored, as
// flash::cli::run does for the commands it runs; a program of its own must do so itself:
// std::signal(SIGXFSZ, SIG_IGN).

#include <flash/cli/context.hpp>
#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/ops/buffer_pool.hpp>
#include <flash/ops/cancellable_read.hpp>
#include <flash/ops/file.hpp>
#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/offload.hpp>
#include <flash/runtime/resource_scope.hpp>
#include <flash/runtime/task_group.hpp>
#include <flash/runtime/unfinished_files.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <unordered_set>
#include <utility>
#include <vector>

namespace flash {

/// How a file's data is copied.
enum class copy_method {
  automatic,        ///< copy_file_range, then sendfile, then read/write: the first the files accept
  copy_file_range,  ///< in the kernel, possibly sharing blocks (reflink) on file systems that can
  sendfile,         ///< in the kernel, through the page cache
  read_write,       ///< through a user-space buffer
};

constexpr std::string_view to_string(copy_method method) noexcept {
  switch (method) {
    case copy_method::automatic: return "automatic";
    case copy_method::copy_file_range: return "copy_file_range";
    case copy_method::sendfile: return "sendfile";
    case copy_method::read_write: return "read_write";
  }
  return "unknown";
}

/// Where a copy failed, for messages that say which file was at fault.
enum class copy_stage {
  reading_source,        ///< opening, examining or reading the source
  creating_destination,  ///< creating the destination (or its temporary, or a directory or link)
  writing_destination,   ///< writing the data (a full disk, a file-size limit)
  committing,            ///< renaming it into place (after flushing it, with copy_options::sync)
};

/// A failed copy: a flash::error about "copying SOURCE to DESTINATION", with the stage it failed
/// at and the system's reason.
class copy_error : public error {
 public:
  copy_error(errc code, copy_stage stage, std::filesystem::path source, std::filesystem::path destination,
             std::error_code cause = {})
      : error(code, fmt::format("copying {} to {}", source.string(), destination.string()), cause),
        stage_(stage),
        source_(std::move(source)),
        destination_(std::move(destination)) {}

  copy_stage stage() const noexcept { return stage_; }
  const std::filesystem::path& source() const noexcept { return source_; }
  const std::filesystem::path& destination() const noexcept { return destination_; }

 private:
  copy_stage stage_;
  std::filesystem::path source_;
  std::filesystem::path destination_;
};

struct copy_options {
  copy_method method = copy_method::automatic;  ///< anything but automatic forces that method
  std::size_t chunk_size = 1 << 20;             ///< bytes per system call; cancellation is checked between
  mode_t mode_mask = 07777;       ///< the destination gets the source's mode & mode_mask (cp uses ~umask)
  bool sync = false;               ///< fsync each file before renaming it into place (cp does not)
  buffer_pool* buffers = nullptr;  ///< read/write buffers; a buffer is allocated when none is free
  cancellation_token token{};
  resource_tracker* resources = nullptr;  ///< counts the open descriptors and temporaries
  /// Bytes copied since the last call, on the copying thread (several at once in copy_tree).
  std::function<void(std::uint64_t)> on_progress{};
};

struct copy_result {
  std::uint64_t bytes = 0;
  copy_method method = copy_method::automatic;  ///< the method that copied the data
};

namespace detail {

inline bool method_refused(int code) noexcept {
  switch (code) {
    case EXDEV:
    case EINVAL:
    case ENOSYS:
    case EOPNOTSUPP:
#if ENOTSUP != EOPNOTSUPP
    case ENOTSUP:
#endif
    case EBADF:
    case EPERM:
    case ETXTBSY:
      return true;
    default:
      return false;
  }
}

class file_copier {
 public:
  /// `in_place`: the destination is new and in a directory nothing else looks at yet (one
  /// copy_tree made), so it is created where it belongs rather than beside it and renamed.
  file_copier(const std::filesystem::path& source, const std::filesystem::path& destination,
              const copy_options& options, const cancellation_token& also_cancelled_by, bool in_place = false)
      : source_(source),
        destination_(destination),
        options_(options),
        extra_token_(also_cancelled_by),
        in_place_(in_place) {}

  copy_result run() {
    check_cancelled();
    resource_scope scope(options_.resources);
    int in = -1;
    try {
      // Without blocking, so that a FIFO with no writer yet is waited for where a cancellation
      // is seen (see cancellable_read.hpp), not in open(2).
      in = scope.open_file(source_, O_RDONLY | (can_be_cancelled() ? O_NONBLOCK : 0)).native_handle();
    } catch (const error& e) {
      throw failure(copy_stage::reading_source, e.cause());
    }
    struct stat status {};
    if (::fstat(in, &status) != 0) throw failure(copy_stage::reading_source, errno);
    if (S_ISDIR(status.st_mode)) throw failure(copy_stage::reading_source, EISDIR);

    temporary_file* temporary = nullptr;
    const mode_t mode = status.st_mode & 07777 & options_.mode_mask;
    try {
      temporary = in_place_ ? create_in_place(scope, mode) : nullptr;
      if (!temporary) temporary = &scope.create_temporary(destination_, mode);
    } catch (const error& e) {
      throw failure(copy_stage::creating_destination, e.cause());
    }
    const int out = temporary->native_handle();

    // An empty size may hide data (/proc files): only read/write finds out.
    const bool sized = S_ISREG(status.st_mode) && status.st_size > 0;
    copy_result result;
    std::array<copy_method, 3> order{copy_method::copy_file_range, copy_method::sendfile, copy_method::read_write};
    std::size_t methods = sized ? 3 : 1;
    if (!sized) order[0] = copy_method::read_write;
    if (options_.method != copy_method::automatic) {
      order[0] = options_.method;
      methods = 1;
    }
    const std::uint64_t size = S_ISREG(status.st_mode) ? static_cast<std::uint64_t>(status.st_size) : 0;
    for (std::size_t i = 0; i < methods; ++i) {
      result.method = order[i];
      const int refused = copy_with(order[i], in, out, size, result.bytes);
      if (refused == 0) break;
      // A forced method has no fallback; read/write never refuses.
      if (i + 1 == methods) throw failure(copy_stage::writing_destination, refused);
    }

    check_cancelled();
    try {
      temporary->commit({.sync = options_.sync});
    } catch (const error& e) {
      throw failure(copy_stage::committing, e.cause());
    }
    return result;
  }

 private:
  // Copies from `copied` to the end (`size` is what fstat said, 0 when unknown); returns 0, or
  // the errno with which the method was refused before it copied anything.
  int copy_with(copy_method method, int in, int out, std::uint64_t size, std::uint64_t& copied) {
    switch (method) {
      case copy_method::copy_file_range: return copy_in_kernel(in, out, size, copied, true);
      case copy_method::sendfile: return copy_in_kernel(in, out, size, copied, false);
      case copy_method::read_write:
      case copy_method::automatic: break;
    }
    copy_through_buffer(in, out, copied);
    return 0;
  }

  int copy_in_kernel(int in, int out, std::uint64_t size, std::uint64_t& copied, bool use_copy_file_range) {
    const std::uint64_t started_at = copied;
    // sendfile moves at most 0x7ffff000 bytes a call, and writes at the output's file offset.
    const std::size_t chunk = std::min<std::size_t>(std::max<std::size_t>(options_.chunk_size, 1), 0x7ffff000);
    if (!use_copy_file_range && ::lseek(out, static_cast<off_t>(copied), SEEK_SET) < 0)
      throw failure(copy_stage::writing_destination, errno);
    for (;;) {
      check_cancelled();
      off_t in_offset = static_cast<off_t>(copied);
      off_t out_offset = static_cast<off_t>(copied);
      const ssize_t n = use_copy_file_range ? ::copy_file_range(in, &in_offset, out, &out_offset, chunk, 0)
                                            : ::sendfile(out, in, &in_offset, chunk);
      if (n < 0) {
        const int code = errno;
        if (code == EINTR) continue;
        if (copied == started_at && method_refused(code)) return code;
        throw failure(copy_stage::writing_destination, code);
      }
      // Nothing at all from a non-empty file: a file system that does not say (FUSE, procfs);
      // let the next method try.
      if (n == 0) return copied == 0 && size > 0 ? EINVAL : 0;
      copied += static_cast<std::uint64_t>(n);
      progress(static_cast<std::uint64_t>(n));
      // The size fstat gave is copied: a file that grows meanwhile is copied as it was when
      // opened, and a small file costs one call, not a second one that reads nothing.
      if (size > 0 && copied == size) return 0;
    }
  }

  void copy_through_buffer(int in, int out, std::uint64_t& copied) {
    std::optional<buffer_lease> lease;
    std::vector<std::byte> own;
    if (options_.buffers) lease = options_.buffers->try_acquire();
    std::span<std::byte> buffer;
    if (lease) {
      buffer = lease->span();
    } else {
      own.resize(std::max<std::size_t>(options_.chunk_size, 1));
      buffer = own;
    }
    const std::size_t chunk = std::min(buffer.size(), std::max<std::size_t>(options_.chunk_size, 1));
    bool seekable = true;  // a pipe or a terminal is read where it is
    const bool cancellable = can_be_cancelled();
    for (;;) {
      check_cancelled();
      ssize_t n = 0;
      if (seekable)
        n = ::pread(in, buffer.data(), chunk, static_cast<off_t>(copied));
      else if (cancellable)
        n = read_unless_cancelled(in, buffer.data(), chunk, [this] { return is_cancelled(); });
      else
        n = ::read(in, buffer.data(), chunk);
      if (n < 0) {
        if (errno == EINTR || (errno == ECANCELED && is_cancelled())) continue;  // check_cancelled throws
        if (errno == ESPIPE && seekable) {
          seekable = false;
          continue;
        }
        throw failure(copy_stage::reading_source, errno);
      }
      if (n == 0) return;
      std::size_t written = 0;
      while (written < static_cast<std::size_t>(n)) {
        const ssize_t w = ::pwrite(out, buffer.data() + written, static_cast<std::size_t>(n) - written,
                                   static_cast<off_t>(copied + written));
        if (w < 0) {
          if (errno == EINTR) continue;
          throw failure(copy_stage::writing_destination, errno);
        }
        written += static_cast<std::size_t>(w);
      }
      copied += static_cast<std::uint64_t>(n);
      progress(static_cast<std::uint64_t>(n));
    }
  }

  void progress(std::uint64_t bytes) {
    if (options_.on_progress) options_.on_progress(bytes);
  }

  bool can_be_cancelled() const { return options_.token.can_be_cancelled() || extra_token_.can_be_cancelled(); }
  bool is_cancelled() const { return options_.token.is_cancelled() || extra_token_.is_cancelled(); }

  void check_cancelled() const {
    if (is_cancelled())
      throw copy_error(errc::cancelled, copy_stage::writing_destination, source_, destination_);
  }

  copy_error failure(copy_stage stage, int code) const {
    return failure(stage, std::error_code(code, std::generic_category()));
  }
  copy_error failure(copy_stage stage, std::error_code cause) const {
    return copy_error(errc::filesystem_error, stage, source_, destination_, cause);
  }

  // The destination created where it belongs; nullptr when something is there after all
  // (made since the directory was), which the temporary-and-rename way then replaces.
  temporary_file* create_in_place(resource_scope& scope, mode_t mode) {
    try {
      return &scope.create_in_place(destination_, mode);
    } catch (const error& e) {
      if (e.cause() == std::errc::file_exists) return nullptr;
      throw;
    }
  }

  const std::filesystem::path& source_;
  const std::filesystem::path& destination_;
  const copy_options& options_;
  const cancellation_token& extra_token_;
  bool in_place_;
};

}  // namespace detail

/// Copies `source` to `destination` (replacing it) and says how. Blocking: call it on the pool
/// (or use async_copy_file). Throws flash::copy_error.
inline copy_result copy_file(const std::filesystem::path& source, const std::filesystem::path& destination,
                             const copy_options& options = {}) {
  const cancellation_token never;
  return detail::file_copier(source, destination, options, never).run();
}

/// copy_file on `pool`; cancelling the awaiting coroutine stops the copy between two chunks
/// and removes its temporary.
inline awaitable<copy_result> async_copy_file(boost::asio::any_io_executor pool, std::filesystem::path source,
                                              std::filesystem::path destination, copy_options options = {}) {
  auto work = [&](const cancellation_token& token) {
    return detail::file_copier(source, destination, options, token).run();
  };
  co_return co_await offload(pool, work);
}

/// async_copy_file on the context's pool, cancelled with the command, counting its resources.
inline awaitable<copy_result> async_copy_file(const context& ctx, std::filesystem::path source,
                                              std::filesystem::path destination, copy_options options = {}) {
  if (!options.token.can_be_cancelled()) options.token = ctx.token();
  if (!options.resources) options.resources = &ctx.resources();
  return async_copy_file(boost::asio::any_io_executor(ctx.pool().get_executor()), std::move(source),
                         std::move(destination), std::move(options));
}

/// What copying a tree does: the directories to create (parents first), the files to copy and
/// the symbolic links to recreate. Build one with add_tree (or add_file, add_symlink), look at
/// its size, then give it to copy_tree.
struct copy_plan {
  struct directory_entry {
    std::filesystem::path source, destination;
    mode_t mode = 0755;
  };
  struct file_entry {
    std::filesystem::path source, destination;
    std::uint64_t size = 0;  ///< when planned; 0 in a walk without sizes
  };
  struct symlink_entry {
    std::filesystem::path source, destination, target;
  };

  std::vector<directory_entry> directories;
  std::vector<file_entry> files;
  std::vector<symlink_entry> symlinks;
  std::vector<copy_error> failures;  ///< what could not be read while planning

  /// Whether walking a tree reads each file's size, for total_bytes() (a progress bar's
  /// total). Without it the walk reads the directories' listings and nothing per file where
  /// the listing gives each entry's type (a file system that does not is asked per entry): on
  /// a tree of small files the size of each was two thirds of the walk.
  bool sizes = true;

  std::uint64_t total_bytes() const noexcept {
    std::uint64_t total = 0;
    for (const auto& file : files) total += file.size;
    return total;
  }

  void add_file(std::filesystem::path source, std::filesystem::path destination, std::uint64_t size) {
    files.push_back({std::move(source), std::move(destination), size});
  }

  void add_symlink(std::filesystem::path source, std::filesystem::path destination, std::filesystem::path target) {
    symlinks.push_back({std::move(source), std::move(destination), std::move(target)});
  }

  /// Walks the directory `source` (without following symbolic links), planning its copy as
  /// `destination`. Unreadable entries are recorded in `failures`. (flash::add_tree does the
  /// same with the directories of each level listed at once on a pool.)
  void add_tree(const std::filesystem::path& source, const std::filesystem::path& destination) {
    if (!add_root(source, destination)) return;
    for (std::size_t next = directories.size() - 1; next < directories.size(); ++next) {
      const directory_entry listed = directories[next];  // a copy: listing adds to directories
      list_directory(listed, *this);
    }
  }

  /// Plans `source` itself as the top of a tree copied as `destination`; false (and a failure
  /// recorded) when it is not a directory that can be read.
  bool add_root(const std::filesystem::path& source, const std::filesystem::path& destination) {
    struct stat status {};
    if (::stat(source.c_str(), &status) != 0) return fail(source, destination, errno), false;
    if (!S_ISDIR(status.st_mode)) return fail(source, destination, ENOTDIR), false;
    directories.push_back({source, destination, status.st_mode & 07777});
    return true;
  }

  /// Plans what the directory `dir` holds into `into`: its subdirectories, files and links in
  /// the order they are read, and what cannot be read as failures.
  static void list_directory(const directory_entry& dir, copy_plan& into) {
    namespace fs = std::filesystem;
    auto failed = [&](int code) {
      into.failures.emplace_back(errc::filesystem_error, copy_stage::reading_source, dir.source, dir.destination,
                                 std::error_code(code, std::generic_category()));
    };
    std::unique_ptr<DIR, int (*)(DIR*)> stream(::opendir(dir.source.c_str()), &::closedir);
    if (!stream) return failed(errno);
    // Each entry's two paths are built from strings, each parsed once: a directory_iterator's
    // path, its filename() and operator/ parse them three times, which was most of the walk.
    auto prefix = [](const fs::path& directory) {
      std::string text = directory.native();
      if (!text.empty() && text.back() != '/') text += '/';
      return text;
    };
    const std::string source_prefix = prefix(dir.source), destination_prefix = prefix(dir.destination);
    for (;;) {
      errno = 0;
      const dirent* listed = ::readdir(stream.get());
      if (!listed) {
        if (errno != 0) failed(errno);
        return;
      }
      const std::string_view name = listed->d_name;
      if (name == "." || name == "..") continue;
      fs::path path(source_prefix + listed->d_name);
      fs::path target(destination_prefix + listed->d_name);
      // The listing's file type spares a stat of a regular file whose size is not wanted.
      if (!into.sizes && listed->d_type == DT_REG) {
        into.add_file(std::move(path), std::move(target), 0);
        continue;
      }
      struct stat entry {};
      if (::lstat(path.c_str(), &entry) != 0) {
        into.fail(path, target, errno);
      } else if (S_ISDIR(entry.st_mode)) {
        into.directories.push_back({std::move(path), std::move(target), entry.st_mode & 07777});
      } else if (S_ISREG(entry.st_mode)) {
        into.add_file(std::move(path), std::move(target), static_cast<std::uint64_t>(entry.st_size));
      } else if (S_ISLNK(entry.st_mode)) {
        std::error_code link_ec;
        fs::path link = fs::read_symlink(path, link_ec);
        if (link_ec)
          into.failures.emplace_back(errc::filesystem_error, copy_stage::reading_source, path, target, link_ec);
        else
          into.add_symlink(std::move(path), std::move(target), std::move(link));
      } else {
        into.fail(path, target, EOPNOTSUPP);  // devices, fifos and sockets are not copied
      }
    }
  }

  /// Appends everything `part` plans, after what this one plans.
  void append(copy_plan&& part) {
    auto move_into = [](auto& to, auto& from) { to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end())); };
    move_into(directories, part.directories);
    move_into(files, part.files);
    move_into(symlinks, part.symlinks);
    move_into(failures, part.failures);
  }

 private:
  void fail(const std::filesystem::path& source, const std::filesystem::path& destination, int code) {
    failures.emplace_back(errc::filesystem_error, copy_stage::reading_source, source, destination,
                          std::error_code(code, std::generic_category()));
  }
};

/// copy_plan::add_tree with the directories of each level of the tree listed at once on
/// `pool` (a level's directories are listed before the next level's, so the plan comes out in
/// the same order). Walking is a system call per entry: on a tree of 10,000 small files it was
/// a fifth of flash-cp's time before it was shared among the pool's threads.
inline awaitable<void> add_tree(boost::asio::any_io_executor pool, copy_plan& plan, std::filesystem::path source,
                                std::filesystem::path destination, cancellation_token token = {}) {
  auto root = [&] { return plan.add_root(source, destination); };
  if (!co_await offload(pool, root)) co_return;
  std::size_t level = plan.directories.size() - 1;
  while (level < plan.directories.size()) {
    token.throw_if_cancelled("planning a copy");
    const std::size_t level_end = plan.directories.size();
    std::vector<copy_plan> parts(level_end - level);
    for (auto& part : parts) part.sizes = plan.sizes;
    auto list = [&](std::size_t i) -> awaitable<void> {
      auto work = [&, i] { copy_plan::list_directory(plan.directories[level + i], parts[i]); };
      co_await offload(pool, work);
    };
    constexpr std::size_t listed_at_once = 16;
    co_await detail::for_each_index(parts.size(), listed_at_once, nullptr, token, list, "planning a copy");
    token.throw_if_cancelled("planning a copy");  // a cancelled group may have listed nothing
    for (auto& part : parts) plan.append(std::move(part));
    level = level_end;
  }
}

struct copy_tree_options {
  copy_options file{};               ///< how each file is copied (and the token, resources, progress)
  std::size_t max_concurrency = 0;   ///< files copied at once; 0: the context's limit (10 without one)
  bool fail_fast = false;            ///< stop at the first failure (and throw it)
  task_observer* observer = nullptr;  ///< counts each file as a task
};

struct copy_tree_result {
  std::size_t files = 0;
  std::size_t directories = 0;  ///< created
  std::size_t symlinks = 0;
  std::uint64_t bytes = 0;
  std::array<std::size_t, 4> files_by_method{};  ///< indexed by copy_method
  std::vector<copy_error> failures;              ///< planning and copying failures, in no set order

  bool ok() const noexcept { return failures.empty(); }
};

namespace detail {

// Creates a symbolic link under a temporary name beside `destination` and renames it over
// `destination`, so an existing file there is replaced whole or not at all.
inline void replace_with_symlink(const copy_plan::symlink_entry& link) {
  const auto directory = link.destination.has_parent_path() ? link.destination.parent_path() : std::filesystem::path(".");
  std::string temporary = (directory / ("." + link.destination.filename().string() + ".flash-XXXXXX")).string();
  unfinished_files::entry registration;
  for (int attempt = 0;; ++attempt) {
    fill_random_suffix(temporary);
    if (unfinished_files::create_symlink(link.target.c_str(), temporary.c_str(), registration) != 0) {
      if (errno == EEXIST && attempt < 100) continue;
      throw copy_error(errc::filesystem_error, copy_stage::creating_destination, link.source, link.destination,
                       std::error_code(errno, std::generic_category()));
    }
    if (::rename(temporary.c_str(), link.destination.c_str()) != 0) {
      const int code = errno;
      ::unlink(temporary.c_str());
      throw copy_error(errc::filesystem_error, copy_stage::committing, link.source, link.destination,
                       std::error_code(code, std::generic_category()));
    }
    return;
  }
}

struct tree_directories {
  std::vector<bool> created;
  std::unordered_set<std::string> made;    // destinations of the directories created
  std::unordered_set<std::string> failed;  // destinations that could not be made
  std::vector<copy_error> failures;
};

// What became of the directory a file goes into, looked up once for each run of files in one
// directory (a worker's files come in such runs) rather than once for each file: parent_path()
// allocates, and each set lookup hashes the whole path.
class parent_directory_cache {
 public:
  struct answer {
    bool made = false;    // created by this copy: the file can be created in place
    bool failed = false;  // could not be made: the file is skipped
  };

  explicit parent_directory_cache(const tree_directories& directories) : directories_(directories) {}

  answer of(const std::filesystem::path& destination) {
    // Two paths alike up to their last separator have the same parent.
    const std::string& name = destination.native();
    const std::string_view prefix(name.data(), std::min(name.size(), name.rfind('/') + 1));
    if (!known_ || prefix != prefix_) {
      const std::string parent = destination.parent_path().string();
      answer_ = {directories_.made.contains(parent), directories_.failed.contains(parent)};
      prefix_.assign(prefix);
      known_ = true;
    }
    return answer_;
  }

 private:
  const tree_directories& directories_;
  std::string prefix_;
  answer answer_;
  bool known_ = false;
};

// Creates the plan's directories, parents first; an existing directory is used as it is.
inline tree_directories create_directories(const copy_plan& plan, const cancellation_token& token) {
  tree_directories out;
  out.created.resize(plan.directories.size());
  for (std::size_t i = 0; i < plan.directories.size(); ++i) {
    token.throw_if_cancelled("copying a directory tree");
    const auto& dir = plan.directories[i];
    if (out.failed.contains(dir.destination.parent_path().string())) {
      out.failed.insert(dir.destination.string());
      continue;
    }
    // Owner access until the files are in; the mode is set at the end.
    if (::mkdir(dir.destination.c_str(), 0700) == 0) {
      out.created[i] = true;
      out.made.insert(dir.destination.string());
      continue;
    }
    int code = errno;
    struct stat status {};
    if (code == EEXIST && ::stat(dir.destination.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) continue;
    if (code == EEXIST) code = ENOTDIR;
    out.failed.insert(dir.destination.string());
    out.failures.emplace_back(errc::filesystem_error, copy_stage::creating_destination, dir.source, dir.destination,
                              std::error_code(code, std::generic_category()));
  }
  return out;
}

// One file counted as a task in `observer` (if any), from construction to destruction, however
// its copy ends.
struct observed_task {
  explicit observed_task(task_observer* counting) : observer(counting) {
    if (!observer) return;
    started = std::chrono::steady_clock::now();
    observer->task_spawned();
    observer->task_started();
  }
  ~observed_task() {
    if (observer) observer->task_finished(std::chrono::steady_clock::now() - started, cancelled, true);
  }
  observed_task(const observed_task&) = delete;
  observed_task& operator=(const observed_task&) = delete;

  task_observer* observer;
  std::chrono::steady_clock::time_point started;  // only with an observer
  bool cancelled = false;
};

// Hands the plan's files out to `workers` workers: each starts on a stretch of the list of its
// own and, when that is done, takes from the end of the stretch with the most left. A file is
// created under its directory's lock, and a plan lists a directory's files one after another:
// workers that each took the next file of the list all created in one directory at once, and
// spun on its lock a third of their time.
class file_claims {
 public:
  file_claims(std::size_t files, std::size_t workers) {
    for (std::size_t w = 0; w < workers; ++w) stretches_.push_back({files * w / workers, files * (w + 1) / workers});
  }

  /// The next file for `worker`, or nothing when every file has been handed out.
  std::optional<std::size_t> next(std::size_t worker) {
    std::lock_guard lock(mutex_);
    stretch& own = stretches_[worker];
    if (own.begin < own.end) return own.begin++;
    auto most = std::max_element(stretches_.begin(), stretches_.end(),
                                 [](const stretch& a, const stretch& b) { return a.end - a.begin < b.end - b.begin; });
    if (most == stretches_.end() || most->begin == most->end) return std::nullopt;
    return --most->end;
  }

 private:
  struct stretch {
    std::size_t begin, end;
  };
  std::mutex mutex_;
  std::vector<stretch> stretches_;
};

}  // namespace detail

/// Copies what `plan` lists: directories first, then the files, at most
/// `options.max_concurrency` at once on `pool`, then the symbolic links, then the directories'
/// modes. A failed file is recorded and the others go on (unless fail_fast); cancelling stops
/// the copy, leaving the files already copied and no partial one.
inline awaitable<copy_tree_result> copy_tree(boost::asio::any_io_executor pool, copy_plan plan,
                                             copy_tree_options options = {}) {
  copy_tree_result result;
  result.failures = std::move(plan.failures);
  const cancellation_token& token = options.file.token;

  auto make_directories = [&plan, &token] { return detail::create_directories(plan, token); };
  detail::tree_directories directories = co_await offload(pool, make_directories);
  for (auto& failure : directories.failures) result.failures.push_back(std::move(failure));
  result.directories = static_cast<std::size_t>(std::count(directories.created.begin(), directories.created.end(), true));

  std::optional<buffer_pool> own_buffers;
  copy_options per_file = options.file;
  const std::size_t limit = options.max_concurrency == 0 ? 10 : options.max_concurrency;
  if (!per_file.buffers) {
    own_buffers.emplace(std::max<std::size_t>(per_file.chunk_size, 1), limit);
    per_file.buffers = &*own_buffers;
  }
  // Each of `limit` workers (fewer for fewer files) copies files until none is left, going to
  // the pool for up to 64 files or 8 MiB at a time: handing a small file between threads costs
  // as much as copying it, and between two turns other work queued on the pool gets its
  // threads. Each file still counts as a task in the observer.
  const std::size_t workers = std::min(limit, plan.files.size());
  detail::file_claims claims(plan.files.size(), workers);
  struct turn {
    copy_tree_result done;
    bool more = true;  // files were left when the turn ended
  };
  std::mutex result_mutex;  // the workers resume on the caller's executor, maybe on several threads
  auto copy_files = [&](std::size_t worker) -> awaitable<void> {
    auto copy_some = [&, worker](const cancellation_token& cancelled) {
      constexpr std::size_t most_files = 64;
      constexpr std::uint64_t most_bytes = 8 << 20;
      turn this_turn;
      copy_tree_result& done = this_turn.done;
      detail::parent_directory_cache parents(directories);
      for (std::size_t taken = 0; taken < most_files && done.bytes < most_bytes; ++taken) {
        const std::optional<std::size_t> claimed = claims.next(worker);
        if (!claimed) {
          this_turn.more = false;
          break;
        }
        const auto& file = plan.files[*claimed];
        const auto parent = parents.of(file.destination);
        if (parent.failed) continue;
        detail::observed_task task(options.observer);
        try {
          const bool in_place = parent.made;
          const copy_result copied =
              detail::file_copier(file.source, file.destination, per_file, cancelled, in_place).run();
          ++done.files;
          done.bytes += copied.bytes;
          ++done.files_by_method[static_cast<std::size_t>(copied.method)];
        } catch (const copy_error& e) {
          task.cancelled = e.code() == errc::cancelled;
          if (task.cancelled || options.fail_fast) throw;
          done.failures.push_back(e);
        }
      }
      return this_turn;
    };
    for (bool more = true; more;) {
      turn ended = co_await offload(pool, copy_some);
      more = ended.more;
      std::lock_guard lock(result_mutex);
      result.files += ended.done.files;
      result.bytes += ended.done.bytes;
      for (std::size_t m = 0; m < ended.done.files_by_method.size(); ++m)
        result.files_by_method[m] += ended.done.files_by_method[m];
      for (auto& failure : ended.done.failures) result.failures.push_back(std::move(failure));
    }
  };
  co_await detail::for_each_index(workers, workers, nullptr, token, copy_files, "copying a directory tree");

  auto finish = [&plan, &directories, &result, &token, mask = options.file.mode_mask] {
    std::vector<copy_error> failures;
    for (const auto& link : plan.symlinks) {
      token.throw_if_cancelled("copying a directory tree");
      if (directories.failed.contains(link.destination.parent_path().string())) continue;
      try {
        detail::replace_with_symlink(link);
        ++result.symlinks;
      } catch (const copy_error& e) {
        failures.push_back(e);
      }
    }
    for (std::size_t i = plan.directories.size(); i-- > 0;) {
      if (directories.created[i] && ::chmod(plan.directories[i].destination.c_str(), plan.directories[i].mode & mask) != 0)
        failures.emplace_back(errc::filesystem_error, copy_stage::committing, plan.directories[i].source,
                              plan.directories[i].destination, std::error_code(errno, std::generic_category()));
    }
    return failures;
  };
  std::vector<copy_error> late_failures = co_await offload(pool, finish);
  for (auto& failure : late_failures) result.failures.push_back(std::move(failure));
  if (options.fail_fast && !result.failures.empty()) throw result.failures.front();
  co_return result;
}

/// Plans (on the pool) and copies the directory tree `source` as `destination`.
inline awaitable<copy_tree_result> copy_tree(boost::asio::any_io_executor pool, std::filesystem::path source,
                                             std::filesystem::path destination, copy_tree_options options = {}) {
  copy_plan plan;
  co_await add_tree(pool, plan, std::move(source), std::move(destination), options.file.token);
  co_return co_await copy_tree(std::move(pool), std::move(plan), std::move(options));
}

namespace detail {
inline copy_tree_options with_context(const context& ctx, copy_tree_options options) {
  if (options.max_concurrency == 0) options.max_concurrency = ctx.max_concurrency();
  if (!options.observer) options.observer = &ctx.metrics();
  if (!options.file.token.can_be_cancelled()) options.file.token = ctx.token();
  if (!options.file.resources) options.file.resources = &ctx.resources();
  return options;
}
}  // namespace detail

/// copy_tree on the context's pool, bounded by ctx.max_concurrency() unless the options say
/// otherwise, counted in its metrics and cancelled with the command.
inline awaitable<copy_tree_result> copy_tree(const context& ctx, copy_plan plan, copy_tree_options options = {}) {
  return copy_tree(boost::asio::any_io_executor(ctx.pool().get_executor()), std::move(plan),
                   detail::with_context(ctx, std::move(options)));
}

/// add_tree on the context's pool, cancelled with the command.
inline awaitable<void> add_tree(const context& ctx, copy_plan& plan, std::filesystem::path source,
                                std::filesystem::path destination) {
  return add_tree(boost::asio::any_io_executor(ctx.pool().get_executor()), plan, std::move(source),
                  std::move(destination), ctx.token());
}

inline awaitable<copy_tree_result> copy_tree(const context& ctx, std::filesystem::path source,
                                             std::filesystem::path destination, copy_tree_options options = {}) {
  return copy_tree(boost::asio::any_io_executor(ctx.pool().get_executor()), std::move(source),
                   std::move(destination), detail::with_context(ctx, std::move(options)));
}

}  // namespace flash
