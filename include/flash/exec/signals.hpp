#pragma once
// Turning SIGINT and SIGTERM into a cancellation request for the running command.
//
// The first signal asks the command to stop; a second one ends the process at once with
// 128 + the signal's number, as a shell reports a process killed by it.

#include <flash/runtime/cancellation.hpp>

#include <atomic>
#include <csignal>
#include <unistd.h>

namespace flash::detail {

inline std::atomic<int>& pending_interrupt() noexcept {
  static std::atomic<int> signal_number{0};
  return signal_number;
}

/// Records `signal_number` as the interrupt; returns false when one was already recorded.
inline bool record_interrupt(int signal_number) noexcept {
  int expected = 0;
  return pending_interrupt().compare_exchange_strong(expected, signal_number);
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
      if (!record_interrupt(signal_number)) ::_exit(128 + signal_number);
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
