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
/// The handlers are installed by the first blocking command and then left in place, since four
/// sigaction calls a command would cost more than parsing its command line. Outside a command a
/// signal does what the disposition they replaced would have done (by default, end the
/// process). Asio's signal_set, which the other models use, resets both signals to SIG_DFL when
/// it is destroyed: whoever creates one calls handed_over() so that the next blocking command
/// installs them again.
class interrupt_handlers {
 public:
  explicit interrupt_handlers(cancellation_state& target) noexcept {
    if (!installed().exchange(true)) install();
    current_target().store(&target);
  }
  ~interrupt_handlers() { current_target().store(nullptr); }
  interrupt_handlers(const interrupt_handlers&) = delete;
  interrupt_handlers& operator=(const interrupt_handlers&) = delete;

  /// Something else (an Asio signal_set) takes SIGINT and SIGTERM over from here on.
  static void handed_over() noexcept { installed().store(false); }

 private:
  static std::atomic<bool>& installed() noexcept {
    static std::atomic<bool> flag{false};
    return flag;
  }
  static std::atomic<cancellation_state*>& current_target() noexcept {
    static std::atomic<cancellation_state*> target{nullptr};
    return target;
  }
  static struct sigaction& replaced(int signal_number) noexcept {
    static struct sigaction interrupt {}, terminate {};
    return signal_number == SIGINT ? interrupt : terminate;
  }

  static void install() noexcept {
    install(SIGINT);
    install(SIGTERM);
  }
  static void install(int signal_number) noexcept {
    struct sigaction action {}, before {};
    action.sa_sigaction = &on_signal;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(signal_number, &action, &before);
    const bool ours = (before.sa_flags & SA_SIGINFO) && before.sa_sigaction == &on_signal;
    if (!ours) replaced(signal_number) = before;
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
      installed().store(false);
      sigaction(signal_number, &before, nullptr);
      ::raise(signal_number);
    } else if (before.sa_handler != SIG_IGN) {
      before.sa_handler(signal_number);
    }
  }
};

}  // namespace flash::detail
