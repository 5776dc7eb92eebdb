#pragma once
// A progress bar on stderr for long work: drawn only when stderr is a terminal, redrawn at most
// ten times a second whatever the update rate, and erased when the work ends.
//
//   flash::progress_bar bar(total_bytes, "hashing");
//   bar.advance(n);   // from any thread
//   bar.finish();     // or let the destructor erase it

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <unistd.h>

namespace flash {

class progress_bar {
 public:
  using clock = std::chrono::steady_clock;

  /// `total` units of work (bytes, files); `label` is shown before the bar.
  progress_bar(std::uint64_t total, std::string label, bool enabled = ::isatty(STDERR_FILENO) == 1)
      : total_(total), label_(std::move(label)), enabled_(enabled), started_(clock::now()) {}
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  ~progress_bar() { finish(); }

  bool enabled() const noexcept { return enabled_; }
  std::uint64_t done() const noexcept { return done_.load(std::memory_order_relaxed); }

  void advance(std::uint64_t units) {
    const auto now_done = done_.fetch_add(units, std::memory_order_relaxed) + units;
    if (!enabled_) return;
    const auto now = clock::now();
    auto last = last_draw_.load(std::memory_order_relaxed);
    if (now.time_since_epoch().count() - last < interval_ns) return;
    if (!last_draw_.compare_exchange_strong(last, now.time_since_epoch().count())) return;
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (lock && !finished_) draw(now_done, now);
  }

  /// Erases the bar. Safe to call more than once.
  void finish() {
    if (!enabled_) return;
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    if (drawn_) std::fputs("\r\033[2K", stderr);
    std::fflush(stderr);
  }

 private:
  static constexpr std::int64_t interval_ns = 100'000'000;

  void draw(std::uint64_t done, clock::time_point now) {
    const double fraction = total_ ? std::min(1.0, static_cast<double>(done) / total_) : 0.0;
    const double seconds = std::chrono::duration<double>(now - started_).count();
    const double rate = seconds > 0 ? done / seconds : 0;
    const double eta = rate > 0 && total_ > done ? (total_ - done) / rate : 0;
    constexpr int width = 30;
    const int filled = static_cast<int>(fraction * width);
    fmt::print(stderr, "\r\033[2K{} [{:=<{}}{:<{}}] {:3.0f}% {:.1f} MB/s ETA {:.0f}s", label_, "", filled, "",
               width - filled, fraction * 100, rate / 1e6, eta);
    std::fflush(stderr);
    drawn_ = true;
  }

  const std::uint64_t total_;
  const std::string label_;
  const bool enabled_;
  const clock::time_point started_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::int64_t> last_draw_{0};
  std::mutex mutex_;
  bool drawn_ = false;
  bool finished_ = false;
};

}  // namespace flash
