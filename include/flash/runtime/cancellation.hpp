#pragma once
// Cancellation that reaches every suspended operation: a source requests it, tokens observe it.
//
// A token is checked by CPU loops (`token.is_cancelled()`), and carries callbacks that the
// async parts of Flash register to emit Asio cancellation signals on the right executor, so a
// request reaches timers, sockets, queued pool work and semaphore waits alike. A source may be
// linked to a parent token: cancelling the parent cancels the child, never the other way round.

#include <flash/core/error.hpp>

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace flash {

namespace detail {

class cancellation_state {
 public:
  using callback_list = std::list<std::function<void()>>;

  bool is_cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }

  void request() {
    callback_list to_run;
    {
      std::lock_guard lock(mutex_);
      if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
      to_run.swap(callbacks_);
    }
    for (auto& callback : to_run) callback();
  }

  /// Registers `callback`, or runs it now when cancellation was already requested.
  /// Returns false when it ran now (nothing was registered).
  bool add(callback_list::iterator& at, std::function<void()> callback) {
    {
      std::lock_guard lock(mutex_);
      if (!is_cancelled()) {
        at = callbacks_.insert(callbacks_.end(), std::move(callback));
        return true;
      }
    }
    callback();
    return false;
  }

  void remove(callback_list::iterator at) {
    std::lock_guard lock(mutex_);
    if (!is_cancelled()) callbacks_.erase(at);
  }

  /// For a signal handler: async-signal-safe, runs no callbacks.
  void mark_cancelled() noexcept { cancelled_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  callback_list callbacks_;
};

}  // namespace detail

/// Keeps a callback registered with a token; unregisters it when destroyed.
class cancellation_registration {
 public:
  cancellation_registration() = default;
  cancellation_registration(std::shared_ptr<detail::cancellation_state> state,
                            detail::cancellation_state::callback_list::iterator at)
      : state_(std::move(state)), at_(at) {}
  cancellation_registration(cancellation_registration&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)), at_(other.at_) {}
  cancellation_registration& operator=(cancellation_registration&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::exchange(other.state_, nullptr);
      at_ = other.at_;
    }
    return *this;
  }
  ~cancellation_registration() { reset(); }

  void reset() {
    if (auto state = std::exchange(state_, nullptr)) state->remove(at_);
  }

 private:
  std::shared_ptr<detail::cancellation_state> state_;
  detail::cancellation_state::callback_list::iterator at_{};
};

/// Observes a cancellation_source. Cheap to copy; a default-constructed token is never cancelled.
class cancellation_token {
 public:
  cancellation_token() = default;
  explicit cancellation_token(std::shared_ptr<detail::cancellation_state> state)
      : state_(std::move(state)) {}

  bool is_cancelled() const noexcept { return state_ && state_->is_cancelled(); }
  bool can_be_cancelled() const noexcept { return state_ != nullptr; }

  /// Throws flash::error(errc::cancelled) when cancellation was requested.
  void throw_if_cancelled(std::string what = "operation") const {
    if (is_cancelled()) throw error(errc::cancelled, std::move(what));
  }

  /// Runs `callback` once when cancellation is requested (at once if it already was), on the
  /// thread that requests it, unless the registration is destroyed first.
  [[nodiscard]] cancellation_registration on_cancel(std::function<void()> callback) const {
    if (!state_) return {};
    detail::cancellation_state::callback_list::iterator at;
    if (!state_->add(at, std::move(callback))) return {};
    return {state_, at};
  }

 private:
  friend class cancellation_source;
  std::shared_ptr<detail::cancellation_state> state_;
};

/// Requests cancellation. Linked to a parent token, it is cancelled with its parent.
class cancellation_source {
 public:
  cancellation_source() : state_(std::make_shared<detail::cancellation_state>()) {}

  explicit cancellation_source(const cancellation_token& parent) : cancellation_source() {
    std::weak_ptr<detail::cancellation_state> weak = state_;
    parent_link_ = parent.on_cancel([weak] {
      if (auto state = weak.lock()) state->request();
    });
  }

  cancellation_token token() const { return cancellation_token(state_); }
  void request_cancel() { state_->request(); }
  bool is_cancelled() const noexcept { return state_->is_cancelled(); }

  /// The state a signal handler may mark without locking (see exec/signals.hpp).
  detail::cancellation_state& state() noexcept { return *state_; }

 private:
  std::shared_ptr<detail::cancellation_state> state_;
  cancellation_registration parent_link_;
};

}  // namespace flash
