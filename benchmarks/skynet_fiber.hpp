// Skynet on Boost.Fiber with its work-stealing scheduler: the baseline issue 5 asks for beside
// oneTBB, asio::thread_pool and flash::thread_pool (bench_runtime.cpp's skynet section). Same
// tree: 1,000,000 leaves, ten children a node, the sum of the leaves; two threads (the
// benchmark's thread and one worker). Included by bench_runtime.cpp at namespace scope, once,
// when CMake found Boost.Fiber (FLASH_BENCH_HAS_FIBER).

#pragma once

#include <benchmark/benchmark.h>
#include <boost/fiber/all.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace {

// The stacks: a pool of 16 KiB stacks of this file's own (skynet_fiber_stacks), shared by the two
// threads under a mutex and kept to the end of the program.
// - Not boost::fibers::pooled_fixedsize_stack: its boost::pool has no lock, and under work
//   stealing a fiber's stack is often freed on the other thread than the one that made it.
// - Not boost::fibers::fixedsize_stack (a malloc and a free a fiber): so many fibers are alive
//   at once here (see below) that glibc gives their stacks back to the system and faults them
//   in again on every iteration. Measured with it on 2026-12-01: median 1,989 ms against
//   1,420 ms with this pool, about 150,000 page faults an iteration, 37% of the CPU time in the
//   kernel. The pool leaves Boost.Fiber's own costs. Its price: what it holds stays resident
//   until the program ends (this benchmark alone: 1.95 GiB maximum resident set).
// - 16 KiB: filled with a pattern and checked when freed (in a standalone copy of this node),
//   the deepest a stack was used is 9,304 B (the fiber's control block, which Boost.Fiber
//   places at the top of its stack, and the frames of this node below it), so the one or two
//   pages of Boost.Fiber's own skynet examples would overflow here (no guard page: silently).
class skynet_fiber_stacks {
 public:
  static constexpr std::size_t size = 16 * 1024;

  boost::context::stack_context allocate() {
    void* stack = nullptr;
    {
      std::lock_guard lock(free_mutex());
      if (!free_list().empty()) {
        stack = free_list().back();
        free_list().pop_back();
      }
    }
    if (!stack && !(stack = std::malloc(size))) throw std::bad_alloc();
    boost::context::stack_context context;
    context.size = size;
    context.sp = static_cast<char*>(stack) + size;
    return context;
  }

  void deallocate(boost::context::stack_context& context) noexcept {
    void* stack = static_cast<char*>(context.sp) - size;
    std::lock_guard lock(free_mutex());
    try {
      free_list().push_back(stack);
    } catch (...) {
      std::free(stack);
    }
  }

  // Made before the threads (skynet_fiber_threads' constructor calls it first), so destroyed
  // after them: the worker's scheduler, which goes with its thread, may still free a stack.
  static void create() {
    free_list();
    free_mutex();
  }

 private:
  struct stacks : std::vector<void*> {
    ~stacks() {
      for (void* stack : *this) std::free(stack);
    }
  };
  static stacks& free_list() {
    static stacks list;
    return list;
  }
  static std::mutex& free_mutex() {
    static std::mutex mutex;
    return mutex;
  }
};

// Each child is started with launch::dispatch, as in Boost.Fiber's examples: the child runs at
// once and its parent goes to the ready queue, where the other thread can steal it. With
// launch::post the FIFO ready queue would run the tree breadth first, and the 1,000,000 leaves
// would all exist (with their stacks) before the first one ran. Even so the queue is FIFO, so
// the scheduler keeps going back to the oldest parents: 66,873 fibers alive at the peak (a
// counter in the child, one thread), and the switches walk their stacks round, out of cache.
long skynet_fiber_node(long number, long size) {
  if (size == 1) return number;
  const long child = size / 10;
  long sums[10];
  boost::fibers::fiber children[10];
  for (long i = 0; i < 10; ++i)
    children[i] = boost::fibers::fiber(boost::fibers::launch::dispatch, std::allocator_arg, skynet_fiber_stacks{},
                                       [&sums, i, number, child] {
                                         sums[i] = skynet_fiber_node(number + i * child, child);
                                       });
  long total = 0;
  for (long i = 0; i < 10; ++i) {
    children[i].join();
    total += sums[i];
  }
  return total;
}

// The two threads of work_stealing(2). Boost.Fiber lets a process set that scheduler up once:
// its constructor meets the other threads at a static barrier and takes a slot in a static
// array sized by the first call, so a second set-up (say, one per benchmark run) would wait at
// the barrier forever. So this is made on the first run and kept to the end of the program.
//
// The worker parks between runs, blocked on a std::condition_variable: work_stealing without
// `suspend` spins looking for work to steal, which would take a core from the benchmarks that
// run after this one (with `suspend`, an idle worker sleeps until a fiber of its own is woken,
// and so would never come to steal the tree from the main thread). During a run its main fiber
// waits on a fiber condition variable instead, which leaves its scheduler free to steal.
class skynet_fiber_threads {
 public:
  static skynet_fiber_threads& get() {
    static skynet_fiber_threads threads;
    return threads;
  }

  // Lets the worker steal until the returned guard goes.
  auto active() {
    {
      std::lock_guard lock(mutex_);
      state_ = state::active;
    }
    parked_.notify_one();
    auto park = [](skynet_fiber_threads* self) {
      {
        std::lock_guard lock(self->mutex_);
        self->state_ = state::parked;
      }
      self->active_.notify_one();  // from the main thread's main fiber: a fiber operation
    };
    return std::unique_ptr<skynet_fiber_threads, decltype(park)>(this, park);
  }

  skynet_fiber_threads(const skynet_fiber_threads&) = delete;
  skynet_fiber_threads& operator=(const skynet_fiber_threads&) = delete;

  // Runs after main returns, once the main thread's fiber scheduler is gone (thread_local
  // objects go before static ones): so only std:: calls here. The worker is parked (every run
  // parks it on its way out), the stop wakes it, and its thread ends with its scheduler.
  ~skynet_fiber_threads() {
    {
      std::lock_guard lock(mutex_);
      state_ = state::stopping;
    }
    parked_.notify_one();
    worker_.join();
  }

 private:
  enum class state { parked, active, stopping };

  skynet_fiber_threads() {
    skynet_fiber_stacks::create();
    worker_ = std::thread([this] {
      boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(2);
      std::unique_lock lock(mutex_);
      for (;;) {
        parked_.wait(lock, [this] { return state_ != state::parked; });  // the whole thread sleeps
        if (state_ == state::stopping) return;
        active_.wait(lock, [this] { return state_ != state::active; });  // only this fiber waits
      }
    });
    // The main thread's half; returns once the worker has made its own.
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(2);
  }

  std::mutex mutex_;
  std::condition_variable parked_;
  boost::fibers::condition_variable_any active_;
  state state_ = state::parked;
  std::thread worker_;
};

// The root runs on the benchmark's thread, in its main fiber (which, being a thread's main
// context, is never stolen), as TBB's root runs on the thread that calls it.
void skynet_boost_fiber(benchmark::State& state) {
  auto& threads = skynet_fiber_threads::get();
  auto active = threads.active();
  for (auto _ : state)
    if (skynet_fiber_node(0, 1'000'000) != 499'999'500'000L) state.SkipWithError("wrong sum");
}
BENCHMARK(skynet_boost_fiber)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
