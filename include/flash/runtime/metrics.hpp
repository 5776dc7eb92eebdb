#pragma once
// Counters of what a command's tasks did: relaxed atomics, each on its own cache line, so the
// hot path takes no lock and threads do not fight over a line. A report at the end, as text or
// JSON.

#include <flash/runtime/task_group.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace flash {

namespace detail {
struct alignas(64) padded_counter {
  std::atomic<std::uint64_t> value{0};

  void add(std::uint64_t n = 1) noexcept { value.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::uint64_t n = 1) noexcept { value.fetch_sub(n, std::memory_order_relaxed); }
  std::uint64_t load() const noexcept { return value.load(std::memory_order_relaxed); }
  void store(std::uint64_t n) noexcept { value.store(n, std::memory_order_relaxed); }
  void raise_to(std::uint64_t candidate) noexcept {
    auto seen = value.load(std::memory_order_relaxed);
    while (seen < candidate && !value.compare_exchange_weak(seen, candidate, std::memory_order_relaxed)) {
    }
  }
};
}  // namespace detail

/// A consistent-enough copy of the counters, taken at one moment.
struct metrics_snapshot {
  std::uint64_t tasks_spawned = 0;
  std::uint64_t tasks_completed = 0;
  std::uint64_t tasks_cancelled = 0;
  double average_task_ms = 0;
  std::uint64_t peak_concurrency = 0;
  std::uint64_t steal_attempts = 0;
  std::uint64_t steal_successes = 0;
  std::uint64_t memory_peak = 0;
  std::uint64_t memory_current = 0;

  /// The report of the original design:
  ///   Async Performance Report:
  ///     Tasks: 10 spawned, 9 completed, 1 cancelled ...
  std::string report() const {
    return fmt::format(
        "Async Performance Report:\n"
        "  Tasks: {} spawned, {} completed, {} cancelled\n"
        "  Average Duration: {:.2f}ms\n"
        "  Peak Concurrency: {}\n"
        "  Work Stealing: {}/{} success rate\n"
        "  Memory: {} peak, {} current\n",
        tasks_spawned, tasks_completed, tasks_cancelled, average_task_ms, peak_concurrency,
        steal_successes, steal_attempts, memory_peak, memory_current);
  }

  std::string json() const {
    return fmt::format(
        "{{\"tasks_spawned\":{},\"tasks_completed\":{},\"tasks_cancelled\":{},"
        "\"average_task_ms\":{:.3f},\"peak_concurrency\":{},\"steal_attempts\":{},"
        "\"steal_successes\":{},\"memory_peak\":{},\"memory_current\":{}}}\n",
        tasks_spawned, tasks_completed, tasks_cancelled, average_task_ms, peak_concurrency,
        steal_attempts, steal_successes, memory_peak, memory_current);
  }
};

class metrics final : public task_observer {
 public:
  void task_spawned() noexcept override { spawned_.add(); }

  void task_started() noexcept override {
    // fetch_add's result, not a second load: concurrent starts must not both miss the peak.
    const auto now_running = running_.value.fetch_add(1, std::memory_order_relaxed) + 1;
    peak_concurrency_.raise_to(now_running);
  }

  /// A task that ended cancelled counts as cancelled, not completed.
  void task_finished(std::chrono::nanoseconds duration, bool cancelled, bool started) noexcept override {
    if (started) running_.sub();
    (cancelled ? cancelled_ : completed_).add();
    total_duration_ns_.add(static_cast<std::uint64_t>(duration.count()));
  }

  void memory_allocated(std::size_t bytes) noexcept {
    memory_peak_.raise_to(memory_current_.value.fetch_add(bytes, std::memory_order_relaxed) + bytes);
  }
  void memory_released(std::size_t bytes) noexcept { memory_current_.sub(bytes); }

  /// The pool's stealing counters are kept by the pool; they are copied in for the report.
  void set_steal_counts(std::uint64_t attempts, std::uint64_t successes) noexcept {
    steal_attempts_.store(attempts);
    steal_successes_.store(successes);
  }

  metrics_snapshot snapshot() const noexcept {
    metrics_snapshot s;
    s.tasks_spawned = spawned_.load();
    s.tasks_completed = completed_.load();
    s.tasks_cancelled = cancelled_.load();
    const auto finished = s.tasks_completed + s.tasks_cancelled;
    s.average_task_ms = finished ? static_cast<double>(total_duration_ns_.load()) / finished / 1e6 : 0.0;
    s.peak_concurrency = peak_concurrency_.load();
    s.steal_attempts = steal_attempts_.load();
    s.steal_successes = steal_successes_.load();
    s.memory_peak = memory_peak_.load();
    s.memory_current = memory_current_.load();
    return s;
  }

 private:
  detail::padded_counter spawned_, completed_, cancelled_, running_, total_duration_ns_;
  detail::padded_counter peak_concurrency_, steal_attempts_, steal_successes_;
  detail::padded_counter memory_current_, memory_peak_;
};

}  // namespace flash
