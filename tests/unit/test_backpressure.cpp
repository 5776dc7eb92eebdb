#include "run_async.hpp"

#include <flash/flash.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <random>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("semaphore: waiters are served in order and a release hands the permit over", "[semaphore]") {
  flash::semaphore sem(1);
  std::vector<int> order;
  auto worker = [&](int id) -> flash::awaitable<void> {
    auto permit = co_await flash::acquire_permit(sem);
    order.push_back(id);
    co_await flash::sleep_for(1ms);
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 5; ++i) group.spawn(worker(i));
    co_return;
  };
  run_async(flash::with_task_group(body));
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(sem.available() == 1);
}

TEST_CASE("semaphore: try_acquire, and a cancelled wait takes no permit", "[semaphore]") {
  flash::semaphore sem(1);
  REQUIRE(sem.try_acquire());
  CHECK_FALSE(sem.try_acquire());

  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  std::exception_ptr outcome;
  boost::asio::co_spawn(io, sem.acquire(),
                        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { outcome = e; }));
  io.poll();
  CHECK(sem.waiting() == 1);
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  CHECK(flash::is_cancellation(outcome));
  CHECK(sem.waiting() == 0);
  sem.release();
  CHECK(sem.available() == 1);
}

TEST_CASE("semaphore: permits released from pool threads reach waiters on the I/O thread", "[semaphore]") {
  boost::asio::io_context io;  // outlives the pool, whose threads post completions into it
  flash::thread_pool pool(2);
  flash::semaphore sem(2);
  std::atomic<int> done{0};
  auto worker = [&]() -> flash::awaitable<void> {
    co_await sem.acquire();
    co_await flash::offload(pool.get_executor(), [&] { sem.release(); });
    ++done;
  };
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 200; ++i) group.spawn(worker());
    co_return;
  };
  run_async(io, flash::with_task_group(body));
  CHECK(done == 200);
  CHECK(sem.available() == 2);
}

TEST_CASE("retry: backoff doubles from the base up to the cap", "[retry]") {
  flash::retry_policy policy{.base_delay = 100ms, .max_delay = 30s, .jitter = 0};
  std::minstd_rand random(1);
  CHECK(flash::backoff_delay(policy, 1, random) == 100ms);
  CHECK(flash::backoff_delay(policy, 2, random) == 200ms);
  CHECK(flash::backoff_delay(policy, 3, random) == 400ms);
  CHECK(flash::backoff_delay(policy, 12, random) == 30s);
  CHECK(flash::backoff_delay(policy, 1000, random) == 30s);

  policy.jitter = 0.5;
  for (int i = 0; i < 100; ++i) {
    auto delay = flash::backoff_delay(policy, 2, random);
    CHECK(delay >= 100ms);
    CHECK(delay <= 300ms);
  }
}

TEST_CASE("retry: transient failures are retried, others are not", "[retry]") {
  int attempts = 0;
  auto flaky = [&]() -> flash::awaitable<int> {
    if (++attempts < 3) throw flash::error(flash::errc::network_error, "example.org");
    co_return 5;
  };
  flash::retry_policy fast{.max_attempts = 5, .base_delay = 1ms, .jitter = 0};
  CHECK(run_async(flash::retry(flaky, fast)) == 5);
  CHECK(attempts == 3);

  attempts = 0;
  auto broken = [&]() -> flash::awaitable<int> {
    ++attempts;
    throw flash::error(flash::errc::validation_error, "input");
  };
  CHECK_THROWS_AS(run_async(flash::retry(broken, fast)), flash::error);
  CHECK(attempts == 1);

  attempts = 0;
  auto down = [&]() -> flash::awaitable<void> {
    ++attempts;
    throw flash::error(flash::errc::timeout, "example.org");
  };
  CHECK_THROWS_WITH(run_async(flash::retry(down, fast)), "example.org: timed out");
  CHECK(attempts == 5);

  attempts = 0;
  fast.retryable = [](const std::exception_ptr&) { return true; };
  auto logic = [&]() -> flash::awaitable<void> {
    if (++attempts < 2) throw std::logic_error("once");
    co_return;
  };
  run_async(flash::retry(logic, fast));
  CHECK(attempts == 2);
}

TEST_CASE("offload: the caller resumes on its own thread with the result or the exception", "[offload]") {
  boost::asio::io_context io;  // outlives the pool, whose threads post completions into it
  flash::thread_pool pool(2);
  const auto main_thread = std::this_thread::get_id();
  auto task = [&]() -> flash::awaitable<bool> {
    std::thread::id worker;
    int sum = co_await flash::offload(pool.get_executor(), [&] {
      worker = std::this_thread::get_id();
      int total = 0;
      for (int i = 1; i <= 100; ++i) total += i;
      return total;
    });
    CHECK(sum == 5050);
    CHECK(worker != main_thread);
    co_return std::this_thread::get_id() == main_thread;
  };
  CHECK(run_async(io, task()));

  auto failing = [&]() -> flash::awaitable<void> {
    co_await flash::offload(pool.get_executor(), []() -> int { throw std::runtime_error("cpu on fire"); });
  };
  CHECK_THROWS_WITH(run_async(io, failing()), "cpu on fire");
}

TEST_CASE("offload: cancelling queued work removes it, and running work sees its token", "[offload]") {
  flash::thread_pool pool(1);
  std::atomic<bool> release_blocker{false};
  std::atomic<bool> queued_ran{false};
  std::atomic<bool> saw_token{false};
  std::atomic<bool> blocker_started{false};
  boost::asio::io_context io;
  boost::asio::cancellation_signal blocker_signal, queued_signal;
  std::exception_ptr blocker_outcome, queued_outcome;

  // The blocker occupies the only worker until it sees its token cancelled.
  boost::asio::co_spawn(io, flash::offload(pool.get_executor(), [&](const flash::cancellation_token& token) {
                          blocker_started = true;
                          while (!token.is_cancelled() && !release_blocker) std::this_thread::yield();
                          saw_token = token.is_cancelled();
                        }),
                        boost::asio::bind_cancellation_slot(blocker_signal.slot(),
                                                            [&](std::exception_ptr e) { blocker_outcome = e; }));
  boost::asio::co_spawn(io, flash::offload(pool.get_executor(), [&] { queued_ran = true; }),
                        boost::asio::bind_cancellation_slot(queued_signal.slot(),
                                                            [&](std::exception_ptr e) { queued_outcome = e; }));
  io.poll();
  for (int i = 0; i < 10'000 && !blocker_started; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(blocker_started);
  queued_signal.emit(boost::asio::cancellation_type::terminal);
  blocker_signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  pool.join();
  CHECK(flash::is_cancellation(queued_outcome));
  CHECK_FALSE(queued_ran);
  CHECK(saw_token);
  CHECK_FALSE(blocker_outcome);
}
