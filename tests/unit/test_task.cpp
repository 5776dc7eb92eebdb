#include "run_async.hpp"

#include <flash/flash.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

flash::task<int> forty_two() { co_return 42; }

flash::task<std::string> twice(int depth) {
  if (depth == 0) co_return std::to_string(co_await forty_two());
  std::string inner = co_await twice(depth - 1);
  co_return inner + inner.substr(0, 1);
}

// Not `n == 0 ? 0 : n + co_await ...`: GCC 12 evaluates a co_await inside ?: on both branches.
flash::task<long> sum_down(long n) {
  if (n == 0) co_return 0;
  const long below = co_await sum_down(n - 1);
  co_return n + below;
}

flash::task<void> fail(const char* message) {
  throw std::runtime_error(message);
  co_return;
}

flash::task<int> wait_on(asio::steady_timer& timer, int value) {
  co_await timer.async_wait(flash::use_task);
  co_return value;
}

// Waits a long time; counts how it ended.
flash::task<void> wait_long(std::atomic<int>& cancelled) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
  try {
    co_await timer.async_wait(flash::use_task);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) ++cancelled;
    throw;
  }
}

// Counts the frames alive: a task's locals are destroyed with its frame.
struct alive_counter {
  std::atomic<int>& alive;
  explicit alive_counter(std::atomic<int>& a) : alive(a) { ++alive; }
  ~alive_counter() { --alive; }
};

}  // namespace

TEST_CASE("a task returns its value through every level that awaits it", "[task]") {
  CHECK(run_async(flash::as_awaitable(forty_two())) == 42);
  CHECK(run_async(flash::as_awaitable(twice(3))) == "42444");
}

TEST_CASE("tasks awaited 1,000 deep each resume the one that awaits them", "[task]") {
  // Symmetric transfer: optimised, the depth costs frames, not stack (unoptimised, GCC makes
  // each transfer a call, so this stays shallow enough for a Debug build).
  CHECK(run_async(flash::as_awaitable(sum_down(1'000))) == 500'500L);
}

TEST_CASE("a task's exception reaches the task or awaitable that awaits it", "[task]") {
  auto outer = []() -> flash::task<std::string> {
    try {
      co_await fail("inner failed");
    } catch (const std::runtime_error& e) {
      co_return std::string("caught: ") + e.what();
    }
    co_return "not thrown";
  };
  CHECK(run_async(flash::as_awaitable(outer())) == "caught: inner failed");
  CHECK_THROWS_WITH(run_async(flash::as_awaitable(fail("to the awaitable"))), "to the awaitable");
}

TEST_CASE("a task awaits Asio operations with use_task", "[task]") {
  auto body = []() -> flash::task<std::tuple<bool, int>> {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, 1ms);
    const auto start = std::chrono::steady_clock::now();
    co_await timer.async_wait(flash::use_task);
    const bool waited = std::chrono::steady_clock::now() - start >= 1ms;

    // as_tuple reports the error as a value: a timer cancelled before it expires.
    timer.expires_after(1h);
    asio::post(executor, [&] { timer.cancel(); });
    auto [error] = co_await timer.async_wait(asio::as_tuple(flash::use_task));
    co_return std::tuple(waited, error == asio::error::operation_aborted ? 1 : 0);
  };
  CHECK(run_async(flash::as_awaitable(body())) == std::tuple(true, 1));
}

TEST_CASE("an operation that completes inside its initiation resumes the task once", "[task]") {
  // asio::dispatch runs its handler at once on the executor's own thread.
  auto body = []() -> flash::task<int> {
    int steps = 0;
    for (int i = 0; i < 1'000; ++i) {
      co_await asio::dispatch(flash::use_task);
      ++steps;
    }
    co_return steps;
  };
  CHECK(run_async(flash::as_awaitable(body())) == 1'000);
}

TEST_CASE("tasks run by async_run on a thread pool resume wherever their operations complete", "[task]") {
  asio::thread_pool pool(2);
  std::atomic<long> sum{0};
  std::atomic<int> finished{0};
  auto hop = [&](int n) -> flash::task<int> {
    for (int i = 0; i < 50; ++i) co_await asio::post(flash::use_task);
    co_return n;
  };
  for (int n = 1; n <= 200; ++n)
    flash::async_run(pool, hop(n), [&](std::exception_ptr error, int value) {
      if (!error) sum += value;
      ++finished;
    });
  pool.join();
  CHECK(finished == 200);
  CHECK(sum == 200 * 201 / 2);
}

TEST_CASE("async_run completes on the executor it was given unless the token has its own", "[task]") {
  asio::io_context io;
  asio::io_context other;
  bool on_io = false;
  bool on_other = false;
  flash::async_run(io, forty_two(), [&](std::exception_ptr, int) { on_io = io.get_executor().running_in_this_thread(); });
  flash::async_run(io, forty_two(), asio::bind_executor(other, [&](std::exception_ptr, int) {
                     on_other = other.get_executor().running_in_this_thread();
                   }));
  io.run();
  other.run();
  CHECK(on_io);
  CHECK(on_other);
}

TEST_CASE("a task awaits a flash::awaitable", "[task]") {
  auto body = []() -> flash::task<int> {
    co_await flash::sleep_for(1ms);
    auto doubled = [](int n) -> flash::awaitable<int> { co_return n * 2; };
    co_return co_await doubled(21);
  };
  CHECK(run_async(flash::as_awaitable(body())) == 42);
}

TEST_CASE("a task group runs task children and collects their results", "[task][task_group]") {
  std::atomic<int> sum{0};
  auto add = [&sum](int n) -> flash::task<void> {
    co_await flash::sleep_for(1ms);
    sum += n;
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 1; i <= 100; ++i) group.spawn(add(i));
    co_return;
  };
  run_async(flash::with_task_group(body));
  CHECK(sum == 5050);
}

TEST_CASE("a failing task child cancels its task siblings, which are awaited", "[task][task_group]") {
  std::atomic<int> cancelled{0};
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 10; ++i) group.spawn(wait_long(cancelled));
    group.spawn([]() -> flash::task<void> {
      co_await flash::sleep_for(1ms);
      throw std::runtime_error("child failed");
    }());
    co_return;
  };
  CHECK_THROWS_WITH(run_async(flash::with_task_group(body)), "child failed");
  CHECK(cancelled == 10);
}

TEST_CASE("cancelling a task group ends task children suspended in Asio operations", "[task][task_group]") {
  std::atomic<int> cancelled{0};
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 1000; ++i) group.spawn(wait_long(cancelled));
    co_await flash::sleep_for(1ms);
    group.cancel();
  };
  CHECK_THROWS_AS(run_async(flash::with_task_group(body)), boost::system::system_error);
  CHECK(cancelled == 1000);
}

TEST_CASE("a cancelled task starts no further operation", "[task][task_group]") {
  // Once cancelled, the child's next wait ends at once instead of in an hour.
  std::atomic<int> aborted_waits{0};
  auto child = [&]() -> flash::task<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
    auto [first] = co_await timer.async_wait(asio::as_tuple(flash::use_task));
    if (first == asio::error::operation_aborted) ++aborted_waits;
    timer.expires_after(1h);
    auto [second] = co_await timer.async_wait(asio::as_tuple(flash::use_task));
    if (second == asio::error::operation_aborted) ++aborted_waits;
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(child());
    co_await flash::sleep_for(1ms);
    group.cancel();
  };
  run_async(flash::with_task_group(body));  // the child reported its cancellation as values
  CHECK(aborted_waits == 2);
}

TEST_CASE("a task group's concurrency limit holds for task children", "[task][task_group]") {
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  auto child = [&]() -> flash::task<void> {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    co_await flash::sleep_for(1ms);
    --running;
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 20; ++i) group.spawn(child());
    co_return;
  };
  run_async(flash::with_task_group(body, {.max_concurrency = 3}));
  CHECK(most == 3);
}

TEST_CASE("a task group's observer counts task children", "[task][task_group][metrics]") {
  flash::metrics counters;
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 5; ++i) group.spawn(forty_two());
    group.spawn(fail("one fails"));
    co_return;
  };
  CHECK_THROWS(run_async(flash::with_task_group(body, {.on_failure = flash::failure_policy::keep_going}, &counters)));
  const auto snapshot = counters.snapshot();
  CHECK(snapshot.tasks_spawned == 6);
  CHECK(snapshot.tasks_completed == 6);  // a failure is a completion; only cancellations are apart
  CHECK(snapshot.tasks_cancelled == 0);
}

TEST_CASE("cancelling the awaitable that awaits a task cancels the task", "[task]") {
  std::atomic<int> cancelled{0};
  auto body = [&]() -> flash::awaitable<bool> {
    asio::cancellation_signal signal;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer soon(executor, 1ms);
    bool ended = false;
    flash::async_run(executor, wait_long(cancelled), asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr error) {
                       ended = flash::is_cancellation(error);
                     }));
    co_await soon.async_wait(asio::use_awaitable);
    signal.emit(asio::cancellation_type::terminal);
    soon.expires_after(5ms);
    co_await soon.async_wait(asio::use_awaitable);
    co_return ended;
  };
  CHECK(run_async(body()));
  CHECK(cancelled == 1);
}

TEST_CASE("tasks left suspended when their io_context is destroyed are destroyed with it", "[task]") {
  std::atomic<int> alive{0};
  {
    asio::io_context io;
    asio::steady_timer timer(io, 1h);
    auto holder = [&]() -> flash::task<void> {
      alive_counter counter(alive);
      co_await wait_on(timer, 1);
    };
    for (int i = 0; i < 3; ++i) flash::async_run(io, holder(), asio::detached);
    auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
      for (int i = 0; i < 3; ++i) group.spawn(holder());
      co_return;
    };
    asio::co_spawn(io, flash::with_task_group(body), asio::detached);
    io.poll();
    CHECK(alive == 6);
  }
  CHECK(alive == 0);  // and, under AddressSanitizer, no frame leaked
}

TEST_CASE("tasks sleeping with use_task wake in deadline order, after their time", "[task][sleep]") {
  // Deadlines, in the order the sleepers woke. The sleeps start one after another, so on a slow
  // machine (a sanitizer) a later, shorter sleep may end after an earlier, longer one: the order
  // is the deadlines', not the durations'.
  std::vector<std::chrono::steady_clock::time_point> woken;
  auto sleeper = [&](int ms) -> flash::task<void> {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    co_await flash::sleep_for(std::chrono::milliseconds(ms), flash::use_task);
    CHECK(std::chrono::steady_clock::now() >= deadline);
    woken.push_back(deadline);
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int ms : {30, 5, 20, 10, 0, 25, 15}) group.spawn(sleeper(ms));
    co_return;
  };
  run_async(flash::with_task_group(body));
  REQUIRE(woken.size() == 7);
  // Each sleep computes its own deadline a moment after the one above: deadlines closer than
  // that moment may wake either way.
  for (std::size_t i = 1; i < woken.size(); ++i) CHECK(woken[i - 1] <= woken[i] + std::chrono::milliseconds(1));
}

TEST_CASE("cancelling a task group wakes its sleeping task children", "[task][sleep]") {
  std::atomic<int> thrown{0};
  std::atomic<int> returned_false{0};
  auto throwing = [&]() -> flash::task<void> {
    try {
      co_await flash::sleep_for(1h, flash::use_task);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) ++thrown;
      throw;
    }
  };
  auto quiet = [&]() -> flash::task<void> {
    if (!co_await flash::sleep_for(1h, flash::use_task, flash::no_throw)) ++returned_false;
    // Once cancelled, a further sleep ends at once.
    if (!co_await flash::sleep_for(1h, flash::use_task, flash::no_throw)) ++returned_false;
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 500; ++i) {
      group.spawn(throwing());
      group.spawn(quiet());
    }
    co_await flash::sleep_for(1ms);
    group.cancel();
  };
  CHECK_THROWS_AS(run_async(flash::with_task_group(body)), boost::system::system_error);
  CHECK(thrown == 500);
  CHECK(returned_false == 1000);
}

TEST_CASE("a cancelled task's wait throws an operation_aborted its group counts as a cancellation",
          "[task][sleep]") {
  std::exception_ptr first, second;
  auto sleeper = [](std::exception_ptr& caught) -> flash::task<void> {
    try {
      co_await flash::sleep_for(1h, flash::use_task);
    } catch (...) {
      caught = std::current_exception();
      throw;
    }
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(sleeper(first));
    group.spawn(sleeper(second));
    co_await flash::sleep_for(1ms);
    group.cancel();
  };
  std::exception_ptr outcome;
  try {
    run_async(flash::with_task_group(body));
  } catch (...) {
    outcome = std::current_exception();
  }
  CHECK(flash::is_cancellation(outcome));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first != second);  // each wait throws its own exception
  const boost::system::system_error expected(asio::error::operation_aborted);
  for (const auto& caught : {first, second}) {
    CHECK(flash::is_cancellation(caught));
    try {
      std::rethrow_exception(caught);
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == asio::error::operation_aborted);
      CHECK(std::string(e.what()) == expected.what());
    }
  }
  // One the program made itself is a cancellation too.
  CHECK(flash::is_cancellation(std::make_exception_ptr(expected)));
}

TEST_CASE("a task child that turns its cancellation into another error fails its group", "[task][sleep]") {
  auto cleanup_fails = []() -> flash::task<void> {
    try {
      co_await flash::sleep_for(1h, flash::use_task);
    } catch (const boost::system::system_error&) {
      throw std::runtime_error("cleanup failed");
    }
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(cleanup_fails());
    co_await flash::sleep_for(1ms);
    group.cancel();
  };
  CHECK_THROWS_WITH(run_async(flash::with_task_group(body)), "cleanup failed");
  CHECK_FALSE(flash::is_cancellation(std::make_exception_ptr(
      boost::system::system_error(make_error_code(asio::error::connection_reset)))));
}

TEST_CASE("cancelling the awaitable that awaits a sleeping task wakes it", "[task][sleep]") {
  bool woken_by_cancellation = false;
  auto body = [&]() -> flash::awaitable<std::size_t> {
    auto slept = [&]() -> flash::task<bool> {
      woken_by_cancellation = !co_await flash::sleep_for(1h, flash::use_task, flash::no_throw);
      co_return !woken_by_cancellation;
    };
    auto winner = co_await flash::when_any(flash::as_awaitable(slept()), flash::sleep_for(5ms, flash::no_throw));
    co_return winner.index();
  };
  CHECK(run_async(body()) == 1);
  CHECK(woken_by_cancellation);
}

TEST_CASE("tasks sleeping when their io_context is destroyed are destroyed with it", "[task][sleep]") {
  std::atomic<int> alive{0};
  {
    asio::io_context io;
    auto sleeper = [&]() -> flash::task<void> {
      alive_counter counter(alive);
      co_await flash::sleep_for(1h, flash::use_task);
    };
    for (int i = 0; i < 3; ++i) flash::async_run(io, sleeper(), asio::detached);
    auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
      for (int i = 0; i < 3; ++i) group.spawn(sleeper());
      co_return;
    };
    asio::co_spawn(io, flash::with_task_group(body), asio::detached);
    io.poll();
    CHECK(alive == 6);
  }
  CHECK(alive == 0);  // and, under AddressSanitizer, neither a frame nor the group leaked
}

TEST_CASE("a task awaited by another sleeps for any duration type, and wakes in its own frame", "[task][sleep]") {
  auto inner = [](std::chrono::duration<double> seconds) -> flash::task<int> {
    const auto start = std::chrono::steady_clock::now();
    co_await flash::sleep_for(seconds, flash::use_task);
    CHECK(std::chrono::steady_clock::now() - start >= seconds);
    co_return 7;
  };
  auto outer = [&]() -> flash::task<int> {
    int sum = co_await inner(std::chrono::duration<double>(0.0025));
    co_await flash::sleep_for(std::chrono::microseconds(500), flash::use_task);
    co_return sum + co_await inner(std::chrono::duration<double>(0.001));
  };
  CHECK(run_async(flash::as_awaitable(outer())) == 14);
}
