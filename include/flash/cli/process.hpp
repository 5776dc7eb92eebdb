#pragma once
// What a command-line program's process needs around its commands: standard descriptors that
// cannot be mistaken for others, no death at the file-size limit, and output that is known to
// have been written.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <string>
#include <unistd.h>

namespace flash::detail {

/// Once a process, before its first command:
/// - A standard descriptor (0, 1 or 2) that is closed gets /dev/null opened the other way
///   round, so that using it fails with EBADF as it would, while its number cannot go to the
///   next file or event descriptor opened (which a command would then read as its standard
///   input, or write its output into).
/// - SIGXFSZ, which ends the process at the file-size limit (`ulimit -f`) with no chance to
///   remove a partial file, is ignored unless the program handles it: the write fails with
///   EFBIG instead, and the command reports "File too large" and cleans up.
inline void prepare_process() noexcept {
  static const bool prepared = [] {
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
      if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
      // The lowest free number is `fd` itself, as the ones below it are open by now.
      const int opened = ::open("/dev/null", fd == STDIN_FILENO ? O_WRONLY : O_RDONLY);
      if (opened >= 0 && opened != fd) ::close(opened);
    }
    struct sigaction current {};
    if (::sigaction(SIGXFSZ, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
        current.sa_handler == SIG_DFL)
      std::signal(SIGXFSZ, SIG_IGN);
    return true;
  }();
  static_cast<void>(prepared);
}

/// Flushes std::cout and stdout; why what was written to them did not all reach the standard
/// output ("No space left on device"), or nullopt when it did.
inline std::optional<std::string> standard_output_failure() {
  std::cout.flush();
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  const int code = errno;
  if (flushed && !std::ferror(stdout) && !std::cout.fail()) return std::nullopt;
  return std::string(code != 0 ? std::strerror(code) : "write error");
}

}  // namespace flash::detail
