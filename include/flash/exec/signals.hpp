#pragma once
// Turning SIGINT and SIGTERM into a cancellation request for the running command.
//
// The first signal asks the command to stop; a second one ends the process at once with
// 128 + the signal's number, as a shell reports a process killed by it, removing the files it
// was writing (unfinished_files). The same signal again within 50 ms is the same request, not
// a second one: GNU timeout, and kill with a process group, send it to the process and to its
// group, so it arrives twice within microseconds.

#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/unfinished_files.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <unistd.h>

namespace flash::detail {

inline std::atomic<int>& pending_interrupt() noexcept {
  static std::atomic<int> signal_number{0};
  return signal_number;
}

// When the pending interrupt arrived, in monotonic nanoseconds; 0 until it is recorded.
inline std::atomic<std::int64_t>& pending_interrupt_time() noexcept {
  static std::atomic<std::int64_t> nanoseconds{0};
  return nanoseconds;
}

/// Forgets the interrupt of an earlier command.
inline void clear_interrupt() noexcept {
  pending_interrupt_time().store(0);
  pending_interrupt().store(0);
}

/// Records `signal_number` as the interrupt (async-signal-safe). Returns false when this is a
/// second request, which should end the process at once.
inline bool record_interrupt(int signal_number) noexcept {
  struct timespec now {};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const std::int64_t nanoseconds = std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  int expected = 0;
  if (pending_interrupt().compare_exchange_strong(expected, signal_number)) {
    pending_interrupt_time().store(nanoseconds);
    return true;
  }
  const std::int64_t first = pending_interrupt_time().load();  // 0: being recorded right now
  return expected == signal_number && (first == 0 || nanoseconds - first < 50'000'000);
}

/// Ends the process for a second interrupt: 128 + its number, the unfinished files removed.
[[noreturn]] inline void exit_on_second_interrupt(int signal_number) noexcept {
  unfinished_files::remove_all_and_exit(128 + signal_number);
}

/// Async-signal-safe SIGINT and SIGTERM handlers for code that runs no event loop (the blocking
/// model); while one is alive, a signal marks `target` cancelled.
///
/// Installing and restoring both handlers for every command would take four sigaction calls,
/// more than parsing a command line costs. So a command reads the two dispositions and installs
/// Flash's handler where it is not there already; when the command ends, a handler of the
/// program's own is put back (with its flags and mask), while SIG_DFL or SIG_IGN stays replaced
/// by Flash's handler, which outside a command does what they would: end the process by the
/// signal, or nothing. Whoever changes the dispositions in between (std::signal, an Asio
/// signal_set, a test runner) is seen by the next command.
class interrupt_handlers {
 public:
  explicit interrupt_handlers(cancellation_state& target) noexcept {
    current_target().store(&target);
    take(SIGINT);
    take(SIGTERM);
  }
  ~interrupt_handlers() {
    current_target().store(nullptr);
    give_back(SIGINT);
    give_back(SIGTERM);
  }
  interrupt_handlers(const interrupt_handlers&) = delete;
  interrupt_handlers& operator=(const interrupt_handlers&) = delete;

 private:
  static std::atomic<cancellation_state*>& current_target() noexcept {
    static std::atomic<cancellation_state*> target{nullptr};
    return target;
  }
  static struct sigaction& replaced(int signal_number) noexcept {
    static struct sigaction interrupt {}, terminate {};
    return signal_number == SIGINT ? interrupt : terminate;
  }
  static bool is_ours(const struct sigaction& action) noexcept {
    return (action.sa_flags & SA_SIGINFO) && action.sa_sigaction == &on_signal;
  }
  static bool is_function(const struct sigaction& action) noexcept {
    return (action.sa_flags & SA_SIGINFO) || (action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN);
  }

  static void take(int signal_number) noexcept {
    struct sigaction current {};
    ::sigaction(signal_number, nullptr, &current);
    if (is_ours(current)) return;
    replaced(signal_number) = current;  // recorded before our handler can run
    struct sigaction action {};
    action.sa_sigaction = &on_signal;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(signal_number, &action, nullptr);
  }

  static void give_back(int signal_number) noexcept {
    if (is_function(replaced(signal_number))) ::sigaction(signal_number, &replaced(signal_number), nullptr);
  }

  static void on_signal(int signal_number, siginfo_t* info, void* context) noexcept {
    if (auto* target = current_target().load()) {
      if (!record_interrupt(signal_number)) exit_on_second_interrupt(signal_number);
      target->mark_cancelled();
      return;
    }
    const struct sigaction& before = replaced(signal_number);
    if (before.sa_flags & SA_SIGINFO) {
      before.sa_sigaction(signal_number, info, context);
    } else if (before.sa_handler == SIG_DFL) {
      // Put the default back and raise again: delivered when this handler returns.
      ::sigaction(signal_number, &before, nullptr);
      ::raise(signal_number);
    } else if (before.sa_handler != SIG_IGN) {
      before.sa_handler(signal_number);
    }
  }
};

}  // namespace flash::detail
