#pragma once
// Retrying an operation with exponential backoff: delays of base, 2·base, 4·base ... capped
// (30 s by default), each spread by a random jitter so that many clients do not retry in step.
// A predicate chooses which errors are worth another try; cancellation never is.

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/exec/sleep.hpp>
#include <flash/runtime/task_group.hpp>

#include <boost/system/system_error.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <random>

namespace flash {

/// The default choice of what to retry: timeouts, network errors, exhausted resources, and
/// system errors other than cancellation.
inline bool is_transient(const std::exception_ptr& error) {
  if (is_cancellation(error)) return false;
  try {
    std::rethrow_exception(error);
  } catch (const flash::error& e) {
    return e.code() == errc::timeout || e.code() == errc::network_error ||
           e.code() == errc::resource_exhausted;
  } catch (const boost::system::system_error&) {
    return true;
  } catch (...) {
  }
  return false;
}

struct retry_policy {
  std::size_t max_attempts = 3;  ///< including the first
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{30'000};
  double jitter = 0.2;  ///< each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
  std::function<bool(const std::exception_ptr&)> retryable = is_transient;
};

/// The delay before attempt `attempt + 1`, after `attempt` (1-based) attempts failed.
template <class Random>
std::chrono::milliseconds backoff_delay(const retry_policy& policy, std::size_t attempt, Random& random) {
  double delay = static_cast<double>(policy.base_delay.count());
  for (std::size_t i = 1; i < attempt && delay < static_cast<double>(policy.max_delay.count()); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(policy.max_delay.count()));
  if (policy.jitter > 0) {
    std::uniform_real_distribution<double> spread(1 - policy.jitter, 1 + policy.jitter);
    delay = std::min(delay * spread(random), static_cast<double>(policy.max_delay.count()));
  }
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(delay));
}

/// Calls `operation()` (a function returning an awaitable) until it succeeds, a failure is not
/// retryable, or the attempts run out; then the last error propagates.
template <class Operation>
auto retry(Operation operation, retry_policy policy = {})
    -> std::invoke_result_t<Operation&> {
  std::minstd_rand random(std::random_device{}());
  for (std::size_t attempt = 1;; ++attempt) {
    std::exception_ptr failure;
    try {
      co_return co_await operation();
    } catch (...) {
      failure = std::current_exception();
    }
    if (attempt >= policy.max_attempts || !policy.retryable || !policy.retryable(failure))
      std::rethrow_exception(failure);
    co_await sleep_for(backoff_delay(policy, attempt, random));
  }
}

}  // namespace flash
