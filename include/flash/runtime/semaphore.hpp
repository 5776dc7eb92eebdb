#pragma once
// An asynchronous counting semaphore for backpressure: fair (waiters are served in order, and
// a release hands its permit straight to the oldest waiter), cancellable (a cancelled wait
// completes with operation_aborted and takes no permit), and safe to use from any thread.

#include <flash/exec/awaitable.hpp>
#include <flash/runtime/detail/complete.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>

namespace flash {

class semaphore {
 public:
  explicit semaphore(std::size_t permits) : available_(permits) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// Waits for a permit; completes with `void(boost::system::error_code)`.
  template <class CompletionToken>
  auto async_acquire(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this](auto handler) { this->start_acquire(std::move(handler)); }, token);
  }

  /// `co_await sem.acquire();` throws boost::system::system_error when cancelled.
  awaitable<void> acquire() { return async_acquire(boost::asio::use_awaitable); }

  /// Takes a permit if one is free and nobody is waiting.
  bool try_acquire() {
    std::lock_guard lock(mutex_);
    if (available_ == 0 || !waiters_.empty()) return false;
    --available_;
    return true;
  }

  void release() {
    std::unique_lock lock(mutex_);
    if (waiters_.empty()) {
      ++available_;
      return;
    }
    auto next = std::move(waiters_.front());
    waiters_.pop_front();
    lock.unlock();
    detail::post_completion(next->executor, std::move(next->handler), boost::system::error_code());
  }

  std::size_t available() const {
    std::lock_guard lock(mutex_);
    return available_;
  }

  std::size_t waiting() const {
    std::lock_guard lock(mutex_);
    return waiters_.size();
  }

 private:
  struct waiter {
    boost::asio::any_io_executor executor;
    boost::asio::any_completion_handler<void(boost::system::error_code)> handler;
  };

  template <class Handler>
  void start_acquire(Handler handler) {
    std::unique_lock lock(mutex_);
    if (available_ > 0 && waiters_.empty()) {
      --available_;
      lock.unlock();
      detail::post_completion(std::move(handler), boost::system::error_code());
      return;
    }
    auto executor = detail::completion_executor(handler);
    auto entry = std::make_shared<waiter>(waiter{std::move(executor), std::move(handler)});
    // The erased handler has put its own cancellation state in the original slot: the slot to
    // use from now on is the one it exposes.
    auto slot = boost::asio::get_associated_cancellation_slot(entry->handler);
    waiters_.push_back(entry);
    lock.unlock();
    if (slot.is_connected()) {
      std::weak_ptr<waiter> weak = entry;
      slot.assign([this, weak](boost::asio::cancellation_type) { cancel_wait(weak.lock()); });
    }
  }

  void cancel_wait(std::shared_ptr<waiter> entry) {
    if (!entry) return;
    std::unique_lock lock(mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (*it != entry) continue;
      waiters_.erase(it);
      lock.unlock();
      detail::post_completion(entry->executor, std::move(entry->handler),
                              boost::system::error_code(boost::asio::error::operation_aborted));
      return;
    }
  }

  mutable std::mutex mutex_;
  std::size_t available_;
  std::list<std::shared_ptr<waiter>> waiters_;
};

/// Holds one permit of a semaphore and gives it back when destroyed.
class semaphore_permit {
 public:
  explicit semaphore_permit(semaphore& owner) noexcept : owner_(&owner) {}
  semaphore_permit(semaphore_permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
  semaphore_permit& operator=(semaphore_permit&&) = delete;
  ~semaphore_permit() {
    if (owner_) owner_->release();
  }

 private:
  semaphore* owner_;
};

/// `auto permit = co_await flash::acquire_permit(sem);`
inline awaitable<semaphore_permit> acquire_permit(semaphore& sem) {
  co_await sem.acquire();
  co_return semaphore_permit(sem);
}

}  // namespace flash
