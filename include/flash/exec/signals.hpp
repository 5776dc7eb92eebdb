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

/// Installs async-signal-safe handlers for code that runs no event loop (the blocking model),
/// and restores the previous ones when it ends. A signal marks `target` cancelled.
class interrupt_handlers {
 public:
  explicit interrupt_handlers(cancellation_state& target) noexcept {
    current_target().store(&target);
    struct sigaction action {};
    action.sa_handler = &on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~interrupt_handlers() {
    current_target().store(nullptr);
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  interrupt_handlers(const interrupt_handlers&) = delete;
  interrupt_handlers& operator=(const interrupt_handlers&) = delete;

 private:
  static std::atomic<cancellation_state*>& current_target() noexcept {
    static std::atomic<cancellation_state*> target{nullptr};
    return target;
  }

  static void on_signal(int signal_number) noexcept {
    if (!record_interrupt(signal_number)) ::_exit(128 + signal_number);
    if (auto* target = current_target().load()) target->mark_cancelled();
  }
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

}  // namespace flash::detail
