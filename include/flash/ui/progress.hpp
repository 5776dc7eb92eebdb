#pragma once
// Progress on stderr for long work: bars with rate and ETA, a spinner when the total is unknown,
// and one line per task when several run at once.
//
//   flash::progress_bar bar(total_bytes, "hashing");     // one line
//   bar.advance(n);                                       // from any thread
//   bar.finish();                                         // or let the destructor erase it
//
//   flash::multi_progress progress;                      // several lines
//   auto& all = progress.add("downloading", urls.size(), flash::progress_unit::items);
//   auto& one = progress.add("a.iso", content_length);   // 0: unknown, a spinner
//   one.set(received);  all.advance();  progress.remove(one);
//
// It draws only when its stream is a terminal (and TERM is not "dumb"), and only once the work
// has lasted `delay` (short work shows nothing); then at most every `interval` (10 times a second):
// an update between two draws costs an atomic add and a clock read. A ticker thread redraws while
// no update comes, so the spinner and the rate stay live when the work stalls. The lines are
// erased on finish() and by the destructor (so on an error or a cancellation too), and at once
// when Ctrl-C or SIGTERM arrives, before the command has unwound. Output printed while the bars
// are up goes through above(), which erases them first.

#include <flash/exec/signals.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/ioctl.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace flash {

enum class progress_unit {
  bytes,  ///< shown as 1.5 MiB, 12.0 MiB/s
  items,  ///< shown as 12, 3.5/s
};

// --- formatting ---------------------------------------------------------------------------------

/// "512 B", "1.5 KiB", "12.3 MiB", "1.0 GiB".
inline std::string format_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(units)) {
    bytes /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.1f} {}", bytes, units[unit]);
}

/// An amount of work in its unit: "12.3 MiB" or "1234".
inline std::string format_amount(std::uint64_t amount, progress_unit unit) {
  return unit == progress_unit::bytes ? format_bytes(static_cast<double>(amount)) : fmt::format("{}", amount);
}

/// "12.3 MiB/s", "3.5/s".
inline std::string format_rate(double per_second, progress_unit unit) {
  if (unit == progress_unit::bytes) return format_bytes(per_second) + "/s";
  return fmt::format("{:.1f}/s", per_second);
}

/// "0:07", "12:34", "1:02:03"; "--:--" for an unknown duration.
inline std::string format_duration(std::optional<double> seconds) {
  if (!seconds || !(*seconds >= 0) || *seconds > 360'000'000) return "--:--";
  const auto total = static_cast<std::uint64_t>(*seconds + 0.5);
  const auto hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

/// What one line says at one moment; progress_line() renders it.
struct progress_state {
  std::string label;
  progress_unit unit = progress_unit::bytes;
  std::uint64_t done = 0;
  std::uint64_t total = 0;            ///< 0: unknown (a spinner)
  double seconds = 0;                 ///< since the task started
  std::optional<double> rate{};       ///< units a second, when known
  std::size_t frame = 0;              ///< which spinner frame
};

/// The time left at `rate` for what remains; unknown without a total or a rate.
inline std::optional<double> progress_eta(const progress_state& state) {
  if (state.total == 0 || !state.rate || *state.rate <= 0) return std::nullopt;
  if (state.done >= state.total) return 0.0;
  return static_cast<double>(state.total - state.done) / *state.rate;
}

/// One line, at most `width` columns:
///   hashing [=========>          ]  47%  1.2/2.5 GiB  410.3 MiB/s  ETA 0:03
///   reading |  12.0 MiB  3.1 MiB/s  0:04
inline std::string progress_line(const progress_state& state, std::size_t width) {
  static constexpr std::string_view spinner = "|/-\\";
  const std::string rate = state.rate ? format_rate(*state.rate, state.unit) : "";
  std::string line;
  if (state.total == 0) {
    line = fmt::format("{} {}  {}", state.label, spinner[state.frame % spinner.size()],
                       format_amount(state.done, state.unit));
    if (!rate.empty()) line += "  " + rate;
    line += "  " + format_duration(state.seconds);
  } else {
    const double fraction = std::min(1.0, static_cast<double>(state.done) / static_cast<double>(state.total));
    std::string amounts;
    if (state.unit == progress_unit::bytes) {
      // "1.2/2.5 GiB" when both are in the same unit, else both in full.
      std::string done = format_bytes(static_cast<double>(state.done));
      std::string total = format_bytes(static_cast<double>(state.total));
      const auto space = total.rfind(' ');
      if (done.substr(done.rfind(' ')) == total.substr(space)) done.erase(done.rfind(' '));
      amounts = done + "/" + total;
    } else {
      amounts = fmt::format("{}/{}", state.done, state.total);
    }
    // The bar takes what the label and the figures leave (the last column stays free: writing
    // there makes some terminals wrap), from 10 to 40 columns; on a narrow terminal the rate
    // goes first, then the ETA.
    const std::string eta = "  ETA " + format_duration(progress_eta(state));
    const std::string figures = fmt::format(" {:3.0f}%  {}", fraction * 100, amounts);
    std::string tail = figures + (rate.empty() ? "" : "  " + rate) + eta;
    auto fits = [&] { return state.label.size() + 3 + tail.size() + 1 + 10 <= width; };
    if (!fits()) tail = figures + eta;
    if (!fits()) tail = figures;
    const std::size_t fixed = state.label.size() + 3 + tail.size() + 1;
    const std::size_t bar = std::clamp<std::size_t>(width > fixed ? width - fixed : 0, 10, 40);
    const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(bar));
    std::string drawn(filled, '=');
    if (filled < bar) drawn += '>';
    drawn.resize(bar, ' ');
    line = fmt::format("{} [{}]{}", state.label, drawn, tail);
  }
  // A line longer than the terminal would wrap and break the redrawing: cut it (not inside a
  // UTF-8 sequence).
  if (width > 0 && line.size() >= width) {
    std::size_t cut = width - 1;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line.resize(cut);
  }
  return line;
}

// --- the component ------------------------------------------------------------------------------

class multi_progress;

/// One line of a multi_progress. advance() and set() may be called from any thread.
class progress_task {
 public:
  void advance(std::uint64_t units = 1) noexcept;
  /// Sets how much is done (a download that learns its position), rather than adding to it.
  void set(std::uint64_t done) noexcept;
  /// Sets the total, once known; 0 makes the line a spinner.
  void set_total(std::uint64_t total) noexcept { total_.store(total, std::memory_order_relaxed); }

  std::uint64_t done() const noexcept { return done_.load(std::memory_order_relaxed); }
  std::uint64_t total() const noexcept { return total_.load(std::memory_order_relaxed); }
  const std::string& label() const noexcept { return label_; }

 private:
  friend class multi_progress;
  using time_point = std::chrono::steady_clock::time_point;

  progress_task(multi_progress& owner, std::string label, std::uint64_t total, progress_unit unit, time_point now)
      : owner_(owner), label_(std::move(label)), unit_(unit), started_(now), total_(total) {
    samples_.push_back({now, 0});
  }

  // The rate over the last few seconds (a stall shows as a falling rate), from the samples
  // taken at each draw. Called with the owner's lock held.
  std::optional<double> sample_rate(time_point now, std::uint64_t done) {
    samples_.push_back({now, done});
    while (samples_.size() > 2 && now - samples_[1].at >= rate_window) samples_.pop_front();
    const auto& first = samples_.front();
    const double seconds = std::chrono::duration<double>(now - first.at).count();
    if (seconds < 0.05 || done < first.done) return std::nullopt;
    return static_cast<double>(done - first.done) / seconds;
  }

  static constexpr std::chrono::seconds rate_window{5};
  struct sample {
    time_point at;
    std::uint64_t done;
  };

  multi_progress& owner_;
  const std::string label_;
  const progress_unit unit_;
  const time_point started_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> total_;
  std::deque<sample> samples_;
};

class multi_progress {
 public:
  using clock = std::chrono::steady_clock;

  struct options {
    std::FILE* stream = stderr;
    /// Draw at all; unset: when `stream` is a terminal and TERM is not "dumb".
    std::optional<bool> enabled{};
    /// Nothing is drawn before the work has lasted this long: short work shows no bar.
    std::chrono::milliseconds delay{500};
    /// The least time between two draws.
    std::chrono::milliseconds interval{100};
    /// Columns; 0: the terminal's width, else $COLUMNS, else 80.
    std::size_t width = 0;
    /// Lines drawn at most; past it the last line says how many more tasks there are.
    std::size_t max_lines = 10;
    /// Redraw from a thread of its own when no update comes (the spinner keeps turning).
    bool ticker = true;
    /// The time; tests give their own.
    std::function<clock::time_point()> now{};
  };

  multi_progress() : multi_progress(options{}) {}
  explicit multi_progress(options settings)
      : stream_(settings.stream),
        enabled_(settings.enabled.value_or(is_terminal(settings.stream))),
        delay_(settings.delay),
        interval_(settings.interval),
        width_(settings.width ? settings.width : terminal_width(settings.stream)),
        max_lines_(std::max<std::size_t>(settings.max_lines, 1)),
        now_(settings.now ? std::move(settings.now) : [] { return clock::now(); }),
        started_(now_()),
        next_draw_(ticks(started_ + delay_)) {
    if (enabled_ && settings.ticker) ticker_ = std::thread([this] { tick_until_finished(); });
  }
  multi_progress(const multi_progress&) = delete;
  multi_progress& operator=(const multi_progress&) = delete;
  ~multi_progress() { finish(); }

  bool enabled() const noexcept { return enabled_; }

  /// A new line, below the others. `total` 0: unknown, a spinner. The reference stays valid
  /// until remove() or the end of the multi_progress.
  progress_task& add(std::string label, std::uint64_t total = 0, progress_unit unit = progress_unit::bytes) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::unique_ptr<progress_task>(new progress_task(*this, std::move(label), total, unit, now_())));
    return *tasks_.back();
  }

  /// Takes a finished line away (its space is reused at the next draw). No thread may use the
  /// task any more.
  void remove(progress_task& task) {
    std::lock_guard lock(mutex_);
    tasks_.remove_if([&](const auto& held) { return held.get() == &task; });
  }

  /// Runs `write` (which prints lines of output, to stdout or stderr) with the bars erased; they
  /// come back at the next draw.
  template <class Write>
  void above(Write&& write) {
    std::lock_guard lock(mutex_);
    erase_locked();
    std::forward<Write>(write)();
    std::fflush(stdout);
  }

  /// Draws now if the interval has passed since the last draw (and the delay since the start).
  /// advance() and the ticker call it; it never waits for a draw in progress.
  void update() noexcept {
    if (!enabled_) return;
    const auto now = now_();
    auto next = next_draw_.load(std::memory_order_relaxed);
    if (ticks(now) < next) return;
    if (!next_draw_.compare_exchange_strong(next, ticks(now + interval_), std::memory_order_relaxed)) return;
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock) return;
    try {
      draw_locked(now);
    } catch (...) {  // out of memory: the progress is not worth failing the work for
    }
  }

  /// Erases the lines and stops drawing. Safe to call more than once, from any thread.
  void finish() noexcept {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
      erase_locked();
    }
    stop_.notify_all();
    std::call_once(joined_, [this] {
      if (ticker_.joinable()) ticker_.join();
    });
  }

  /// The frame drawn last, as the lines it showed (for tests and the docs).
  std::vector<std::string> last_frame() const {
    std::lock_guard lock(mutex_);
    return last_frame_;
  }

  /// Whether a progress display on `stream` draws by default: a terminal, TERM not "dumb".
  static bool is_terminal(std::FILE* stream) noexcept {
    if (!stream) return false;
    const int fd = ::fileno(stream);
    const char* term = std::getenv("TERM");
    return fd >= 0 && ::isatty(fd) == 1 && !(term && std::string_view(term) == "dumb");
  }

 private:
  friend class progress_task;

  static std::int64_t ticks(clock::time_point at) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  }

  static std::size_t terminal_width(std::FILE* stream) noexcept {
    winsize size{};
    if (stream && ::ioctl(::fileno(stream), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    if (const char* columns = std::getenv("COLUMNS"); columns && std::atoi(columns) > 0)
      return static_cast<std::size_t>(std::atoi(columns));
    return 80;
  }

  void draw_locked(clock::time_point now) {
    if (finished_) return;
    // Ctrl-C: the command is unwinding; take the lines away now, draw no more.
    if (detail::pending_interrupt().load() != 0) {
      erase_locked();
      finished_ = true;
      return;
    }
    // Labels padded to the longest, so that the bars line up.
    std::size_t label_width = 0;
    for (const auto& task : tasks_) label_width = std::max(label_width, task->label_.size());
    std::vector<std::string> lines;
    for (const auto& task : tasks_) {
      if (lines.size() + 1 == max_lines_ && tasks_.size() > max_lines_) {
        lines.push_back(fmt::format("... and {} more", tasks_.size() - lines.size()));
        break;
      }
      progress_state state{.label = task->label_ + std::string(label_width - task->label_.size(), ' '),
                           .unit = task->unit_,
                           .done = task->done(),
                           .total = task->total(),
                           .seconds = std::chrono::duration<double>(now - task->started_).count(),
                           .frame = frame_};
      state.rate = task->sample_rate(now, state.done);
      lines.push_back(progress_line(state, width_));
    }
    if (lines.empty() && drawn_lines_ == 0) return;
    ++frame_;
    std::string out = cursor_to_first_line();
    out += "\033[J";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += '\n';
      out += lines[i];
    }
    drawn_lines_ = lines.size();
    last_frame_ = std::move(lines);
    std::fputs(out.c_str(), stream_);
    std::fflush(stream_);
  }

  void erase_locked() noexcept {
    if (drawn_lines_ == 0) return;
    const std::string out = cursor_to_first_line() + "\033[J";
    std::fputs(out.c_str(), stream_);
    std::fflush(stream_);
    drawn_lines_ = 0;
  }

  // From the end of the last line drawn to the start of the first.
  std::string cursor_to_first_line() const {
    return drawn_lines_ > 1 ? fmt::format("\033[{}A\r", drawn_lines_ - 1) : std::string("\r");
  }

  void tick_until_finished() {
    std::unique_lock lock(mutex_);
    while (!finished_) {
      stop_.wait_for(lock, interval_);
      if (finished_) break;
      lock.unlock();
      update();
      lock.lock();
    }
  }

  std::FILE* const stream_;
  const bool enabled_;
  const std::chrono::milliseconds delay_;
  const std::chrono::milliseconds interval_;
  const std::size_t width_;
  const std::size_t max_lines_;
  const std::function<clock::time_point()> now_;
  const clock::time_point started_;
  std::atomic<std::int64_t> next_draw_;

  mutable std::mutex mutex_;  // the tasks, the terminal, the state below
  std::list<std::unique_ptr<progress_task>> tasks_;
  std::vector<std::string> last_frame_;
  std::size_t drawn_lines_ = 0;
  std::size_t frame_ = 0;
  bool finished_ = false;
  std::condition_variable stop_;
  std::thread ticker_;
  std::once_flag joined_;
};

inline void progress_task::advance(std::uint64_t units) noexcept {
  done_.fetch_add(units, std::memory_order_relaxed);
  owner_.update();
}

inline void progress_task::set(std::uint64_t done) noexcept {
  done_.store(done, std::memory_order_relaxed);
  owner_.update();
}

/// A multi_progress of one line.
class progress_bar {
 public:
  /// `total` units of work (0: unknown, a spinner); `label` is shown before the bar.
  progress_bar(std::uint64_t total, std::string label, progress_unit unit = progress_unit::bytes,
               multi_progress::options settings = {})
      : progress_(std::move(settings)), task_(progress_.add(std::move(label), total, unit)) {}

  bool enabled() const noexcept { return progress_.enabled(); }
  std::uint64_t done() const noexcept { return task_.done(); }
  void advance(std::uint64_t units = 1) noexcept { task_.advance(units); }
  template <class Write>
  void above(Write&& write) {
    progress_.above(std::forward<Write>(write));
  }
  void finish() noexcept { progress_.finish(); }

 private:
  multi_progress progress_;
  progress_task& task_;
};

}  // namespace flash
