#include "run_cli.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

struct model_env {
  explicit model_env(const char* value) { ::setenv("FLASH_MODEL", value, 1); }
  ~model_env() { ::unsetenv("FLASH_MODEL"); }
};

}  // namespace

TEST_CASE("a sync handler runs blocking on the calling thread", "[dispatch]") {
  std::thread::id ran_on;
  auto app = flash::cli("app").command(flash::cmd<"sync">().run([&](flash::context&) {
    ran_on = std::this_thread::get_id();
    return 5;
  }));
  CHECK(run_cli(app, {"sync"}).status == 5);
  CHECK(ran_on == std::this_thread::get_id());
}

TEST_CASE("an awaitable handler runs as a coroutine on the I/O context to completion", "[dispatch]") {
  std::thread::id ran_on;
  bool timer_fired = false;
  auto app = flash::cli("app").command(
      flash::cmd<"async">().run([&](flash::context& ctx) -> flash::awaitable<int> {
        boost::asio::steady_timer timer(ctx.executor(), 5ms);
        co_await timer.async_wait(boost::asio::use_awaitable);
        timer_fired = true;
        ran_on = std::this_thread::get_id();
        co_return 3;
      }));
  CHECK(run_cli(app, {"async"}).status == 3);
  CHECK(timer_fired);
  CHECK(ran_on == std::this_thread::get_id());
}

TEST_CASE("a void awaitable handler exits with 0", "[dispatch]") {
  auto app = flash::cli("app").command(flash::cmd<"async">().run(
      [](flash::context&) -> flash::awaitable<void> { co_await flash::sleep_for(1ms); }));
  CHECK(run_cli(app, {"async"}).status == 0);
}

TEST_CASE("a handler taking a yield context runs as a green thread", "[dispatch]") {
  int steps = 0;
  auto app = flash::cli("app").command(
      flash::cmd<"green">().run([&](flash::context& ctx, flash::yield_context yield) {
        boost::asio::steady_timer timer(ctx.executor(), 2ms);
        timer.async_wait(yield);
        ++steps;
        flash::sleep_for(1ms, yield);
        ++steps;
        return 4;
      }));
  CHECK(run_cli(app, {"green"}).status == 4);
  CHECK(steps == 2);
}

TEST_CASE("a handler marked CPU-bound runs on the pool", "[dispatch]") {
  std::thread::id ran_on;
  auto app = flash::cli("app")
                 .runtime_options({.pool_threads = 2})
                 .command(flash::cmd<"hash">().run(flash::cpu_bound([&](flash::context&) {
                   ran_on = std::this_thread::get_id();
                   return 9;
                 })));
  CHECK(run_cli(app, {"hash"}).status == 9);
  CHECK(ran_on != std::this_thread::get_id());
}

TEST_CASE("the model declared on a command overrides the handler's shape", "[dispatch]") {
  std::thread::id ran_on;
  auto app = flash::cli("app").command(flash::cmd<"sum">()
                                           .model(flash::execution_model::thread_pool)
                                           .run([&](flash::context&) { ran_on = std::this_thread::get_id(); }));
  CHECK(run_cli(app, {"sum"}).status == 0);
  CHECK(ran_on != std::this_thread::get_id());
}

TEST_CASE("FLASH_MODEL overrides the declaration, for every handler shape", "[dispatch]") {
  std::thread::id ran_on;
  auto app =
      flash::cli("app")
          .command(flash::cmd<"sync">()
                       .model(flash::execution_model::thread_pool)
                       .run([&](flash::context&) { ran_on = std::this_thread::get_id(); }))
          .command(flash::cmd<"async">().run([&](flash::context&) -> flash::awaitable<int> {
            co_await flash::sleep_for(1ms);
            ran_on = std::this_thread::get_id();
            co_return 11;
          }))
          .command(flash::cmd<"green">().run([&](flash::context&, flash::yield_context yield) {
            flash::sleep_for(1ms, yield);
            ran_on = std::this_thread::get_id();
            return 12;
          }));

  for (const char* model : {"blocking", "stackless", "green_thread"}) {
    DYNAMIC_SECTION("FLASH_MODEL=" << model) {
      model_env env(model);
      CHECK(run_cli(app, {"sync"}).status == 0);
      CHECK(ran_on == std::this_thread::get_id());
      CHECK(run_cli(app, {"async"}).status == 11);
      CHECK(ran_on == std::this_thread::get_id());
      CHECK(run_cli(app, {"green"}).status == 12);
      CHECK(ran_on == std::this_thread::get_id());
    }
  }
  SECTION("FLASH_MODEL=thread_pool") {
    model_env env("thread_pool");
    CHECK(run_cli(app, {"sync"}).status == 0);
    CHECK(ran_on != std::this_thread::get_id());
    CHECK(run_cli(app, {"async"}).status == 11);
    CHECK(ran_on != std::this_thread::get_id());
    CHECK(run_cli(app, {"green"}).status == 12);
    CHECK(ran_on != std::this_thread::get_id());
  }
}

TEST_CASE("a handler that throws fails with 1 and a message naming the command", "[dispatch][errors]") {
  auto thrower = [](flash::context&) -> int { throw std::runtime_error("disk on fire"); };
  auto async_thrower = [](flash::context&) -> flash::awaitable<void> {
    co_await flash::sleep_for(1ms);
    throw std::runtime_error("network on fire");
  };
  auto green_thrower = [](flash::context&, flash::yield_context) { throw std::runtime_error("stack on fire"); };
  auto app = flash::cli("app")
                 .command(flash::cmd<"sync">().run(thrower))
                 .command(flash::cmd<"async">().run(async_thrower))
                 .command(flash::cmd<"green">().run(green_thrower))
                 .command(flash::cmd<"pool">().run(flash::cpu_bound(thrower)));

  auto sync = run_cli(app, {"sync"});
  CHECK(sync.status == 1);
  CHECK(sync.err == "app sync: error: disk on fire\n");
  auto async = run_cli(app, {"async"});
  CHECK(async.status == 1);
  CHECK(async.err == "app async: error: network on fire\n");
  auto green = run_cli(app, {"green"});
  CHECK(green.status == 1);
  CHECK(green.err == "app green: error: stack on fire\n");
  auto pool = run_cli(app, {"pool"});
  CHECK(pool.status == 1);
  CHECK(pool.err == "app pool: error: disk on fire\n");
}

TEST_CASE("a flash::error names its kind, but a validation error only says what is wrong", "[dispatch][errors]") {
  auto app = flash::cli("app")
                 .command(flash::cmd<"check">().run([](flash::context&) {
                   throw flash::error(flash::errc::validation_error, "the passphrases do not match");
                 }))
                 .command(flash::cmd<"connect">().run([](flash::context&) {
                   throw flash::error(flash::errc::timeout, "connecting to example.org:443");
                 }));
  auto check = run_cli(app, {"check"});
  CHECK(check.status == 1);
  CHECK(check.err == "app check: error: the passphrases do not match\n");
  CHECK(run_cli(app, {"connect"}).err == "app connect: error: connecting to example.org:443: timed out\n");
}

TEST_CASE("Ctrl-C cancels a suspended coroutine and exits with 130", "[dispatch][signals]") {
  bool cancelled = false;
  auto app = flash::cli("app").command(flash::cmd<"wait">().run([&](flash::context&) -> flash::awaitable<void> {
    std::raise(SIGINT);  // delivered through the signal set while the timer below waits
    try {
      co_await flash::sleep_for(10s);
    } catch (const boost::system::system_error& e) {
      cancelled = e.code() == boost::asio::error::operation_aborted;
      throw;
    }
  }));
  auto start = std::chrono::steady_clock::now();
  auto result = run_cli(app, {"wait"});
  CHECK(result.status == 130);
  CHECK(cancelled);
  CHECK(result.err.empty());
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("SIGTERM cancels a green thread and exits with 143", "[dispatch][signals]") {
  auto app = flash::cli("app").command(flash::cmd<"wait">().run([](flash::context&, flash::yield_context yield) {
    std::raise(SIGTERM);
    flash::sleep_for(10s, yield);
  }));
  CHECK(run_cli(app, {"wait"}).status == 143);
}

TEST_CASE("a blocking handler sees Ctrl-C through is_cancelled and the run exits with 130", "[dispatch][signals]") {
  bool saw_cancel = false;
  auto app = flash::cli("app").command(flash::cmd<"loop">().run([&](flash::context& ctx) {
    CHECK_FALSE(ctx.is_cancelled());
    std::raise(SIGINT);
    saw_cancel = ctx.is_cancelled();
  }));
  CHECK(run_cli(app, {"loop"}).status == 130);
  CHECK(saw_cancel);
  // The next run starts afresh.
  auto next = flash::cli("app").command(flash::cmd<"ok">().run([](flash::context& ctx) { return ctx.is_cancelled() ? 1 : 0; }));
  CHECK(run_cli(next, {"ok"}).status == 0);
}

TEST_CASE("a command's timeout cancels it and fails it with a timeout error", "[dispatch][timeout]") {
  bool cancelled = false;
  auto app = flash::cli("app").command(flash::cmd<"slow">()
                                           .timeout(20ms)
                                           .run([&](flash::context& ctx) -> flash::awaitable<void> {
                                             try {
                                               co_await flash::sleep_for(10s);
                                             } catch (...) {
                                               cancelled = ctx.is_cancelled();
                                               throw;
                                             }
                                           }));
  auto start = std::chrono::steady_clock::now();
  auto result = run_cli(app, {"slow"});
  CHECK(result.status == 1);
  CHECK(result.err == "app slow: error: the command did not finish within 20 ms: timed out\n");
  CHECK(cancelled);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("the context's task groups keep to the command's max_concurrency and count in its metrics",
          "[dispatch][task_group]") {
  int running = 0, peak = 0;
  auto app = flash::cli("app").command(
      flash::cmd<"fan">().max_concurrency(3).run([&](flash::context& ctx) -> flash::awaitable<void> {
        auto child = [&]() -> flash::awaitable<void> {
          peak = std::max(peak, ++running);
          co_await flash::sleep_for(1ms);
          --running;
        };
        auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
          for (int i = 0; i < 12; ++i) group.spawn(child());
          co_return;
        };
        co_await ctx.with_task_group(body);
        CHECK(ctx.metrics().snapshot().tasks_completed == 12);
      }));
  auto result = run_cli(app, {"--metrics=json", "fan"});
  CHECK(result.status == 0);
  CHECK(peak == 3);
  CHECK_THAT(result.err, Catch::StartsWith("{\"tasks_spawned\":12,\"tasks_completed\":12,\"tasks_cancelled\":0,"));
  CHECK_THAT(result.err, Catch::Contains("\"peak_concurrency\":3"));
}

TEST_CASE("ctx.offload runs CPU work on the pool and resumes on the handler's thread", "[dispatch][offload]") {
  std::thread::id resumed_on, worked_on;
  auto app = flash::cli("app").command(flash::cmd<"sum">().run([&](flash::context& ctx) -> flash::awaitable<int> {
    long total = co_await ctx.offload([&] {
      worked_on = std::this_thread::get_id();
      long sum = 0;
      for (long i = 1; i <= 1000; ++i) sum += i;
      return sum;
    });
    resumed_on = std::this_thread::get_id();
    co_return total == 500500 ? 0 : 1;
  }));
  CHECK(run_cli(app, {"sum"}).status == 0);
  CHECK(resumed_on == std::this_thread::get_id());
  CHECK(worked_on != std::this_thread::get_id());
}

TEST_CASE("a command's memory limit fails allocations with resource_exhausted", "[dispatch][memory]") {
  auto app = flash::cli("app").command(flash::cmd<"hog">().memory_limit(1 << 20).run([](flash::context& ctx) {
    std::pmr::vector<char> small(1000, 'x', ctx.memory());
    std::pmr::vector<char> big(std::size_t{8} << 20, 'x', ctx.memory());
  }));
  auto result = run_cli(app, {"hog"});
  CHECK(result.status == 1);
  CHECK_THAT(result.err, Catch::Contains("memory limit") && Catch::Contains("resource exhausted"));
}

namespace {
volatile std::sig_atomic_t own_handler_calls = 0;
void own_handler(int) { own_handler_calls = own_handler_calls + 1; }

// Runs `body` in a child process and returns its wait status.
template <class Body>
int in_child(Body body) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(body());
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

int run_in_child(const flash::cli& app, const char* command) {
  const char* argv[] = {"app", command};
  std::ostringstream out, err;
  return app.run(2, argv, out, err);
}
}  // namespace

TEST_CASE("a second Ctrl-C ends the process at once with 130", "[dispatch][signals]") {
  const int status = in_child([] {
    // A handler that ignores the first request to stop.
    auto app = flash::cli("app").command(flash::cmd<"stubborn">().run([](flash::context&) {
      std::raise(SIGINT);
      std::this_thread::sleep_for(100ms);
      std::raise(SIGINT);
      ::_exit(42);  // never reached: the second signal ended the process
    }));
    return run_in_child(app, "stubborn");
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
}

TEST_CASE("the same signal twice at once (as GNU timeout sends it) is one request to stop", "[dispatch][signals]") {
  const int status = in_child([] {
    static bool ran_to_end = false;  // a forced exit would not get here
    auto app = flash::cli("app")
                   .command(flash::cmd<"blocking">().run([](flash::context& ctx) {
                     std::raise(SIGINT);
                     std::raise(SIGINT);
                     ran_to_end = ctx.is_cancelled();
                   }))
                   .command(flash::cmd<"coroutine">().run([](flash::context& ctx) -> flash::awaitable<void> {
                     std::raise(SIGTERM);
                     std::raise(SIGTERM);
                     try {
                       co_await flash::sleep_for(10s);
                     } catch (const boost::system::system_error&) {
                     }
                     ran_to_end = ctx.is_cancelled();
                   }));
    if (run_in_child(app, "coroutine") != 143 || !ran_to_end) return 11;
    ran_to_end = false;
    if (run_in_child(app, "blocking") != 130 || !ran_to_end) return 10;
    return 0;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a second Ctrl-C removes the files being written before it ends the process", "[dispatch][signals]") {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("flash-forced-exit-{}", ::getpid());
  std::filesystem::create_directories(dir);
  for (const char* model : {"blocking", "coroutine"}) {
    INFO(model);
    const int status = in_child([&] {
      auto write_files = [&](flash::resource_scope& scope) {
        auto& kept = scope.create_temporary(dir / "kept.txt");
        REQUIRE(::write(kept.native_handle(), "all", 3) == 3);
        kept.commit({.sync = false});
        auto& temporary = scope.create_temporary(dir / "half.txt");
        auto& in_place = scope.create_in_place(dir / "in-place.txt");
        REQUIRE(::write(temporary.native_handle(), "half", 4) == 4);
        REQUIRE(::write(in_place.native_handle(), "half", 4) == 4);
      };
      auto app = flash::cli("app")
                     .command(flash::cmd<"blocking">().run([&](flash::context&) {
                       flash::resource_scope scope;
                       write_files(scope);
                       std::raise(SIGINT);
                       std::this_thread::sleep_for(100ms);
                       std::raise(SIGINT);
                       ::_exit(42);  // never reached
                     }))
                     .command(flash::cmd<"coroutine">().run([&](flash::context&) -> flash::awaitable<void> {
                       flash::resource_scope scope;
                       write_files(scope);
                       // Each signal arrives through the event loop, while the coroutine waits,
                       // shielded from the first request to stop.
                       std::raise(SIGINT);
                       co_await flash::shielded([]() -> flash::awaitable<void> {
                         co_await flash::sleep_for(100ms);
                         std::raise(SIGINT);
                         co_await flash::sleep_for(10s);
                       }());
                       ::_exit(42);
                     }));
      return run_in_child(app, model);
    });
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 130);
    std::vector<std::string> left;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) left.push_back(entry.path().filename().string());
    CHECK(left == std::vector<std::string>{"kept.txt"});
    std::filesystem::remove(dir / "kept.txt");
  }
  std::filesystem::remove_all(dir);
}


TEST_CASE("outside a command, Ctrl-C does what the program's own handler says", "[dispatch][signals]") {
  const int status = in_child([] {
    std::signal(SIGINT, own_handler);
    auto app = flash::cli("app")
                   .command(flash::cmd<"stop">().run([](flash::context& ctx) {
                     std::raise(SIGINT);
                     return ctx.is_cancelled() ? 0 : 1;
                   }))
                   .command(flash::cmd<"wait">().run([](flash::context&) -> flash::awaitable<void> {
                     std::raise(SIGINT);
                     co_await flash::sleep_for(10s);
                   }));
    if (run_in_child(app, "stop") != 130 || own_handler_calls != 0) return 10;
    std::raise(SIGINT);  // between commands: the program's handler, not a cancellation
    if (own_handler_calls != 1) return 11;
    if (run_in_child(app, "stop") != 130 || own_handler_calls != 1) return 12;
    // After a coroutine command (whose Asio signal set resets the handlers when it ends), a
    // blocking command still turns Ctrl-C into a cancellation.
    if (run_in_child(app, "wait") != 130) return 13;
    if (run_in_child(app, "stop") != 130) return 14;
    // A disposition changed between commands is the one that counts after the next.
    std::signal(SIGINT, SIG_IGN);
    if (run_in_child(app, "stop") != 130) return 15;
    std::raise(SIGINT);  // ignored, as the program asked
    std::signal(SIGINT, own_handler);
    if (run_in_child(app, "stop") != 130) return 16;
    std::raise(SIGINT);
    if (own_handler_calls != 2) return 17;
    return 0;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("after a command, Ctrl-C ends a program that has no handler of its own", "[dispatch][signals]") {
  const int status = in_child([] {
    std::signal(SIGINT, SIG_DFL);  // the test runner's own handler is not the program's
    auto app = flash::cli("app").command(flash::cmd<"ok">().run([](flash::context&) {}));
    if (run_in_child(app, "ok") != 0) return 10;
    std::raise(SIGINT);
    return 11;  // not reached: the default disposition ends the process
  });
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGINT);
}
