#pragma once
// Reading a regular file through a read-only mapping of it, for work that only looks at the
// bytes (hashing): the data is read where the page cache holds it, not copied out of it first.
//
//   flash::mapped_file map(fd, size);                   // valid() is false if mmap(2) refused
//   if (map.populate(offset, length)) use(map.data() + offset, length);
//   const void* fault = flash::catching_sigbus([&] { use(map.data() + offset, length); });
//
// populate (MADV_POPULATE_READ, Linux 5.14) fills a range's page tables ahead of use, reading
// it from the disk if needed, and fails, instead of faulting, where the file has shrunk below
// the range. A file truncated by another process after that makes the next access to the lost
// pages raise SIGBUS: catching_sigbus turns that into a return value on the thread that touched
// them, so the caller can go on with read(2). Its handler is installed once, the first time it
// is used, and passes any other SIGBUS on to the handler that was there before (by default,
// ending the process as it would have).

#include <atomic>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstddef>
#include <mutex>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

namespace flash {

/// A read-only mapping of the first `size` bytes of a file, unmapped on destruction.
class mapped_file {
 public:
  mapped_file(int fd, std::size_t size) noexcept : size_(size) {
    void* address = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (address != MAP_FAILED) data_ = static_cast<const unsigned char*>(address);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  }

  bool valid() const noexcept { return data_ != nullptr; }
  const unsigned char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool contains(const void* address) const noexcept {
    const auto* byte = static_cast<const unsigned char*>(address);
    return data_ && byte >= data_ && byte < data_ + size_;
  }

  /// Fills the page tables of [offset, offset + length): false where the file no longer reaches
  /// that far, the kernel cannot (older than 5.14: then populate_supported() turns false), or a
  /// read of the disk failed.
  bool populate(std::size_t offset, std::size_t length) noexcept {
    const std::size_t start = offset / page_size() * page_size();
    if (::madvise(const_cast<unsigned char*>(data_) + start, offset + length - start, MADV_POPULATE_READ) == 0)
      return true;
    if (errno == EINVAL || errno == ENOSYS) supported_flag().store(false, std::memory_order_relaxed);
    return false;
  }

  /// Gives back the pages from the one holding `from` to the last whole one before `to` (they stay
  /// in the page cache), so that a large file does not stay whole in the process's resident
  /// memory; a later access maps them again.
  void release(std::size_t from, std::size_t to) noexcept {
    const std::size_t start = from / page_size() * page_size();
    const std::size_t stop = to / page_size() * page_size();
    if (stop > start) ::madvise(const_cast<unsigned char*>(data_) + start, stop - start, MADV_DONTNEED);
  }

  /// Whether populate works on this kernel, as far as it has been tried.
  static bool populate_supported() noexcept { return supported_flag().load(std::memory_order_relaxed); }

 private:
  static std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
  }
  static std::atomic<bool>& supported_flag() noexcept {
    static std::atomic<bool> supported{true};
    return supported;
  }

  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace detail {

struct sigbus_catcher {
  sigjmp_buf jump;
  const void* volatile address = nullptr;
};

inline thread_local sigbus_catcher* active_sigbus_catcher = nullptr;

inline struct sigaction& sigbus_action_before() noexcept {
  static struct sigaction before {};
  return before;
}

inline void on_sigbus(int signal, siginfo_t* info, void* context) {
  // Only a fault (si_code > 0) is the catcher's: one sent by a process (kill) is passed on.
  sigbus_catcher* const catcher = info->si_code > 0 ? active_sigbus_catcher : nullptr;
  if (catcher) {
    catcher->address = info->si_addr;
    siglongjmp(catcher->jump, 1);
  }
  const struct sigaction& before = sigbus_action_before();
  if ((before.sa_flags & SA_SIGINFO) && before.sa_sigaction) {
    before.sa_sigaction(signal, info, context);
  } else if (before.sa_handler != SIG_DFL && before.sa_handler != SIG_IGN) {
    before.sa_handler(signal);
  } else if (info->si_code > 0) {
    // A fault: on return the access runs again, now under the default action.
    ::signal(SIGBUS, SIG_DFL);
  } else if (before.sa_handler == SIG_DFL) {
    // Sent by a process (kill): what the default action does, once the handler returns.
    ::signal(SIGBUS, SIG_DFL);
    ::raise(SIGBUS);
  }
}

inline void install_sigbus_handler() noexcept {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &sigbus_action_before());
  });
}

}  // namespace detail

/// Runs `touch`, which only reads memory (no locks, no allocation, nothing to unwind: it is left
/// by a jump), and returns nullptr, or the address whose access raised SIGBUS on this thread.
template <class Touch>
const void* catching_sigbus(Touch&& touch) {
  detail::install_sigbus_handler();
  detail::sigbus_catcher catcher;
  detail::sigbus_catcher* const outer = detail::active_sigbus_catcher;
  // The signal mask is saved and restored by the jump: the handler runs with SIGBUS blocked (and,
  // under ThreadSanitizer, every signal), which leaving it by a jump would otherwise keep.
  if (sigsetjmp(catcher.jump, 1) == 0) {
    detail::active_sigbus_catcher = &catcher;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::forward<Touch>(touch)();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    detail::active_sigbus_catcher = outer;
    return nullptr;
  }
  detail::active_sigbus_catcher = outer;
  return catcher.address;
}

}  // namespace flash
