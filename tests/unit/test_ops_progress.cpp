// flash::multi_progress and flash::progress_bar: the figures and the lines they draw, with a
// clock the test moves and an in-memory stream, so nothing depends on timing.

#include <flash/exec/signals.hpp>
#include <flash/ui/progress.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A FILE* writing into memory.
class memory_stream {
 public:
  memory_stream() : file_(::open_memstream(&data_, &size_)) { REQUIRE(file_ != nullptr); }
  ~memory_stream() {
    std::fclose(file_);
    std::free(data_);
  }
  std::FILE* get() const { return file_; }

  /// What was written since the last call.
  std::string take() {
    std::fflush(file_);
    std::string all(data_, size_);
    std::string fresh = all.substr(taken_);
    taken_ = all.size();
    return fresh;
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t taken_ = 0;
  std::FILE* file_;
};

// A clock that moves only when told.
struct manual_clock {
  flash::multi_progress::clock::time_point now{std::chrono::hours(1)};
  std::function<flash::multi_progress::clock::time_point()> function() {
    return [this] { return now; };
  }
};

flash::multi_progress::options drawn_on(memory_stream& out, manual_clock& clock) {
  return {.stream = out.get(), .enabled = true, .delay = 500ms, .interval = 100ms, .width = 80, .ticker = false,
          .now = clock.function()};
}

}  // namespace

TEST_CASE("progress figures: sizes, rates and durations", "[ops][progress]") {
  CHECK(flash::format_bytes(0) == "0 B");
  CHECK(flash::format_bytes(1023) == "1023 B");
  CHECK(flash::format_bytes(1024) == "1.0 KiB");
  CHECK(flash::format_bytes(1536) == "1.5 KiB");
  CHECK(flash::format_bytes(12.5 * 1024 * 1024) == "12.5 MiB");
  CHECK(flash::format_bytes(3.0 * 1024 * 1024 * 1024) == "3.0 GiB");
  CHECK(flash::format_amount(1234, flash::progress_unit::items) == "1234");
  CHECK(flash::format_rate(2.0 * 1024 * 1024, flash::progress_unit::bytes) == "2.0 MiB/s");
  CHECK(flash::format_rate(3.25, flash::progress_unit::items) == "3.2/s");
  CHECK(flash::format_duration(0.0) == "0:00");
  CHECK(flash::format_duration(7.4) == "0:07");
  CHECK(flash::format_duration(754.0) == "12:34");
  CHECK(flash::format_duration(3723.0) == "1:02:03");
  CHECK(flash::format_duration(std::nullopt) == "--:--");
  CHECK(flash::format_duration(-1.0) == "--:--");
}

TEST_CASE("progress ETA is what remains at the current rate", "[ops][progress]") {
  flash::progress_state state{.label = "x", .done = 25, .total = 100, .rate = 5.0};
  CHECK(flash::progress_eta(state) == Approx(15.0));
  state.done = 100;
  CHECK(flash::progress_eta(state) == 0.0);
  state.rate.reset();
  CHECK_FALSE(flash::progress_eta(state));
  state.total = 0;
  state.rate = 5.0;
  CHECK_FALSE(flash::progress_eta(state));
}

TEST_CASE("progress lines: a bar with figures, a spinner for an unknown total", "[ops][progress]") {
  const flash::progress_state half{.label = "hashing",
                                   .done = 512ull << 20,
                                   .total = 1024ull << 20,
                                   .seconds = 2,
                                   .rate = 256.0 * 1024 * 1024};
  CHECK(flash::progress_line(half, 80) ==
        "hashing [===========>          ]  50%  512.0 MiB/1.0 GiB  256.0 MiB/s  ETA 0:02");
  CHECK(flash::progress_line(half, 120) ==
        "hashing [====================>                   ]  50%  512.0 MiB/1.0 GiB  256.0 MiB/s  ETA 0:02");
  // Narrower: the bar shrinks, then the rate goes, then the ETA; never as wide as the terminal.
  CHECK(flash::progress_line(half, 60) == "hashing [=======>       ]  50%  512.0 MiB/1.0 GiB  ETA 0:02");
  CHECK(flash::progress_line(half, 50) == "hashing [=======>       ]  50%  512.0 MiB/1.0 GiB");
  CHECK(flash::progress_line(half, 30) == "hashing [=====>    ]  50%  51");

  const flash::progress_state same_unit{.label = "copying", .done = 300 << 20, .total = 1000 << 20, .seconds = 1};
  CHECK(flash::progress_line(same_unit, 100) ==
        "copying [============>                           ]  30%  300.0/1000.0 MiB  ETA --:--");

  const flash::progress_state files{.label = "downloading",
                                    .unit = flash::progress_unit::items,
                                    .done = 3,
                                    .total = 10,
                                    .seconds = 6,
                                    .rate = 0.5};
  CHECK(flash::progress_line(files, 80) ==
        "downloading [===========>                         ]  30%  3/10  0.5/s  ETA 0:14");

  flash::progress_state unknown{.label = "counting", .done = 5 << 20, .seconds = 65, .rate = 1024.0 * 1024};
  CHECK(flash::progress_line(unknown, 80) == "counting |  5.0 MiB  1.0 MiB/s  1:05");
  unknown.frame = 1;
  CHECK(flash::progress_line(unknown, 80) == "counting /  5.0 MiB  1.0 MiB/s  1:05");
  unknown.frame = 3;
  CHECK(flash::progress_line(unknown, 80).starts_with("counting \\  "));
  CHECK(flash::progress_line(unknown, 12) == "counting \\ ");
}

TEST_CASE("a multi_progress draws after the delay, at most once an interval, and erases", "[ops][progress]") {
  memory_stream out;
  manual_clock clock;
  flash::multi_progress progress(drawn_on(out, clock));
  REQUIRE(progress.enabled());
  auto& task = progress.add("copying", 1000, flash::progress_unit::items);

  clock.now += 400ms;  // short work shows nothing
  task.advance(100);
  CHECK(out.take().empty());

  clock.now += 200ms;  // past the delay: drawn from the start of the line
  task.advance(100);
  CHECK(out.take() == "\r\033[J" + flash::progress_line({.label = "copying",
                                                        .unit = flash::progress_unit::items,
                                                        .done = 200,
                                                        .total = 1000,
                                                        .seconds = 0.6,
                                                        .rate = 200 / 0.6},
                                                       80));

  clock.now += 50ms;  // within the interval: counted, not drawn
  for (int i = 0; i < 1000; ++i) task.advance(0);
  task.advance(300);
  CHECK(out.take().empty());
  CHECK(task.done() == 500);

  clock.now += 60ms;
  task.advance(0);
  auto frame = progress.last_frame();
  REQUIRE(frame.size() == 1);
  CHECK(frame[0].starts_with("copying ["));
  CHECK(frame[0].find(" 50%  500/1000") != std::string::npos);
  CHECK(out.take().starts_with("\r\033[J"));

  // A second line: the next draw goes back up over the first.
  auto& other = progress.add("a.bin", 0);
  clock.now += 100ms;
  other.advance(2048);
  const std::string two = out.take();
  CHECK(two.starts_with("\r\033[J"));
  CHECK(two.find('\n') != std::string::npos);
  clock.now += 100ms;
  other.advance(2048);
  CHECK(out.take().starts_with("\033[1A\r\033[J"));
  REQUIRE(progress.last_frame().size() == 2);
  CHECK(progress.last_frame()[1].starts_with("a.bin "));
  CHECK(progress.last_frame()[1].find("  4.0 KiB  ") != std::string::npos);

  progress.remove(other);
  clock.now += 100ms;
  task.advance(0);
  CHECK(out.take().starts_with("\033[1A\r\033[J"));
  CHECK(progress.last_frame().size() == 1);

  progress.finish();
  CHECK(out.take() == "\r\033[J");
  clock.now += 1s;
  task.advance(1);
  progress.finish();
  CHECK(out.take().empty());
}

TEST_CASE("a multi_progress draws at most max_lines lines", "[ops][progress]") {
  memory_stream out;
  manual_clock clock;
  auto settings = drawn_on(out, clock);
  settings.max_lines = 3;
  flash::multi_progress progress(std::move(settings));
  for (int i = 0; i < 5; ++i) progress.add(fmt::format("task {}", i), 10, flash::progress_unit::items);
  auto& first = progress.add("last", 10, flash::progress_unit::items);
  clock.now += 1s;
  first.advance();
  const auto frame = progress.last_frame();
  REQUIRE(frame.size() == 3);
  CHECK(frame[0].starts_with("task 0 ["));
  CHECK(frame[1].starts_with("task 1 ["));
  CHECK(frame[2] == "... and 4 more");
}

TEST_CASE("the rate follows the last seconds, so a stall shows", "[ops][progress]") {
  memory_stream out;
  manual_clock clock;
  flash::multi_progress progress(drawn_on(out, clock));
  auto& task = progress.add("reading", 100ull << 20);
  for (int second = 0; second < 10; ++second) {
    clock.now += 1s;
    task.advance(8 << 20);  // 8 MiB/s
  }
  CHECK(progress.last_frame().at(0).find("8.0 MiB/s") != std::string::npos);
  CHECK(progress.last_frame().at(0).find("ETA 0:03") != std::string::npos);  // 20 MiB left
  for (int second = 0; second < 10; ++second) {
    clock.now += 1s;
    task.advance(0);  // stalled
  }
  CHECK(progress.last_frame().at(0).find("0 B/s") != std::string::npos);
  CHECK(progress.last_frame().at(0).find("ETA --:--") != std::string::npos);
}

TEST_CASE("output printed above the bars erases them first", "[ops][progress]") {
  memory_stream out;
  manual_clock clock;
  flash::multi_progress progress(drawn_on(out, clock));
  auto& task = progress.add("hashing", 10, flash::progress_unit::items);
  clock.now += 1s;
  task.advance(1);
  CHECK_FALSE(out.take().empty());
  progress.above([&] { std::fputs("result line\n", out.get()); });
  CHECK(out.take() == "\r\033[Jresult line\n");
  progress.above([&] { std::fputs("next\n", out.get()); });
  CHECK(out.take() == "next\n");  // nothing drawn in between: nothing to erase
}

TEST_CASE("progress draws nothing where it is not enabled", "[ops][progress]") {
  memory_stream out;
  manual_clock clock;
  auto settings = drawn_on(out, clock);
  settings.enabled.reset();  // the default: only on a terminal, which memory is not
  flash::progress_bar bar(100, "hashing", flash::progress_unit::bytes, std::move(settings));
  CHECK_FALSE(bar.enabled());
  clock.now += 10s;
  bar.advance(50);
  bar.finish();
  CHECK(bar.done() == 50);
  CHECK(out.take().empty());
  CHECK_FALSE(flash::multi_progress::is_terminal(out.get()));
}

TEST_CASE("Ctrl-C erases the bars at the next draw, and none comes after", "[ops][progress]") {
  memory_stream out;
  manual_clock clock;
  flash::multi_progress progress(drawn_on(out, clock));
  auto& task = progress.add("copying", 100);
  clock.now += 1s;
  task.advance(10);
  CHECK_FALSE(out.take().empty());
  flash::detail::pending_interrupt().store(SIGINT);
  clock.now += 1s;
  task.advance(10);
  flash::detail::pending_interrupt().store(0);
  CHECK(out.take() == "\r\033[J");
  clock.now += 1s;
  task.advance(10);
  CHECK(out.take().empty());
}

TEST_CASE("advance is safe from many threads, with the ticker drawing meanwhile", "[ops][progress]") {
  memory_stream out;
  flash::multi_progress progress({.stream = out.get(), .enabled = true, .delay = 0ms, .interval = 1ms, .width = 80});
  auto& bytes = progress.add("hashing", 8ull * 200000);
  auto& files = progress.add("files", 8, flash::progress_unit::items);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200000; ++i) bytes.advance(1);
      files.advance();
    });
  for (auto& thread : threads) thread.join();
  CHECK(bytes.done() == 8ull * 200000);
  CHECK(files.done() == 8);
  progress.finish();
  const std::string all = out.take();
  CHECK(all.ends_with("\033[1A\r\033[J"));  // the last thing written takes both lines away
}
