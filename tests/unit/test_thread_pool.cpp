#include <flash/exec/thread_pool.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Waits for `done()` without asserting anything about time; false only when something is stuck.
template <class Predicate>
bool eventually(Predicate done, std::chrono::steady_clock::duration limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// join() with a bound: if it does not return in time the pool is stopped, which releases it.
bool join_within(flash::thread_pool& pool, std::chrono::steady_clock::duration limit = 60s) {
  std::atomic<bool> joined{false};
  std::thread joiner([&] {
    pool.join();
    joined = true;
  });
  const bool in_time = eventually([&] { return joined.load(); }, limit);
  if (!in_time) pool.stop();
  joiner.join();
  return in_time;
}

// A move-only function object that counts its live instances and its calls.
class probe {
 public:
  probe(std::atomic<int>& live, std::atomic<int>& calls) : live_(&live), calls_(&calls) { ++*live_; }
  probe(probe&& other) noexcept : live_(other.live_), calls_(other.calls_) { ++*live_; }
  probe(const probe&) = delete;
  probe& operator=(const probe&) = delete;
  ~probe() { --*live_; }
  void operator()() { ++*calls_; }

 private:
  std::atomic<int>* live_;
  std::atomic<int>* calls_;
};

template <class T>
struct counting_allocator {
  using value_type = T;
  explicit counting_allocator(std::atomic<int>& live) noexcept : live(&live) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& other) noexcept : live(other.live) {}
  T* allocate(std::size_t n) {
    ++*live;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    --*live;
    std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(const counting_allocator& a, const counting_allocator& b) noexcept {
    return a.live == b.live;
  }
  friend bool operator!=(const counting_allocator& a, const counting_allocator& b) noexcept {
    return a.live != b.live;
  }
  std::atomic<int>* live;
};

void grow_tree(flash::thread_pool::executor_type executor, std::atomic<int>& nodes, int depth) {
  ++nodes;
  if (depth == 0) return;
  asio::post(executor, [executor, &nodes, depth] { grow_tree(executor, nodes, depth - 1); });
  asio::defer(executor, [executor, &nodes, depth] { grow_tree(executor, nodes, depth - 1); });
}

asio::awaitable<int> double_on_pool(const flash::thread_pool& pool, int value) {
  auto executor = co_await asio::this_coro::executor;
  co_await asio::post(executor, asio::use_awaitable);
  if (!pool.running_in_this_thread()) throw std::logic_error("resumed off the pool");
  if (value < 0) throw std::runtime_error("negative");
  co_return 2 * value;
}

asio::awaitable<int> wait_on(asio::io_context& io) {
  asio::steady_timer timer(io, 0ms);
  co_await timer.async_wait(asio::use_awaitable);
  co_return 1;
}

// Each timer completes on the I/O thread and resumes the coroutine on the pool, so coroutine
// frames are allocated on one thread and freed on another.
asio::awaitable<int> hop_between(asio::io_context& io, const flash::thread_pool& pool, int hops) {
  int total = 0;
  for (int i = 0; i < hops; ++i) {
    const int one = co_await wait_on(io);
    if (!pool.running_in_this_thread()) throw std::logic_error("resumed off the pool");
    total += one;
  }
  co_return total;
}

}  // namespace

using executor = flash::thread_pool::executor_type;
static_assert(asio::execution::is_executor<executor>::value);
static_assert(std::is_convertible_v<executor, asio::any_io_executor>);
static_assert(asio::can_require<executor, asio::execution::blocking_t::never_t>::value);
static_assert(asio::can_require<executor, asio::execution::outstanding_work_t::tracked_t>::value);
static_assert(std::is_same_v<decltype(asio::require(std::declval<executor>(),
                                                    asio::execution::allocator(std::allocator<int>()))),
                             flash::thread_pool::basic_executor_type<std::allocator<int>>>);
static_assert(executor::query(asio::execution::mapping) == asio::execution::mapping.thread);

TEST_CASE("thread pool: post from outside runs on a worker thread", "[pool]") {
  flash::thread_pool pool(2);
  std::promise<std::pair<std::thread::id, bool>> ran;
  auto result = ran.get_future();
  asio::post(pool, [&] { ran.set_value({std::this_thread::get_id(), pool.running_in_this_thread()}); });
  REQUIRE(result.wait_for(30s) == std::future_status::ready);
  const auto [id, on_pool] = result.get();
  CHECK(id != std::this_thread::get_id());
  CHECK(on_pool);
  CHECK_FALSE(pool.running_in_this_thread());
  CHECK_FALSE(pool.get_executor().running_in_this_thread());

  std::atomic<bool> via_executor{false};
  asio::post(pool.get_executor(), [&] { via_executor = pool.get_executor().running_in_this_thread(); });
  REQUIRE(join_within(pool));
  CHECK(via_executor);
  CHECK(pool.stats().tasks_executed == 2);
}

TEST_CASE("thread pool: thread count default and configurable", "[pool]") {
  const std::size_t hardware = std::max(1u, std::thread::hardware_concurrency());
  CHECK(flash::thread_pool().size() == hardware);
  CHECK(flash::thread_pool(0).size() == hardware);

  flash::thread_pool pool(3);
  CHECK(pool.size() == 3);
  CHECK(asio::query(pool.get_executor(), asio::execution::occupancy) == 3);

  // Three functions that wait for each other can only all finish on three different threads.
  std::atomic<int> arrived{0};
  std::mutex mutex;
  std::set<std::thread::id> threads;
  for (int i = 0; i < 3; ++i) {
    asio::post(pool, [&] {
      {
        std::lock_guard lock(mutex);
        threads.insert(std::this_thread::get_id());
      }
      ++arrived;
      eventually([&] { return arrived.load() == 3; });
    });
  }
  REQUIRE(eventually([&] { return arrived.load() == 3; }));
  REQUIRE(join_within(pool));
  CHECK(threads.size() == 3);
}

TEST_CASE("thread pool: workers start as work needs them", "[pool]") {
  auto threads_in_process = [] {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++count;
    return count;
  };
  // ThreadSanitizer starts a thread of its own with the process's first new thread.
  std::thread([] {}).join();
  const std::size_t before = threads_in_process();
  flash::thread_pool pool(8);
  CHECK(threads_in_process() == before + 1);

  // Four functions that wait for each other need four workers.
  std::atomic<int> arrived{0};
  for (int i = 0; i < 4; ++i) {
    asio::post(pool, [&] {
      ++arrived;
      eventually([&] { return arrived.load() == 4; });
    });
  }
  REQUIRE(eventually([&] { return arrived.load() == 4; }));
  CHECK(threads_in_process() >= before + 4);
  CHECK(threads_in_process() <= before + 8);
  REQUIRE(join_within(pool));
}

TEST_CASE("thread pool: dispatch runs inline on a pool thread", "[pool]") {
  flash::thread_pool pool(1);  // one worker: whatever is queued cannot run before we return
  auto ex = pool.get_executor();
  std::atomic<bool> dispatched_inline{false}, posted_inline{true}, deferred_inline{true},
      never_inline{true};
  std::atomic<bool> posted_ran{false}, deferred_ran{false}, never_ran{false};
  asio::post(ex, [&] {
    bool dispatched = false;
    asio::dispatch(ex, [&] { dispatched = true; });
    dispatched_inline = dispatched;
    asio::post(ex, [&] { posted_ran = true; });
    posted_inline = posted_ran.load();
    asio::defer(ex, [&] { deferred_ran = true; });
    deferred_inline = deferred_ran.load();
    asio::require(ex, asio::execution::blocking.never).execute([&] { never_ran = true; });
    never_inline = never_ran.load();
  });

  std::promise<std::thread::id> outside;
  auto outside_id = outside.get_future();
  asio::dispatch(ex, [&] { outside.set_value(std::this_thread::get_id()); });  // not on the pool
  REQUIRE(outside_id.wait_for(30s) == std::future_status::ready);
  CHECK(outside_id.get() != std::this_thread::get_id());

  REQUIRE(join_within(pool));
  CHECK(dispatched_inline);
  CHECK_FALSE(posted_inline);
  CHECK_FALSE(deferred_inline);
  CHECK_FALSE(never_inline);
  CHECK(posted_ran);
  CHECK(deferred_ran);
  CHECK(never_ran);
  CHECK(pool.stats().tasks_executed == 6);  // the dispatched function counts too
}

TEST_CASE("thread pool: co_spawn delivers an awaitable's result or exception", "[pool]") {
  flash::thread_pool pool(2);
  using outcome = std::pair<std::exception_ptr, int>;

  std::promise<outcome> value_promise;
  auto value = value_promise.get_future();
  asio::co_spawn(pool.get_executor(), double_on_pool(pool, 21),
                 [&](std::exception_ptr error, int result) { value_promise.set_value({error, result}); });

  std::promise<outcome> error_promise;
  auto error = error_promise.get_future();
  asio::co_spawn(pool.get_executor(), double_on_pool(pool, -1),
                 [&](std::exception_ptr e, int result) { error_promise.set_value({e, result}); });

  REQUIRE(value.wait_for(30s) == std::future_status::ready);
  REQUIRE(error.wait_for(30s) == std::future_status::ready);
  const auto [no_error, doubled] = value.get();
  CHECK_FALSE(no_error);
  CHECK(doubled == 42);
  const auto [thrown, unused] = error.get();
  REQUIRE(thrown);
  CHECK_THROWS_AS(std::rethrow_exception(thrown), std::runtime_error);
  REQUIRE(join_within(pool));
  CHECK(pool.stats().tasks_failed == 0);  // co_spawn carried the exception, nothing escaped
}

TEST_CASE("thread pool: coroutines on the pool await timers of an io_context", "[pool]") {
  flash::thread_pool pool(2);
  asio::io_context io;
  auto io_work = asio::make_work_guard(io);
  constexpr int coroutines = 8;
  constexpr int hops = 50;
  std::atomic<int> finished{0}, total{0};
  std::atomic<bool> failed{false};
  for (int i = 0; i < coroutines; ++i) {
    asio::co_spawn(pool.get_executor(), hop_between(io, pool, hops),
                   [&](std::exception_ptr error, int hopped) {
                     if (error) failed = true;
                     total += hopped;
                     if (++finished == coroutines) asio::post(io, [&] { io_work.reset(); });
                   });
  }
  std::thread io_thread([&] { io.run(); });
  const bool done = eventually([&] { return finished.load() == coroutines; });
  if (!done) io.stop();
  io_thread.join();
  REQUIRE(done);
  REQUIRE(join_within(pool));
  CHECK_FALSE(failed);
  CHECK(total == coroutines * hops);
}

TEST_CASE("thread pool: nested posts from workers all run", "[pool]") {
  flash::thread_pool pool(3);
  std::atomic<int> nodes{0};
  constexpr int depth = 13;
  constexpr int expected = (1 << (depth + 1)) - 1;
  asio::post(pool, [&] { grow_tree(pool.get_executor(), nodes, depth); });
  REQUIRE(eventually([&] { return nodes.load() == expected; }));
  REQUIRE(join_within(pool));
  CHECK(nodes == expected);
  CHECK(pool.stats().tasks_executed == expected);
}

TEST_CASE("thread pool: a strand on the pool serializes", "[pool]") {
  flash::thread_pool pool(4);
  auto strand = asio::make_strand(pool.get_executor());
  constexpr int feeders = 4;
  constexpr int per_feeder = 5000;
  int counter = 0;  // deliberately not atomic: only the strand touches it
  std::atomic<int> inside{0}, done{0};
  std::atomic<bool> overlapped{false};
  auto increment = [&] {
    if (inside.fetch_add(1) != 0) overlapped = true;
    ++counter;
    inside.fetch_sub(1);
    ++done;
  };
  for (int f = 0; f < feeders; ++f) {
    asio::post(pool, [&] {  // from a worker, so through the local queues
      for (int i = 0; i < per_feeder; ++i) asio::post(strand, increment);
    });
  }
  for (int i = 0; i < per_feeder; ++i) asio::dispatch(strand, increment);  // and from outside
  REQUIRE(eventually([&] { return done.load() == (feeders + 1) * per_feeder; }));
  REQUIRE(join_within(pool));
  CHECK_FALSE(overlapped);
  CHECK(counter == (feeders + 1) * per_feeder);
}

TEST_CASE("thread pool: a throwing task doesn't stop later tasks", "[pool]") {
  flash::thread_pool pool(1);
  std::atomic<int> after{0};
  std::atomic<bool> rest_of_task_ran{false};
  asio::post(pool, [] { throw std::runtime_error("boom"); });
  asio::post(pool, [] { throw 42; });
  asio::post(pool, [&] {
    asio::dispatch(pool.get_executor(), [] { throw std::runtime_error("inline boom"); });
    rest_of_task_ran = true;  // the inline function's exception did not escape dispatch
  });
  for (int i = 0; i < 10; ++i) asio::post(pool, [&] { ++after; });
  REQUIRE(eventually([&] { return after.load() == 10; }));
  REQUIRE(join_within(pool));
  CHECK(rest_of_task_ran);
  const auto stats = pool.stats();
  CHECK(stats.tasks_failed == 3);
  CHECK(stats.tasks_executed == 14);
}

TEST_CASE("thread pool: join waits for all outstanding work", "[pool]") {
  SECTION("100000 small functions") {
    flash::thread_pool pool(4);
    std::atomic<int> count{0};
    for (int i = 0; i < 100000; ++i) asio::post(pool, [&] { count.fetch_add(1, std::memory_order_relaxed); });
    REQUIRE(join_within(pool));
    CHECK(count == 100000);
    CHECK(pool.stats().tasks_executed == 100000);
    pool.join();  // idempotent
  }
  SECTION("a tracked executor keeps join waiting") {
    flash::thread_pool pool(2);
    std::optional<executor> work(asio::require(pool.get_executor(), asio::execution::outstanding_work.tracked));
    CHECK(asio::query(*work, asio::execution::outstanding_work) == asio::execution::outstanding_work.tracked);
    std::atomic<bool> joined{false};
    std::thread joiner([&] {
      pool.join();
      joined = true;
    });
    std::atomic<bool> ran{false};
    asio::post(*work, [&] { ran = true; });
    REQUIRE(eventually([&] { return ran.load(); }));
    CHECK_FALSE(joined);  // cannot flake: the tracked executor is still alive
    executor copy = *work;  // copies are tracked too
    work.reset();
    CHECK_FALSE(joined);
    asio::post(copy, [&] { ran = false; });
    { executor gone = std::move(copy); }
    const bool in_time = eventually([&] { return joined.load(); });
    if (!in_time) pool.stop();
    joiner.join();
    CHECK(in_time);
    CHECK_FALSE(ran);
  }
}

TEST_CASE("thread pool: work stealing moves queued work to idle workers", "[pool]") {
  flash::thread_pool pool(4);
  constexpr int tasks = 2000;
  std::atomic<int> done{0};
  std::atomic<bool> ran_on_poster{false};
  asio::post(pool, [&] {
    const auto poster = std::this_thread::get_id();
    for (int i = 0; i < tasks; ++i) {
      asio::post(pool.get_executor(), [&, poster] {
        if (std::this_thread::get_id() == poster) ran_on_poster = true;
        ++done;
      });
    }
    // Keep this worker busy: its queue can only be emptied by the others stealing.
    eventually([&] { return done.load() == tasks; });
  });
  REQUIRE(eventually([&] { return done.load() == tasks; }));
  REQUIRE(join_within(pool));
  const auto stats = pool.stats();
  CHECK_FALSE(ran_on_poster);
  CHECK(stats.tasks_executed == tasks + 1);
  CHECK(stats.steal_successes > 0);
  CHECK(stats.steal_attempts >= stats.steal_successes);
}

// A submitter wakes no one while a worker looks for work, so that worker, once it takes a
// function, must wake another for what is left, and one that stops looking must see what came
// meanwhile.
TEST_CASE("thread pool: work is taken whatever state the workers are in when it comes", "[pool]") {
  flash::thread_pool pool(8);
  // One at a time from outside: each post meets the workers running, looking, giving up or asleep.
  for (int i = 0; i < 2000; ++i) {
    std::atomic<bool> ran{false};
    asio::post(pool, [&] { ran = true; });
    REQUIRE(eventually([&] { return ran.load(); }));
    if (i % 100 == 0) std::this_thread::sleep_for(2ms);  // long enough for every worker to sleep
  }
  // Bursts that need eight workers at once: each function waits until all eight have started.
  constexpr int burst = 8;
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> arrived{0}, finished{0};
    for (int i = 0; i < burst; ++i) {
      asio::post(pool, [&] {
        ++arrived;
        eventually([&] { return arrived.load() == burst; });
        ++finished;
      });
    }
    REQUIRE(eventually([&] { return finished.load() == burst; }));
  }
  REQUIRE(join_within(pool));
  CHECK(pool.stats().tasks_executed == 2000 + 50 * burst);
}

TEST_CASE("thread pool: stop destroys queued work without running it", "[pool]") {
  std::atomic<int> live{0}, calls{0};
  {
    flash::thread_pool pool(1);
    std::atomic<bool> started{false}, release{false};
    asio::post(pool, [&] {
      started = true;
      eventually([&] { return release.load(); });
    });
    REQUIRE(eventually([&] { return started.load(); }));
    for (int i = 0; i < 100; ++i) asio::post(pool, probe(live, calls));
    CHECK(live == 100);
    pool.stop();
    CHECK(live == 0);
    release = true;
    pool.join();
    CHECK(calls == 0);

    // Work submitted to a stopped pool waits for the destructor, which destroys it.
    asio::post(pool, probe(live, calls));
    CHECK(live == 1);
  }
  CHECK(live == 0);
  CHECK(calls == 0);
}

TEST_CASE("thread pool: the handler's allocator allocates the queued work", "[pool]") {
  std::atomic<int> blocks{0}, live{0}, calls{0};
  {
    flash::thread_pool pool(1);
    std::atomic<bool> release{false};
    asio::post(pool, [&] { eventually([&] { return release.load(); }); });
    asio::post(pool, asio::bind_allocator(counting_allocator<void>(blocks), probe(live, calls)));
    CHECK(blocks == 1);  // queued behind the first function, in memory from our allocator
    release = true;
    REQUIRE(join_within(pool));
    CHECK(calls == 1);
    CHECK(blocks == 0);
  }
  CHECK(live == 0);
}

TEST_CASE("thread pool: executor properties", "[pool]") {
  flash::thread_pool pool(1);
  namespace ex = asio::execution;
  auto e = pool.get_executor();
  CHECK(&asio::query(e, ex::context) == &pool);
  CHECK(asio::query(e, ex::mapping) == ex::mapping.thread);
  CHECK(asio::query(e, ex::blocking) == ex::blocking.possibly);
  CHECK(asio::query(e, ex::relationship) == ex::relationship.fork);
  CHECK(asio::query(e, ex::outstanding_work) == ex::outstanding_work.untracked);
  CHECK(asio::query(e, ex::allocator) == std::allocator<void>());

  auto never = asio::require(e, ex::blocking.never);
  CHECK(asio::query(never, ex::blocking) == ex::blocking.never);
  CHECK(never != e);
  CHECK(asio::require(never, ex::blocking.possibly) == e);
  CHECK(asio::query(asio::prefer(e, ex::relationship.continuation), ex::relationship) ==
        ex::relationship.continuation);
  CHECK(e == pool.get_executor());
  flash::thread_pool other(1);
  CHECK(e != other.get_executor());
}

TEST_CASE("thread pool: any_io_executor, bind_executor and timers work with the pool", "[pool]") {
  flash::thread_pool pool(2);
  asio::any_io_executor any = pool.get_executor();
  CHECK(&asio::query(any, asio::execution::context) == &pool);
  CHECK(any == asio::any_io_executor(pool.get_executor()));

  std::atomic<int> on_pool{0};
  auto note = [&] {
    if (pool.running_in_this_thread()) ++on_pool;
  };
  asio::post(any, note);
  asio::dispatch(any, note);
  asio::defer(any, note);
  asio::prefer(any, asio::execution::outstanding_work.tracked).execute(note);

  asio::io_context io;
  asio::post(io, asio::bind_executor(pool.get_executor(), note));
  asio::steady_timer timer(io, 1ms);
  timer.async_wait(asio::bind_executor(pool.get_executor(), [&](boost::system::error_code ec) {
    if (!ec) note();
  }));
  io.run();  // hands both completions to the pool

  REQUIRE(eventually([&] { return on_pool.load() == 6; }));
  REQUIRE(join_within(pool));
  CHECK(on_pool == 6);
}
