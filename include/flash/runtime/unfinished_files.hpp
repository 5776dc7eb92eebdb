#pragma once
// The files being written right now, so that a process ended at once (a second Ctrl-C) still
// removes them: a temporary beside its destination, or a file written under its own name.
//
// A scope removes its unfinished files when it unwinds; a forced exit does not unwind, so it
// calls unfinished_files::remove_all_and_exit(), which is async-signal-safe: it walks a fixed table
// of paths and unlinks each. The writer registers a path before it creates the file and checks
// afterwards whether an exit has begun (removing the file itself if so); with the exit flag
// set before the table is read, every file is removed by one side or the other.

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <utility>

namespace flash::detail {

class unfinished_files {
 public:
  /// A registered path; unregistered when destroyed. Empty when the table was full (the file
  /// is then removed by its scope only).
  class entry {
   public:
    entry() noexcept = default;
    entry(entry&& other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
    entry& operator=(entry&& other) noexcept {
      if (this != &other) {
        reset();
        slot_ = std::exchange(other.slot_, nullptr);
      }
      return *this;
    }
    ~entry() { reset(); }

    /// Takes the path out of the table (after the file was committed or removed).
    void reset() noexcept {
      if (!slot_) return;
      char* path = std::exchange(slot_, nullptr)->exchange(nullptr);
      // An exit under way may be reading the path: let it go with the process.
      if (!exiting().load()) std::free(path);
    }

   private:
    friend class unfinished_files;
    explicit entry(std::atomic<char*>* slot) noexcept : slot_(slot) {}
    std::atomic<char*>* slot_ = nullptr;
  };

  /// Records `path`, which the caller is about to create.
  static entry add(const char* path) noexcept {
    char* copy = ::strdup(path);
    if (!copy) return {};
    auto& table = slots();
    const std::size_t start = next_slot().fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < table.size(); ++i) {
      auto& slot = table[(start + i) % table.size()];
      char* expected = nullptr;
      if (slot.compare_exchange_strong(expected, copy)) return entry(&slot);
    }
    std::free(copy);
    return {};
  }

  /// open(2) of a new file at `path`, registered in `registration` first; -1 and errno on
  /// failure (nothing registered then).
  static int create(const char* path, int flags, mode_t mode, entry& registration) noexcept {
    return make(path, registration, [&] { return ::open(path, flags, mode); });
  }

  /// symlink(2) of `target` at `path`, registered in `registration` first; as create().
  static int create_symlink(const char* target, const char* path, entry& registration) noexcept {
    return make(path, registration, [&] { return ::symlink(target, path); });
  }

  /// Removes every registered file and ends the process with `status`. Async-signal-safe.
  [[noreturn]] static void remove_all_and_exit(int status) noexcept {
    exiting().store(true);
    for (auto& slot : slots())
      if (const char* path = slot.load()) ::unlink(path);
    ::_exit(status);
  }

 private:
  // Files written at once: a few per worker, or one per download; beyond this, only the
  // scopes remove theirs.
  static constexpr std::size_t capacity = 1024;

  static std::array<std::atomic<char*>, capacity>& slots() noexcept {
    static std::array<std::atomic<char*>, capacity> table{};
    return table;
  }
  static std::atomic<std::size_t>& next_slot() noexcept {
    static std::atomic<std::size_t> next{0};
    return next;
  }
  // Registers `path`, then creates it with `create_it` (a system call: -1 and errno on failure).
  // When an exit began meanwhile, the new file is removed at once: the exit may have read the
  // table before the file existed.
  template <class Create>
  static int make(const char* path, entry& registration, Create create_it) noexcept {
    registration = add(path);
    const int result = create_it();
    if (result < 0) {
      const int code = errno;
      registration.reset();
      errno = code;
    } else if (exiting().load()) {
      ::unlink(path);
    }
    return result;
  }

  static std::atomic<bool>& exiting() noexcept {
    static std::atomic<bool> flag{false};
    return flag;
  }
};

}  // namespace flash::detail
