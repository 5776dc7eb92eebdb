#include "run_async.hpp"

#include <flash/flash.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {
flash::awaitable<void> sleep_then(std::chrono::milliseconds delay, std::atomic<int>& done) {
  co_await flash::sleep_for(delay);
  ++done;
}

flash::awaitable<void> fail_after(std::chrono::milliseconds delay, const char* message) {
  co_await flash::sleep_for(delay);
  throw std::runtime_error(message);
}

flash::awaitable<void> wait_for_cancel(std::atomic<int>& cancelled) {
  try {
    co_await flash::sleep_for(30s);
  } catch (...) {
    ++cancelled;
    throw;
  }
}

flash::awaitable<int> one_after_a_long_wait(std::atomic<int>& cancelled) {
  co_await wait_for_cancel(cancelled);
  co_return 1;
}
}  // namespace

TEST_CASE("task group: waits for every child", "[task_group]") {
  std::atomic<int> done{0};
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 20; ++i) group.spawn(sleep_then(std::chrono::milliseconds(i % 5), done));
    co_return;
  };
  run_async(flash::with_task_group(body));
  CHECK(done == 20);
}

TEST_CASE("task group: children on every model", "[task_group]") {
  boost::asio::io_context io;  // outlives the pool, whose threads post completions into it
  flash::thread_pool pool(2);
  std::atomic<int> done{0};
  std::thread::id main_thread = std::this_thread::get_id();
  std::atomic<bool> pool_child_off_main{false};
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(flash::execution_model::stackless, pool.get_executor(),
                [&]() -> flash::awaitable<void> { co_await flash::sleep_for(1ms); ++done; });
    group.spawn(flash::execution_model::thread_pool, pool.get_executor(), [&] {
      pool_child_off_main = std::this_thread::get_id() != main_thread;
      ++done;
    });
    group.spawn(flash::execution_model::green_thread, pool.get_executor(), [&](flash::yield_context yield) {
      flash::sleep_for(1ms, yield);
      ++done;
    });
    co_return;
  };
  run_async(io, flash::with_task_group(body));
  CHECK(done == 3);
  CHECK(pool_child_off_main);
}

TEST_CASE("task group: the first failure cancels the siblings and is the error reported", "[task_group]") {
  std::atomic<int> cancelled{0};
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(wait_for_cancel(cancelled));
    group.spawn(fail_after(5ms, "first"));
    group.spawn(wait_for_cancel(cancelled));
    group.spawn(fail_after(200ms, "second, never reached"));
    co_return;
  };
  auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(run_async(flash::with_task_group(body)), "first");
  CHECK(cancelled == 2);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("task group: keep_going lets every child finish and reports the first error", "[task_group]") {
  std::atomic<int> done{0};
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(fail_after(1ms, "early"));
    group.spawn(sleep_then(20ms, done));
    group.spawn(sleep_then(30ms, done));
    co_return;
  };
  CHECK_THROWS_WITH(run_async(flash::with_task_group(body, {.on_failure = flash::failure_policy::keep_going})),
                    "early");
  CHECK(done == 2);
}

TEST_CASE("task group: a failing body cancels and awaits the children", "[task_group]") {
  std::atomic<int> cancelled{0};
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(wait_for_cancel(cancelled));
    group.spawn(wait_for_cancel(cancelled));
    co_await flash::sleep_for(1ms);
    throw std::logic_error("body failed");
  };
  CHECK_THROWS_WITH(run_async(flash::with_task_group(body)), "body failed");
  CHECK(cancelled == 2);
}

TEST_CASE("task group: cancelling the awaiting coroutine cancels the children and waits", "[task_group]") {
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  std::atomic<int> cancelled{0};
  std::exception_ptr outcome;
  bool finished = false;
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 3; ++i) group.spawn(wait_for_cancel(cancelled));
    co_return;
  };
  boost::asio::co_spawn(io, flash::with_task_group(body),
                        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                          outcome = e;
                          finished = true;
                        }));
  for (int i = 0; i < 10 && io.poll_one(); ++i) {
  }
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  CHECK(finished);
  CHECK(cancelled == 3);
  CHECK(flash::is_cancellation(outcome));
}

TEST_CASE("task group: max_concurrency bounds the children running at once", "[task_group]") {
  int running = 0, peak = 0, done = 0;
  auto child = [&]() -> flash::awaitable<void> {
    peak = std::max(peak, ++running);
    co_await flash::sleep_for(2ms);
    --running;
    ++done;
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 25; ++i) group.spawn(child());
    co_return;
  };
  run_async(flash::with_task_group(body, {.max_concurrency = 4}));
  CHECK(done == 25);
  CHECK(peak == 4);
}

TEST_CASE("task group: returns the body's value", "[task_group]") {
  auto body = [](flash::task_group& group) -> flash::awaitable<int> {
    group.spawn(flash::sleep_for(1ms));
    co_return 42;
  };
  CHECK(run_async(flash::with_task_group(body)) == 42);
}

TEST_CASE("when_all returns the results in order", "[when]") {
  auto value_after = [](int value, std::chrono::milliseconds delay) -> flash::awaitable<int> {
    co_await flash::sleep_for(delay);
    co_return value;
  };
  auto task = [&]() -> flash::awaitable<std::tuple<int, int, int>> {
    co_return co_await flash::when_all(value_after(1, 30ms), value_after(2, 1ms), value_after(3, 10ms));
  };
  CHECK(run_async(task()) == std::tuple{1, 2, 3});

  auto many = [&]() -> flash::awaitable<std::vector<int>> {
    std::vector<flash::awaitable<int>> tasks;
    for (int i = 0; i < 10; ++i) tasks.push_back(value_after(i, std::chrono::milliseconds(10 - i)));
    co_return co_await flash::when_all(std::move(tasks));
  };
  CHECK(run_async(many()) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("when_all fails with the first failure", "[when]") {
  auto ok = []() -> flash::awaitable<int> {
    co_await flash::sleep_for(10s);
    co_return 1;
  };
  auto bad = []() -> flash::awaitable<int> {
    co_await flash::sleep_for(1ms);
    throw std::runtime_error("bad");
  };
  auto task = [&]() -> flash::awaitable<void> { co_await flash::when_all(ok(), bad()); };
  auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(run_async(task()), "bad");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("when_any returns the first to finish and cancels the others", "[when]") {
  std::atomic<int> cancelled{0};
  auto fast = []() -> flash::awaitable<std::string> {
    co_await flash::sleep_for(1ms);
    co_return "fast";
  };
  auto task = [&]() -> flash::awaitable<std::variant<int, std::string>> {
    co_return co_await flash::when_any(one_after_a_long_wait(cancelled), fast());
  };
  auto winner = run_async(task());
  REQUIRE(winner.index() == 1);
  CHECK(std::get<1>(winner) == "fast");
  CHECK(cancelled == 1);
}

TEST_CASE("with_timeout fails with errc::timeout and cancels the operation", "[when][timeout]") {
  std::atomic<int> cancelled{0};
  auto task = [&]() -> flash::awaitable<int> { co_return co_await flash::with_timeout(one_after_a_long_wait(cancelled), 5ms, "slow thing"); };
  try {
    run_async(task());
    FAIL("no timeout");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::timeout);
    CHECK(std::string(e.what()) == "slow thing (after 5 ms): timed out");
  }
  CHECK(cancelled == 1);

  auto quick = []() -> flash::awaitable<int> { co_return 7; };
  auto in_time = [&]() -> flash::awaitable<int> { co_return co_await flash::with_timeout(quick(), 5s); };
  CHECK(run_async(in_time()) == 7);
}
