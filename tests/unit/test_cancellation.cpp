#include "run_async.hpp"

#include <flash/flash.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>

using namespace std::chrono_literals;

TEST_CASE("cancellation: a request runs each callback once, late ones at once", "[cancellation]") {
  flash::cancellation_source source;
  auto token = source.token();
  int first = 0, late = 0, removed = 0;
  auto keep = token.on_cancel([&] { ++first; });
  auto gone = token.on_cancel([&] { ++removed; });
  gone.reset();
  CHECK_FALSE(token.is_cancelled());
  source.request_cancel();
  source.request_cancel();
  CHECK(token.is_cancelled());
  CHECK(first == 1);
  CHECK(removed == 0);
  auto after = token.on_cancel([&] { ++late; });
  CHECK(late == 1);
  CHECK_THROWS_AS(token.throw_if_cancelled(), flash::error);
}

TEST_CASE("cancellation: a linked source follows its parent, never the reverse", "[cancellation]") {
  flash::cancellation_source parent;
  flash::cancellation_source child(parent.token());
  flash::cancellation_source other(parent.token());
  child.request_cancel();
  CHECK(child.is_cancelled());
  CHECK_FALSE(parent.is_cancelled());
  CHECK_FALSE(other.is_cancelled());
  parent.request_cancel();
  CHECK(other.is_cancelled());
}

TEST_CASE("cancellation: a default token is never cancelled", "[cancellation]") {
  flash::cancellation_token token;
  CHECK_FALSE(token.is_cancelled());
  CHECK_FALSE(token.can_be_cancelled());
  auto registration = token.on_cancel([] { FAIL("never called"); });
}

TEST_CASE("cancellation: yield_now throws once the caller is cancelled", "[cancellation]") {
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  int rounds = 0;
  bool cancelled = false;
  auto loop = [&]() -> flash::awaitable<void> {
    for (;;) {
      ++rounds;
      co_await flash::yield_now();
    }
  };
  boost::asio::co_spawn(io, loop(),
                        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                          cancelled = flash::is_cancellation(e);
                        }));
  for (int i = 0; i < 5; ++i) io.run_one();
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  CHECK(cancelled);
  CHECK(rounds >= 2);
}

TEST_CASE("cancellation: a shielded operation finishes while its caller is cancelled", "[cancellation]") {
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  bool finished = false, after = false;
  std::exception_ptr outcome;
  auto flush = [&]() -> flash::awaitable<int> {
    co_await flash::sleep_for(20ms);
    finished = true;
    co_return 3;
  };
  auto task = [&]() -> flash::awaitable<void> {
    int value = co_await flash::shielded(flush());
    CHECK(value == 3);
    co_await flash::sleep_for(10s);  // the pending cancellation lands here
    after = true;
  };
  boost::asio::co_spawn(io, task(),
                        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { outcome = e; }));
  io.run_one();
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  CHECK(finished);
  CHECK_FALSE(after);
  CHECK(flash::is_cancellation(outcome));
}

TEST_CASE("cancellation: with_cleanup runs the cleanup after a cancelled operation", "[cancellation]") {
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  bool cleaned = false;
  std::exception_ptr outcome;
  auto cleanup = [&]() -> flash::awaitable<void> {
    co_await flash::sleep_for(5ms);  // an asynchronous cleanup, awaited although cancelled
    cleaned = true;
  };
  boost::asio::co_spawn(io, flash::with_cleanup(flash::sleep_for(10s), cleanup()),
                        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { outcome = e; }));
  io.run_one();
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  CHECK(cleaned);
  CHECK(flash::is_cancellation(outcome));
}

TEST_CASE("cancellation: a cancelled sleep_for throws operation_aborted", "[cancellation]") {
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  std::optional<boost::system::error_code> caught;
  std::exception_ptr outcome;
  auto task = [&]() -> flash::awaitable<void> {
    try {
      co_await flash::sleep_for(10s);
    } catch (const boost::system::system_error& e) {
      caught = e.code();
      throw;
    }
  };
  boost::asio::co_spawn(io, task(),
                        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { outcome = e; }));
  io.poll();  // suspended in the sleep
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  REQUIRE(caught);
  CHECK(*caught == boost::asio::error::operation_aborted);
  CHECK(flash::is_cancellation(outcome));
}

TEST_CASE("cancellation: sleep_for(d, no_throw) returns false instead of throwing", "[cancellation]") {
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  std::optional<bool> slept, woke_early;
  std::exception_ptr outcome = std::make_exception_ptr(0);
  auto task = [&]() -> flash::awaitable<void> {
    slept = co_await flash::sleep_for(1ms, flash::no_throw);
    woke_early = !co_await flash::sleep_for(10s, flash::no_throw);
  };
  boost::asio::co_spawn(io, task(),
                        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { outcome = e; }));
  while (!slept) io.run_one();
  io.poll();  // now suspended in the long sleep
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  CHECK(slept == true);
  CHECK(woke_early == true);
  CHECK(outcome == nullptr);  // the task ended normally
}

TEST_CASE("cancellation: the green-thread sleep_for(d, yield, no_throw) returns false too", "[cancellation]") {
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  std::optional<bool> slept;
  boost::asio::spawn(
      io, [&](flash::yield_context yield) { slept = flash::sleep_for(10s, yield, flash::no_throw); },
      boost::asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      }));
  io.poll();
  signal.emit(boost::asio::cancellation_type::terminal);
  io.run();
  CHECK(slept == false);
}
