#pragma once
// The one way the operations write a file: into a temporary beside the destination, renamed
// over it once complete, so that a failure, a full disk or a cancellation never leaves half of
// one. The temporary belongs to a resource scope, which removes it if the scope ends first.
//
//   flash::resource_scope scope(&tracker);
//   flash::staged_file& out = flash::create_staged_file(scope, "backup/big.iso", 0644);
//   write(out.native_handle(), ...);
//   out.commit();                   // renamed into place; the kernel writes it back in its time
//   out.commit({.sync = true});     // or: on disk (fsync) before the name appears
//
// Flushing every file costs a disk round trip each (cp does not do it), so it is the caller's
// choice. A destination that exists and is not a regular file (a directory, a fifo, a device)
// is refused before anything is written: the rename would replace it, not write into it.

#include <flash/core/error.hpp>
#include <flash/runtime/resource_scope.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

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

inline std::error_code make_error_code(destination_errc code) noexcept {
  static const detail::destination_category_impl category;
  return {static_cast<int>(code), category};
}

}  // namespace flash

template <>
struct std::is_error_code_enum<flash::destination_errc> : std::true_type {};

namespace flash {

struct commit_options {
  bool sync = false;  ///< fsync before the rename: the data is on disk when the name appears
};

class staged_file;
inline staged_file& create_staged_file(resource_scope& scope, const std::filesystem::path& destination,
                                       mode_t mode = 0644);

/// A temporary file beside its destination; see create_staged_file.
class staged_file {
 public:
  explicit staged_file(std::filesystem::path destination) : destination_(std::move(destination)) {}
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;
  ~staged_file() { discard(); }

  int native_handle() const noexcept { return fd_; }
  /// The temporary's path, until commit() renames it to destination().
  const std::filesystem::path& path() const noexcept { return path_; }
  const std::filesystem::path& destination() const noexcept { return destination_; }
  bool committed() const noexcept { return committed_; }

  /// Closes the file (after an fsync if asked) and renames it over the destination. Throws
  /// flash::error(filesystem_error) naming the file; the temporary is then removed with the scope.
  void commit(commit_options options = {}) {
    if (committed_) return;
    if ((options.sync && ::fsync(fd_) != 0) || ::close(std::exchange(fd_, -1)) != 0)
      throw error(errc::filesystem_error, "writing " + path_.string(),
                  std::error_code(errno, std::generic_category()));
    std::error_code ec;
    std::filesystem::rename(path_, destination_, ec);
    if (ec)
      throw error(errc::filesystem_error, fmt::format("renaming {} to {}", path_.string(), destination_.string()),
                  ec);
    committed_ = true;
  }

  /// Closes and removes the temporary unless it was committed. Safe to call more than once.
  void discard() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (!committed_ && !path_.empty()) ::unlink(path_.c_str());
    path_.clear();
  }

 private:
  friend staged_file& create_staged_file(resource_scope&, const std::filesystem::path&, mode_t);

  int fd_ = -1;
  std::filesystem::path path_;
  std::filesystem::path destination_;
  bool committed_ = false;
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

/// Creates a temporary with permissions `mode` in the destination's directory, owned by `scope`
/// (removed when the scope ends, unless committed). Throws flash::error naming the destination.
inline staged_file& create_staged_file(resource_scope& scope, const std::filesystem::path& destination,
                                       mode_t mode) {
  check_writable_destination(destination);
  const auto directory = destination.has_parent_path() ? destination.parent_path() : std::filesystem::path(".");
  std::string pattern = (directory / ("." + destination.filename().string() + ".flash-XXXXXX")).string();
  auto file = std::make_shared<staged_file>(destination);
  // Registered before it exists, so that registering cannot fail once there is a file to remove.
  scope.on_exit([file] { file->discard(); });
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0)
    throw error(errc::filesystem_error, "creating a temporary file for " + destination.string(),
                std::error_code(errno, std::generic_category()));
  file->fd_ = fd;
  file->path_ = pattern;
  ::fchmod(fd, mode);
  return *file;
}

}  // namespace flash
