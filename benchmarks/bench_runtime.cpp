// The execution models against their baselines, in one binary so the ratios come from one run:
//
//   cmake --build build --target bench_runtime && build/benchmarks/bench_runtime
//
// Each pair is named baseline/flash; docs/benchmarks.md records the figures.

#include <flash/flash.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/context/fiber.hpp>
#if __has_include(<oneapi/tbb/task_group.h>)
#include <oneapi/tbb/task_group.h>
#define FLASH_BENCH_HAS_TBB 1
#endif

#include <atomic>
#include <chrono>
#include <malloc.h>

namespace asio = boost::asio;

namespace {

flash::awaitable<void> nothing() { co_return; }

// --- spawn and complete a stackless task ---------------------------------------------------

void stackless_asio_co_spawn(benchmark::State& state) {
  asio::io_context io(1);
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) asio::co_spawn(io, nothing(), asio::detached);
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(stackless_asio_co_spawn);

void stackless_flash_task_group(benchmark::State& state) {
  asio::io_context io(1);
  for (auto _ : state) {
    auto body = [](flash::task_group& group) -> flash::awaitable<void> {
      for (int i = 0; i < 1000; ++i) group.spawn(nothing());
      co_return;
    };
    asio::co_spawn(io, flash::with_task_group(body), asio::detached);
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(stackless_flash_task_group);

flash::task<void> nothing_task() { co_return; }

// The lean task type: a flash::task child is its frame and nothing else.
void stackless_flash_task(benchmark::State& state) {
  asio::io_context io(1);
  for (auto _ : state) {
    auto body = [](flash::task_group& group) -> flash::awaitable<void> {
      for (int i = 0; i < 1000; ++i) group.spawn(nothing_task());
      co_return;
    };
    asio::co_spawn(io, flash::with_task_group(body), asio::detached);
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(stackless_flash_task);

// --- spawn and complete a green thread ------------------------------------------------------

void green_asio_spawn(benchmark::State& state) {
  asio::io_context io(1);
  for (auto _ : state) {
    for (int i = 0; i < 100; ++i) asio::spawn(io, [](asio::yield_context) {}, asio::detached);
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(green_asio_spawn);

void green_flash_stack_pool(benchmark::State& state) {
  asio::io_context io(1);
  flash::stack_pool stacks(128 * 1024);
  for (auto _ : state) {
    for (int i = 0; i < 100; ++i)
      asio::spawn(io, std::allocator_arg, stacks.get_allocator(), [](asio::yield_context) {}, asio::detached);
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(green_flash_stack_pool);

// One switch into the green thread and one back per item.
void green_switch(benchmark::State& state) {
  asio::io_context io(1);
  flash::stack_pool stacks(64 * 1024);
  std::size_t rounds = 0;
  bool stop = false;
  asio::spawn(io, std::allocator_arg, stacks.get_allocator(),
              [&](asio::yield_context yield) {
                while (!stop) {
                  ++rounds;
                  asio::post(yield);
                }
              },
              asio::detached);
  for (auto _ : state) io.run_one();
  stop = true;
  io.run();
  state.SetItemsProcessed(static_cast<std::int64_t>(rounds));
}
BENCHMARK(green_switch);

// The context switch alone: a Boost.Context fiber on a pooled stack, resumed and suspended.
// One item is one switch in and one back.
void green_switch_fiber_only(benchmark::State& state) {
  flash::stack_pool stacks(64 * 1024);
  namespace ctx = boost::context;
  bool stop = false;
  ctx::fiber fiber(std::allocator_arg, stacks.get_allocator(), [&](ctx::fiber&& caller) {
    while (!stop) caller = std::move(caller).resume();
    return std::move(caller);
  });
  for (auto _ : state) fiber = std::move(fiber).resume();
  stop = true;
  fiber = std::move(fiber).resume();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(green_switch_fiber_only);

// --- small tasks posted from outside the pool ----------------------------------------------

template <class Pool>
void post_from_outside(benchmark::State& state, Pool& pool) {
  constexpr int tasks = 10'000;
  for (auto _ : state) {
    std::atomic<int> left{tasks};
    std::atomic<bool> done{false};
    for (int i = 0; i < tasks; ++i)
      asio::post(pool, [&] {
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          done.store(true, std::memory_order_release);
          done.notify_one();
        }
      });
    done.wait(false, std::memory_order_acquire);
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

void post_asio_thread_pool(benchmark::State& state) {
  asio::thread_pool pool(2);
  post_from_outside(state, pool);
}
BENCHMARK(post_asio_thread_pool)->UseRealTime();

void post_flash_thread_pool(benchmark::State& state) {
  flash::thread_pool pool(2);
  post_from_outside(state, pool);
}
BENCHMARK(post_flash_thread_pool)->UseRealTime();

// --- skynet: a tree of 1,000,000 leaf tasks, ten children each, summing the leaves ----------

// Fire-and-forget posts, so each inner node keeps a join record: every child adds its sum to
// its parent's and the last one to finish passes the total up (what TBB's task_group::wait does
// on the stack). The counters live in the tree, as in TBB, not in two atomics every leaf hits.
struct skynet_join {
  std::atomic<long> sum{0};
  std::atomic<int> left{10};
  skynet_join* parent;
  std::atomic<bool>* done;  // the root's only
};

inline void skynet_report(skynet_join* join, long value) {
  while (join) {
    join->sum.fetch_add(value, std::memory_order_relaxed);
    if (join->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    value = join->sum.load(std::memory_order_relaxed);
    skynet_join* parent = join->parent;
    if (!parent) {
      join->done->store(true, std::memory_order_release);
      join->done->notify_one();
      return;
    }
    delete join;
    join = parent;
  }
}

template <class Executor>
struct skynet_node {
  static void run(Executor executor, long number, long size, skynet_join* parent) {
    if (size == 1) return skynet_report(parent, number);
    const long child = size / 10;
    auto* join = new skynet_join{.parent = parent, .done = nullptr};
    for (long i = 0; i < 10; ++i)
      asio::post(executor, [=] { run(executor, number + i * child, child, join); });
  }
};

template <class Pool>
void skynet(benchmark::State& state, Pool& pool) {
  for (auto _ : state) {
    std::atomic<bool> done{false};
    skynet_join root{.parent = nullptr, .done = &done};
    root.left.store(1);
    auto executor = pool.get_executor();
    asio::post(executor, [&] { skynet_node<decltype(executor)>::run(executor, 0, 1'000'000, &root); });
    done.wait(false, std::memory_order_acquire);
    if (root.sum.load() != 499'999'500'000L) state.SkipWithError("wrong sum");
  }
}

void skynet_asio_thread_pool(benchmark::State& state) {
  asio::thread_pool pool(2);
  skynet(state, pool);
}
BENCHMARK(skynet_asio_thread_pool)->Unit(benchmark::kMillisecond)->UseRealTime();

void skynet_flash_thread_pool(benchmark::State& state) {
  flash::thread_pool pool(2);
  skynet(state, pool);
}
BENCHMARK(skynet_flash_thread_pool)->Unit(benchmark::kMillisecond)->UseRealTime();

#ifdef FLASH_BENCH_HAS_TBB
long skynet_tbb_node(long number, long size) {
  if (size == 1) return number;
  long sums[10];
  oneapi::tbb::task_group group;
  const long child = size / 10;
  for (long i = 0; i < 10; ++i) group.run([&, i] { sums[i] = skynet_tbb_node(number + i * child, child); });
  group.wait();
  long total = 0;
  for (long s : sums) total += s;
  return total;
}

void skynet_tbb_task_group(benchmark::State& state) {
  for (auto _ : state)
    if (skynet_tbb_node(0, 1'000'000) != 499'999'500'000L) state.SkipWithError("wrong sum");
}
BENCHMARK(skynet_tbb_task_group)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

#if __has_include(<boost/fiber/all.hpp>) && defined(FLASH_BENCH_HAS_FIBER)
}  // namespace: the header includes Boost.Fiber, so it goes at namespace scope
#include "skynet_fiber.hpp"
namespace {
#endif

// --- memory of idle stackless tasks, each awaiting a timer ---------------------------------

flash::awaitable<void> idle_on_timer(asio::steady_timer& timer) {
  try {
    co_await timer.async_wait(asio::use_awaitable);
  } catch (...) {
  }
}

std::size_t heap_in_use() {
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;  // small chunks in use, plus mmapped ones
}

constexpr int idle_tasks = 1'000'000;

void idle_asio_co_spawn_memory(benchmark::State& state) {
  for (auto _ : state) {
    asio::io_context io(1);
    asio::steady_timer timer(io, std::chrono::hours(1));
    const auto before = heap_in_use();
    for (int i = 0; i < idle_tasks; ++i) asio::co_spawn(io, idle_on_timer(timer), asio::detached);
    io.poll();  // every task is now suspended on the timer
    const auto after = heap_in_use();
    state.counters["bytes_per_task"] = static_cast<double>(after - before) / idle_tasks;
    timer.cancel();
    io.run();
  }
}
BENCHMARK(idle_asio_co_spawn_memory)->Iterations(1)->Unit(benchmark::kMillisecond);

// Spawns 1,000,000 children `make_child(timer)` in a task group and reports the heap each takes
// once every one is suspended. Cancelling the timer then ends those that wait on it (cancelling
// each wait on its own would search the timer's queue for it: quadratic), and cancelling the
// group ends the rest.
template <class MakeChild>
void idle_children_memory(benchmark::State& state, MakeChild make_child) {
  for (auto _ : state) {
    asio::io_context io(1);
    asio::steady_timer timer(io, std::chrono::hours(1));
    flash::task_group* group_seen = nullptr;
    const auto before = heap_in_use();
    auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
      group_seen = &group;
      for (int i = 0; i < idle_tasks; ++i) group.spawn(make_child(timer));
      co_return;
    };
    asio::co_spawn(io, flash::with_task_group(body), asio::detached);
    io.poll();  // every child is now suspended
    const auto after = heap_in_use();
    state.counters["bytes_per_task"] = static_cast<double>(after - before) / idle_tasks;
    timer.cancel();
    group_seen->cancel();
    io.run();
  }
}

void idle_flash_task_group_memory(benchmark::State& state) {
  idle_children_memory(state, [](asio::steady_timer& timer) { return idle_on_timer(timer); });
}
BENCHMARK(idle_flash_task_group_memory)->Iterations(1)->Unit(benchmark::kMillisecond);

flash::task<void> idle_task_on_timer(asio::steady_timer& timer) {
  auto [error] = co_await timer.async_wait(asio::as_tuple(flash::use_task));
  benchmark::DoNotOptimize(error);
}

void idle_flash_task_memory(benchmark::State& state) {
  idle_children_memory(state, [](asio::steady_timer& timer) { return idle_task_on_timer(timer); });
}
BENCHMARK(idle_flash_task_memory)->Iterations(1)->Unit(benchmark::kMillisecond);

// Each child asleep on its own deadline, with no Asio operation.
flash::task<void> idle_task_asleep() {
  benchmark::DoNotOptimize(co_await flash::sleep_for(std::chrono::hours(1), flash::use_task, flash::no_throw));
}

void idle_flash_task_sleep_memory(benchmark::State& state) {
  idle_children_memory(state, [](asio::steady_timer&) { return idle_task_asleep(); });
}
BENCHMARK(idle_flash_task_sleep_memory)->Iterations(1)->Unit(benchmark::kMillisecond);

// --- cancelling 10,000 suspended tasks ------------------------------------------------------

// Spawns 10,000 `sleeper`s in a task group, lets them all suspend, then times cancelling the
// group until every one has finished.
template <class Sleeper>
void cancel_suspended(benchmark::State& state, Sleeper sleeper) {
  constexpr int tasks = 10'000;
  for (auto _ : state) {
    state.PauseTiming();
    asio::io_context io(1);
    flash::task_group* group_seen = nullptr;
    auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
      group_seen = &group;
      for (int i = 0; i < tasks; ++i) group.spawn(sleeper());
      co_return;
    };
    asio::co_spawn(io, flash::with_task_group(body), asio::detached);
    io.poll();  // all suspended
    state.ResumeTiming();
    group_seen->cancel();
    io.run();  // until every task has finished
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

// In flash::sleep_for, which reports the cancellation by throwing.
void cancel_suspended_tasks(benchmark::State& state) {
  cancel_suspended(state, []() -> flash::awaitable<void> { co_await flash::sleep_for(std::chrono::hours(1)); });
}
BENCHMARK(cancel_suspended_tasks)->Unit(benchmark::kMillisecond);

// In flash::sleep_for(d, flash::no_throw), which returns false instead.
void cancel_suspended_tasks_sleep_no_throw(benchmark::State& state) {
  cancel_suspended(state, []() -> flash::awaitable<void> {
    benchmark::DoNotOptimize(co_await flash::sleep_for(std::chrono::hours(1), flash::no_throw));
  });
}
BENCHMARK(cancel_suspended_tasks_sleep_no_throw)->Unit(benchmark::kMillisecond);

// On a bare Asio timer awaited with as_tuple: what is left once no exception is thrown.
void cancel_suspended_tasks_no_throw(benchmark::State& state) {
  cancel_suspended(state, []() -> flash::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::hours(1));
    auto [error] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    benchmark::DoNotOptimize(error);
  });
}
BENCHMARK(cancel_suspended_tasks_no_throw)->Unit(benchmark::kMillisecond);

// flash::task children asleep in flash::sleep_for(d, use_task): the group's cancellation takes
// each out of the sleep heap and resumes it.
void cancel_suspended_flash_tasks(benchmark::State& state) {
  cancel_suspended(state, []() -> flash::task<void> { co_await flash::sleep_for(std::chrono::hours(1), flash::use_task); });
}
BENCHMARK(cancel_suspended_flash_tasks)->Unit(benchmark::kMillisecond);

void cancel_suspended_flash_tasks_no_throw(benchmark::State& state) {
  cancel_suspended(state, []() -> flash::task<void> {
    benchmark::DoNotOptimize(co_await flash::sleep_for(std::chrono::hours(1), flash::use_task, flash::no_throw));
  });
}
BENCHMARK(cancel_suspended_flash_tasks_no_throw)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
