#pragma once
// Reading a descriptor that may wait for ever (a pipe, a FIFO, a terminal) so that a
// cancellation still ends the wait: the read waits in short polls that look at the token.
//
//   const int fd = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
//   const ssize_t got = flash::read_unless_cancelled(fd, buffer, size, token);
//   if (got < 0 && errno == ECANCELED) ...
//
// O_NONBLOCK keeps open(2) of a FIFO that has no writer yet from waiting (where nothing could
// interrupt it); the wait for the first writer then happens here, as poll(2) reports neither
// data nor a hang-up before one came.

#include <flash/runtime/cancellation.hpp>

#include <cerrno>
#include <concepts>
#include <cstddef>
#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace flash {

/// Whether a read from `fd` may wait for ever: true for pipes, FIFOs, terminals and sockets;
/// false for regular files and disks, whose reads end on their own.
inline bool may_wait_forever(int fd) noexcept {
  struct stat status {};
  return ::fstat(fd, &status) == 0 && !S_ISREG(status.st_mode) && !S_ISBLK(status.st_mode);
}

/// read(2) of up to `size` bytes, waiting for data in polls of 100 ms: returns -1 with errno
/// ECANCELED once `cancelled()` is true, else what read returned (0 at the end of the input).
/// An interrupted call or EAGAIN (for a descriptor opened with O_NONBLOCK) waits again.
template <std::predicate Cancelled>
ssize_t read_unless_cancelled(int fd, void* data, std::size_t size, Cancelled cancelled) {
  for (;;) {
    if (cancelled()) {
      errno = ECANCELED;
      return -1;
    }
    pollfd waiting{fd, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, 100);
    if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    if (ready < 0) return -1;
    const ssize_t got = ::read(fd, data, size);
    if (got >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) return got;
  }
}

/// The same, cancelled by `token`.
inline ssize_t read_unless_cancelled(int fd, void* data, std::size_t size, const cancellation_token& token) {
  return read_unless_cancelled(fd, data, size, [&token] { return token.is_cancelled(); });
}

}  // namespace flash
