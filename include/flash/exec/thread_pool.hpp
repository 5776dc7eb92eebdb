#pragma once
// A work-stealing thread pool for CPU-bound work, usable wherever Asio takes an executor:
// post, dispatch, defer, co_spawn, strands, bind_executor and any_io_executor.
//
// Each worker owns a queue. Work submitted from one of the pool's own threads goes to that
// thread's queue; work from any other thread goes to a shared injection queue. A worker looks in
// its own queue (newest first), then in the injection queue, then steals the oldest item of
// another worker's queue. A worker out of work looks again for a short while before it sleeps,
// but no more than half the cores' worth of workers look at once; the others sleep at once, so a
// pool of more threads than cores (for blocking calls) does not spend the cores on looking.
// One worker starts with the pool and the others when work arrives that no idle worker is
// there to take, so a program that sizes its pool for bursts does not pay for idle threads.
//
// The hot path touches no shared cache line: a worker's queue is a lock-free Chase-Lev deque,
// a submitter wakes a sleeper only when one is registered and no worker is looking (loads
// otherwise), the count of outstanding work is settled per worker and only published when it
// grows or the worker runs dry, queued functions come from a per-thread cache of small blocks,
// and the workers carry Asio's per-thread recycling cache (as Asio's own threads do), so
// coroutine frames are recycled on them too.
//
// A function that throws does not stop the pool: the worker catches the exception, counts it in
// statistics::tasks_failed and drops it. (boost::asio::thread_pool lets it escape the worker
// thread, which ends the program.) Flash chose to keep running because one failing task must not
// take down every command sharing the pool; work that needs its errors reports them itself, as
// co_spawn does through its completion handler.

#include <boost/asio/execution/allocator.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/mapping.hpp>
#include <boost/asio/execution/occupancy.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/execution/relationship.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/detail/thread_info_base.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace flash {

namespace detail {

// std::hardware_destructive_interference_size is not usable here: GCC 12 warns about it in
// headers and Clang 14's libstdc++ setup lacks it.
inline constexpr std::size_t cache_line_size = 64;

// A per-thread cache of small blocks for queued functions: a task posted by a task is usually
// run by the same worker, so its node comes back to the cache it was taken from. Blocks freed
// on another thread join that thread's cache (up to a limit, then go back to the heap).
class node_cache {
  static constexpr std::size_t unit = 64;       // size classes of 64, 128, 192 and 256 bytes
  static constexpr std::size_t classes = 4;
  static constexpr std::size_t limit = 512;      // blocks kept per class and thread

  struct block {
    block* next;
  };
  struct state {  // trivially destructible, so usable while the thread's destructors run
    block* free[classes];
    std::size_t count[classes];
    bool closed;  // the thread is exiting: use the heap only
  };
  struct cleanup {
    ~cleanup() {
      state& s = local;
      s.closed = true;
      for (std::size_t c = 0; c < classes; ++c)
        while (block* b = s.free[c]) {
          s.free[c] = b->next;
          ::operator delete(static_cast<void*>(b));
        }
    }
  };
  static inline thread_local constinit state local{};
  static inline thread_local cleanup cleaner;

 public:
  static constexpr bool fits(std::size_t size, std::size_t align) noexcept {
    return size <= unit * classes && align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  }

  static void* allocate(std::size_t size) {
    const std::size_t c = (size - 1) / unit;
    state& s = local;
    if (block* b = s.free[c]) {
      s.free[c] = b->next;
      --s.count[c];
      return b;
    }
    return ::operator new((c + 1) * unit);
  }

  static void deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = (size - 1) / unit;
    state& s = local;
    if (s.closed || s.count[c] >= limit) {
      ::operator delete(p);
      return;
    }
    if (s.count[c] == 0 && s.free[c] == nullptr) (void)&cleaner;  // frees the cache at thread exit
    s.free[c] = ::new (p) block{s.free[c]};
    ++s.count[c];
  }
};

template <class T>
struct cached_allocator {
  using value_type = T;
  cached_allocator() = default;
  template <class U>
  cached_allocator(const cached_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n == 1 && node_cache::fits(sizeof(T), alignof(T))) return static_cast<T*>(node_cache::allocate(sizeof(T)));
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1 && node_cache::fits(sizeof(T), alignof(T)))
      node_cache::deallocate(p, sizeof(T));
    else
      std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(cached_allocator, cached_allocator) noexcept { return true; }
};

// Where the pool allocates a queued function: with the default allocator, from node_cache.
template <class Allocator>
struct task_allocator {
  using type = Allocator;
  static type make(const Allocator& allocator) { return allocator; }
};
template <>
struct task_allocator<std::allocator<void>> {
  using type = cached_allocator<void>;
  static type make(const std::allocator<void>&) { return {}; }
};

// Gives a worker thread the per-thread state Asio's recycling allocators look for (the same
// object Asio's own threads carry), so that coroutine frames are recycled on it.
// Keyed by this object, so no Asio context believes it runs on this thread.
class asio_thread_cache : boost::asio::detail::thread_context {
 public:
  asio_thread_cache() : entry_(this, info_) {}
  asio_thread_cache(const asio_thread_cache&) = delete;
  asio_thread_cache& operator=(const asio_thread_cache&) = delete;

 private:
  boost::asio::detail::thread_info_base info_;  // destroyed after entry_ pops it
  thread_call_stack::context entry_;
};

// One queued function: an intrusive list node that knows how to run or destroy what it holds.
class pool_task {
 public:
  pool_task(const pool_task&) = delete;
  pool_task& operator=(const pool_task&) = delete;

  // Both free the node; run() then calls the function.
  void run() { complete_(this, true); }
  void destroy() noexcept { complete_(this, false); }

 protected:
  using complete_fn = void (*)(pool_task*, bool invoke);
  explicit pool_task(complete_fn complete) noexcept : complete_(complete) {}
  ~pool_task() = default;

 private:
  friend class locked_queue;
  pool_task* next_ = nullptr;
  complete_fn complete_;
};

template <class Function, class Allocator>
class pool_task_for final : public pool_task {
  using base_allocator = typename task_allocator<Allocator>::type;
  using node_allocator =
      typename std::allocator_traits<base_allocator>::template rebind_alloc<pool_task_for>;
  using node_traits = std::allocator_traits<node_allocator>;

 public:
  template <class F>
  static pool_task* create(F&& function, const Allocator& executor_allocator) {
    const base_allocator allocator = task_allocator<Allocator>::make(executor_allocator);
    node_allocator node_alloc(allocator);
    pool_task_for* node = node_traits::allocate(node_alloc, 1);
    try {
      return ::new (static_cast<void*>(node)) pool_task_for(std::forward<F>(function), allocator);
    } catch (...) {
      node_traits::deallocate(node_alloc, node, 1);
      throw;
    }
  }

 private:
  template <class F>
  pool_task_for(F&& function, const base_allocator& allocator)
      : pool_task(&complete), function_(std::forward<F>(function)), allocator_(allocator) {}

  // The node is freed before the call, as Asio's own operations do, so that the function can
  // reuse the memory (a coroutine frame or a handler that posts again).
  static void complete(pool_task* base, bool invoke) {
    auto* self = static_cast<pool_task_for*>(base);
    node_allocator node_alloc(self->allocator_);
    Function function(std::move(self->function_));
    self->~pool_task_for();
    node_traits::deallocate(node_alloc, self, 1);
    if (invoke) function();
  }

  Function function_;
  [[no_unique_address]] base_allocator allocator_;
};

// A worker's queue: a Chase-Lev work-stealing deque (Chase and Lev 2005, in the C11 form of
// Le et al. 2013, with sequentially consistent operations in place of the fences so that
// ThreadSanitizer can follow it). The owner pushes and pops at the bottom without locking;
// thieves take the oldest task from the top with one compare-exchange. The array doubles when
// full; a replaced array is kept until the queue dies, since a thief may still be reading it.
class task_queue {
  struct ring {
    explicit ring(std::int64_t capacity)
        : mask(capacity - 1), slots(std::make_unique<std::atomic<pool_task*>[]>(static_cast<std::size_t>(capacity))) {}
    pool_task* get(std::int64_t i) const noexcept { return slots[static_cast<std::size_t>(i & mask)].load(std::memory_order_relaxed); }
    void put(std::int64_t i, pool_task* task) noexcept { slots[static_cast<std::size_t>(i & mask)].store(task, std::memory_order_relaxed); }
    std::int64_t capacity() const noexcept { return mask + 1; }

    const std::int64_t mask;
    std::unique_ptr<std::atomic<pool_task*>[]> slots;
  };

 public:
  task_queue() {
    rings_.push_back(std::make_unique<ring>(initial_capacity));
    ring_.store(rings_.back().get(), std::memory_order_relaxed);
  }
  task_queue(const task_queue&) = delete;
  task_queue& operator=(const task_queue&) = delete;

  // Owner only.
  void push(pool_task* task) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t t = top_.load(std::memory_order_acquire);
    ring* r = ring_.load(std::memory_order_relaxed);
    if (b - t >= r->capacity()) r = grow(r, t, b);
    r->put(b, task);
    // Sequentially consistent, as the injection queue's count is: a submitter then reads the
    // sleepers' count, and a worker going to sleep counts itself, then reads the queues. In the
    // single order of those operations one of the two sees the other (thread_pool::enqueue).
    bottom_.store(b + 1, std::memory_order_seq_cst);
  }

  // The newest task (owner only).
  pool_task* pop() noexcept {
    std::int64_t b = bottom_.load(std::memory_order_relaxed);
    if (top_.load(std::memory_order_relaxed) >= b) return nullptr;  // cheap miss, no store
    --b;
    ring* r = ring_.load(std::memory_order_relaxed);
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // a thief took the last one
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    pool_task* task = r->get(b);
    if (t == b) {  // the last one: race the thieves for it
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
        task = nullptr;
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return task;
  }

  // The oldest task (any thread); nullptr when empty or when another thread won the race.
  pool_task* steal() noexcept {
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return nullptr;
    ring* r = ring_.load(std::memory_order_acquire);
    pool_task* task = r->get(t);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
      return nullptr;
    return task;
  }

  // A hint: may be stale by the time the caller acts on it.
  bool empty() const noexcept {
    return top_.load(std::memory_order_seq_cst) >= bottom_.load(std::memory_order_seq_cst);
  }

 private:
  static constexpr std::int64_t initial_capacity = 256;

  ring* grow(ring* old, std::int64_t t, std::int64_t b) {
    auto bigger = std::make_unique<ring>(old->capacity() * 2);
    for (std::int64_t i = t; i < b; ++i) bigger->put(i, old->get(i));
    rings_.push_back(std::move(bigger));
    ring* r = rings_.back().get();
    ring_.store(r, std::memory_order_release);
    return r;
  }

  alignas(cache_line_size) std::atomic<std::int64_t> top_{0};     // thieves
  alignas(cache_line_size) std::atomic<std::int64_t> bottom_{0};  // owner
  std::atomic<ring*> ring_{nullptr};
  std::vector<std::unique_ptr<ring>> rings_;  // owner only; every array ever used
};

// The injection queue, for work submitted from outside the pool: any thread pushes, any takes.
class locked_queue {
 public:
  void push(pool_task* task) {
    std::lock_guard lock(mutex_);
    task->next_ = nullptr;
    (back_ ? back_->next_ : front_) = task;
    back_ = task;
    size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  }

  pool_task* steal() {
    if (empty()) return nullptr;
    std::lock_guard lock(mutex_);
    pool_task* task = front_;
    if (task) {
      front_ = task->next_;
      if (!front_) back_ = nullptr;
      size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    return task;
  }

  bool empty() const noexcept { return size_.load(std::memory_order_seq_cst) == 0; }

 private:
  std::mutex mutex_;
  pool_task* front_ = nullptr;
  pool_task* back_ = nullptr;
  std::atomic<std::size_t> size_{0};
};

// A counter written by one thread only, so a plain load and store replace the locked RMW.
class owned_counter {
 public:
  void increment() noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace detail

class thread_pool : public boost::asio::execution_context {
  struct worker;

  static constexpr unsigned blocking_never = 1;
  static constexpr unsigned relationship_continuation = 2;
  static constexpr unsigned outstanding_work_tracked = 4;

 public:
  /// The pool's executor; `Allocator` allocates the queued function objects.
  template <class Allocator>
  class basic_executor_type {
   public:
    basic_executor_type(const basic_executor_type& other) noexcept
        : basic_executor_type(other.pool_, other.allocator_, other.bits_) {}

    basic_executor_type(basic_executor_type&& other) noexcept
        : pool_(other.pool_), allocator_(std::move(other.allocator_)), bits_(other.bits_) {
      other.bits_ &= ~outstanding_work_tracked;  // the count moves with us
    }

    ~basic_executor_type() {
      if (tracked()) pool_->work_finished();
    }

    basic_executor_type& operator=(const basic_executor_type& other) noexcept {
      if (this != &other) {
        if (other.tracked()) other.pool_->work_started();
        if (tracked()) pool_->work_finished();
        pool_ = other.pool_;
        allocator_ = other.allocator_;
        bits_ = other.bits_;
      }
      return *this;
    }

    basic_executor_type& operator=(basic_executor_type&& other) noexcept {
      if (this != &other) {
        if (tracked()) pool_->work_finished();
        pool_ = other.pool_;
        allocator_ = std::move(other.allocator_);
        bits_ = other.bits_;
        other.bits_ &= ~outstanding_work_tracked;
      }
      return *this;
    }

    /// Runs `f` inline when blocking.possibly and called on one of this pool's threads, else
    /// queues it.
    template <class Function>
    void execute(Function&& f) const {
      pool_->execute(std::forward<Function>(f), allocator_, bits_);
    }

    bool running_in_this_thread() const noexcept { return pool_->running_in_this_thread(); }

    friend bool operator==(const basic_executor_type& a, const basic_executor_type& b) noexcept {
      return a.pool_ == b.pool_ && a.allocator_ == b.allocator_ && a.bits_ == b.bits_;
    }
    friend bool operator!=(const basic_executor_type& a, const basic_executor_type& b) noexcept {
      return !(a == b);
    }

    // Properties, for boost::asio::query, require and prefer.

    static constexpr boost::asio::execution::mapping_t query(
        boost::asio::execution::mapping_t) noexcept {
      return boost::asio::execution::mapping.thread;
    }

    thread_pool& query(boost::asio::execution::context_t) const noexcept { return *pool_; }

    std::size_t query(boost::asio::execution::occupancy_t) const noexcept { return pool_->size(); }

    constexpr boost::asio::execution::blocking_t query(
        boost::asio::execution::blocking_t) const noexcept {
      if (bits_ & blocking_never) return boost::asio::execution::blocking.never;
      return boost::asio::execution::blocking.possibly;
    }

    constexpr boost::asio::execution::relationship_t query(
        boost::asio::execution::relationship_t) const noexcept {
      if (bits_ & relationship_continuation) return boost::asio::execution::relationship.continuation;
      return boost::asio::execution::relationship.fork;
    }

    constexpr boost::asio::execution::outstanding_work_t query(
        boost::asio::execution::outstanding_work_t) const noexcept {
      if (tracked()) return boost::asio::execution::outstanding_work.tracked;
      return boost::asio::execution::outstanding_work.untracked;
    }

    template <class OtherAllocator>
    constexpr Allocator query(boost::asio::execution::allocator_t<OtherAllocator>) const noexcept {
      return allocator_;
    }

    constexpr Allocator query(boost::asio::execution::allocator_t<void>) const noexcept {
      return allocator_;
    }

    basic_executor_type require(boost::asio::execution::blocking_t::possibly_t) const noexcept {
      return {pool_, allocator_, bits_ & ~blocking_never};
    }

    basic_executor_type require(boost::asio::execution::blocking_t::never_t) const noexcept {
      return {pool_, allocator_, bits_ | blocking_never};
    }

    basic_executor_type require(boost::asio::execution::relationship_t::fork_t) const noexcept {
      return {pool_, allocator_, bits_ & ~relationship_continuation};
    }

    basic_executor_type require(
        boost::asio::execution::relationship_t::continuation_t) const noexcept {
      return {pool_, allocator_, bits_ | relationship_continuation};
    }

    basic_executor_type require(
        boost::asio::execution::outstanding_work_t::tracked_t) const noexcept {
      return {pool_, allocator_, bits_ | outstanding_work_tracked};
    }

    basic_executor_type require(
        boost::asio::execution::outstanding_work_t::untracked_t) const noexcept {
      return {pool_, allocator_, bits_ & ~outstanding_work_tracked};
    }

    template <class OtherAllocator>
    basic_executor_type<OtherAllocator> require(
        boost::asio::execution::allocator_t<OtherAllocator> a) const noexcept {
      return {pool_, a.value(), bits_};
    }

    basic_executor_type<std::allocator<void>> require(
        boost::asio::execution::allocator_t<void>) const noexcept {
      return {pool_, std::allocator<void>(), bits_};
    }

   private:
    friend class thread_pool;
    template <class>
    friend class basic_executor_type;

    basic_executor_type(thread_pool* pool, const Allocator& allocator, unsigned bits) noexcept
        : pool_(pool), allocator_(allocator), bits_(bits) {
      if (tracked()) pool_->work_started();
    }

    constexpr bool tracked() const noexcept { return (bits_ & outstanding_work_tracked) != 0; }

    thread_pool* pool_;
    Allocator allocator_;
    unsigned bits_;
  };

  using executor_type = basic_executor_type<std::allocator<void>>;

  struct statistics {
    std::uint64_t tasks_executed = 0;   ///< functions run, queued or inline (including throwing ones)
    std::uint64_t steal_attempts = 0;   ///< times a worker tried another worker's non-empty queue
    std::uint64_t steal_successes = 0;  ///< of those, times it came away with a task
    std::uint64_t tasks_failed = 0;     ///< functions that threw (the exception is dropped)
  };

  /// A pool of up to `threads` workers (0: one per hardware thread). The first starts now (its
  /// failure to start is thrown); the others start as work comes that the running ones are too
  /// busy to take.
  explicit thread_pool(std::size_t threads = 0)
      : size_(threads != 0 ? threads
                           : std::max<std::size_t>(1, std::thread::hardware_concurrency())),
        workers_(std::make_unique<worker[]>(size_)) {
    for (std::size_t i = 0; i < size_; ++i) {
      workers_[i].pool = this;
      workers_[i].random = static_cast<std::uint32_t>(i) * 2654435761u + 1;
    }
    workers_[0].thread = std::thread([this] { run_worker(workers_[0], false); });
    started_.store(1, std::memory_order_relaxed);
  }

  /// Stops the workers (the functions they are running finish), destroys the queued work without
  /// running it and joins the threads. Call join() first to run everything that was submitted.
  /// Like join(), must not run on one of the pool's own threads.
  ~thread_pool() {
    stop();
    join();
    shutdown();  // the services (strands, ...) destroy the work they hold
    destroy();
    drain();
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  executor_type get_executor() noexcept { return {this, std::allocator<void>(), 0}; }

  std::size_t size() const noexcept { return size_; }

  /// Waits until there is no outstanding work (queued or running functions, and executors that
  /// are outstanding_work.tracked), then stops and joins the workers. Must not be called from one
  /// of the pool's own threads (throws std::logic_error). The pool runs nothing afterwards: work
  /// submitted later is destroyed, unrun, by the destructor.
  void join() {
    if (running_in_this_thread())
      throw std::logic_error("flash::thread_pool::join called from one of the pool's threads");
    std::lock_guard join_lock(join_mutex_);
    if (joined_) return;
    {
      std::unique_lock lock(sleep_mutex_);
      idle_.wait(lock, [this] {
        return stopped_.load() || outstanding_.load(std::memory_order_acquire) == 0;
      });
      stopped_.store(true);
    }
    wake_.notify_all();
    std::size_t started = 0;
    {
      // No worker starts after this (start_worker() checks stopped_ under the same mutex).
      std::lock_guard lock(start_mutex_);
      started = started_.load(std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < started; ++i) workers_[i].thread.join();
    joined_ = true;
    drain();
  }

  /// Makes the workers exit once their current function returns, and destroys the queued work
  /// without running it. Work submitted later is never run either.
  void stop() {
    {
      std::lock_guard lock(sleep_mutex_);
      stopped_.store(true);
    }
    wake_.notify_all();
    idle_.notify_all();
    drain();
  }

  /// Totals over all workers; each is read on its own, so they need not add up mid-run.
  statistics stats() const noexcept {
    statistics total;
    for (std::size_t i = 0; i < size_; ++i) {
      const worker& w = workers_[i];
      total.tasks_executed += w.tasks_executed.get();
      total.steal_attempts += w.steal_attempts.get();
      total.steal_successes += w.steal_successes.get();
      total.tasks_failed += w.tasks_failed.get();
    }
    return total;
  }

  bool running_in_this_thread() const noexcept {
    const worker* self = current_worker();
    return self != nullptr && self->pool == this;
  }

 private:
  static constexpr int spin_rounds = 64;
  // Every this many lookups a worker takes the oldest work first, so a function that keeps
  // posting to its own queue (a coroutine yielding, a strand) cannot starve the rest.
  static constexpr unsigned fairness_interval = 61;

  // The queue is read by thieves; the counters and the owner's state are written by the owner
  // only, and live on their own cache line so that neither side slows the other down.
  struct worker {
    detail::task_queue queue;
    alignas(detail::cache_line_size) detail::owned_counter tasks_executed;
    detail::owned_counter steal_attempts;
    detail::owned_counter steal_successes;
    detail::owned_counter tasks_failed;
    std::uint32_t random = 1;
    unsigned lookups = 0;
    // Work this worker finished but has not yet taken off outstanding_ (see enqueue()).
    std::size_t unsettled = 0;
    thread_pool* pool = nullptr;
    alignas(detail::cache_line_size) std::thread thread;
  };

  static worker*& current_worker() noexcept {
    static thread_local worker* current = nullptr;
    return current;
  }

  template <class Function, class Allocator>
  void execute(Function&& f, const Allocator& allocator, unsigned bits) {
    using function_type = std::decay_t<Function>;
    worker* self = running_in_this_thread() ? current_worker() : nullptr;
    if (self && !(bits & blocking_never)) {
      function_type function(std::forward<Function>(f));
      invoke(*self, function);
      return;
    }
    enqueue(detail::pool_task_for<function_type, Allocator>::create(std::forward<Function>(f),
                                                                    allocator),
            self);
  }

  template <class Function>
  static void invoke(worker& self, Function& function) noexcept {
    try {
      function();
    } catch (...) {
      self.tasks_failed.increment();
    }
    self.tasks_executed.increment();
  }

  // Outstanding work is settled per worker. outstanding_ = (true count) + (the workers'
  // `unsettled` counts), so it never reads lower than the truth: join() cannot return early. A
  // worker adds to outstanding_ only when it submits more than it has finished, and subtracts
  // what it finished when it runs out of work, so a task that posts a task touches no shared line.
  void enqueue(detail::pool_task* task, worker* self) {
    if (self) {
      if (self->unsettled != 0)
        --self->unsettled;
      else
        work_started();
      self->queue.push(task);
    } else {
      work_started();
      injected_.push(task);
    }
    // A worker looking for work takes this task; one that gives up looking checks the queues
    // again after it stops counting itself as such (stop_spinning and sleep()).
    if (spinning_.load(std::memory_order_seq_cst) != 0) return;
    wake_or_start_one();
  }

  // Pairs with sleep(): either the sleeper sees the task just queued, or we see it registered
  // (the push was sequentially consistent, and so are this load and the sleeper's count).
  void wake_or_start_one() {
    if (sleepers_.load(std::memory_order_seq_cst) > notified_.load(std::memory_order_relaxed))
      wake_one();
    else if (started_.load(std::memory_order_relaxed) < size_)
      start_worker();
  }

  // A worker that fails to start is not an error: the running ones take the work.
  void start_worker() noexcept {
    std::lock_guard lock(start_mutex_);
    const std::size_t i = started_.load(std::memory_order_relaxed);
    if (i == size_ || stopped_.load()) return;
    // The new worker counts as looking from the start (see wake_one).
    spinning_.fetch_add(1, std::memory_order_seq_cst);
    try {
      workers_[i].thread = std::thread([this, i] { run_worker(workers_[i], true); });
      started_.store(i + 1, std::memory_order_relaxed);
    } catch (...) {
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  // The worker woken counts as looking for work as soon as it is notified, so that submitters
  // wake no more until it has found some; then, if it was the last to look, it wakes the next
  // for what is left, and so on while work is queued.
  void wake_one() {
    {
      std::lock_guard lock(sleep_mutex_);
      if (sleepers_.load(std::memory_order_relaxed) <= notified_.load(std::memory_order_relaxed)) return;
      notified_.store(notified_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      spinning_.fetch_add(1, std::memory_order_seq_cst);
    }
    wake_.notify_one();
  }

  void work_started() noexcept { outstanding_.fetch_add(1, std::memory_order_relaxed); }

  void work_finished(std::size_t count = 1) noexcept {
    if (outstanding_.fetch_sub(count, std::memory_order_acq_rel) == count) {
      { std::lock_guard lock(sleep_mutex_); }
      idle_.notify_all();
    }
  }

  void settle(worker& self) noexcept {
    if (self.unsettled != 0) work_finished(std::exchange(self.unsettled, 0));
  }

  // `spinning`: the worker starts counted as looking for work.
  void run_worker(worker& self, bool spinning) {
    detail::asio_thread_cache cache;  // recycled nodes and coroutine frames on this thread
    current_worker() = &self;
    int idle_rounds = 0;
    while (!stopped_.load(std::memory_order_acquire)) {
      if (detail::pool_task* task = find_task(self)) {
        idle_rounds = 0;
        // The last worker to stop looking wakes another for what is left, since submitters
        // wake no one while a worker looks.
        if (spinning && stop_spinning(spinning) == 0 && has_queued_work()) wake_or_start_one();
        if (stopped_.load(std::memory_order_acquire)) {
          task->destroy();
        } else {
          auto run = [task] { task->run(); };
          invoke(self, run);
        }
        ++self.unsettled;
      } else {
        settle(self);
        // A few workers look for work for a while before they sleep; the others sleep at once.
        // More would only take turns on the cores with the workers that have work: flash-cp's
        // 16 threads on 2 cores switched 2,446 times copying 10,000 files when all looked, 388
        // times since.
        if (!spinning) spinning = try_start_spinning();
        if (spinning && ++idle_rounds < spin_rounds) {
          std::this_thread::yield();
        } else {
          idle_rounds = 0;
          if (spinning) stop_spinning(spinning);
          spinning = sleep();
        }
      }
    }
    if (spinning) stop_spinning(spinning);
    settle(self);
    current_worker() = nullptr;
  }

  bool try_start_spinning() noexcept {
    std::size_t now = spinning_.load(std::memory_order_relaxed);
    while (now < max_spinning_)
      if (spinning_.compare_exchange_weak(now, now + 1, std::memory_order_seq_cst)) return true;
    return false;
  }

  // Returns how many still look.
  std::size_t stop_spinning(bool& spinning) noexcept {
    spinning = false;
    return spinning_.fetch_sub(1, std::memory_order_seq_cst) - 1;
  }

  bool has_queued_work() const noexcept {
    if (!injected_.empty()) return true;
    for (std::size_t i = 0; i < size_; ++i)
      if (!workers_[i].queue.empty()) return true;
    return false;
  }

  // Returns whether the worker was woken to look for work (and so counts as looking).
  bool sleep() {
    std::unique_lock lock(sleep_mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    // After registering: a submitter that did not see us left its task where we now look.
    if (!stopped_.load() && !has_queued_work()) {
      wake_.wait(lock, [this] {
        return stopped_.load() || notified_.load(std::memory_order_relaxed) != 0;
      });
    }
    // A notification is taken even by a sleeper that did not wait: it was counted as a worker
    // looking for work (wake_one), which this one now is.
    const bool woken = notified_.load(std::memory_order_relaxed) != 0;
    if (woken) notified_.store(notified_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return woken;
  }

  detail::pool_task* find_task(worker& self) {
    detail::pool_task* task = nullptr;
    if (++self.lookups % fairness_interval == 0) {
      task = injected_.steal();
      if (!task) task = self.queue.steal();
    }
    if (!task) task = self.queue.pop();
    if (!task) task = injected_.steal();
    if (!task) task = steal(self);
    return task;
  }

  // Tries every other worker once, starting at a random one.
  detail::pool_task* steal(worker& self) {
    self.random ^= self.random << 13;  // xorshift32
    self.random ^= self.random >> 17;
    self.random ^= self.random << 5;
    const std::size_t start = self.random % size_;
    for (std::size_t i = 0; i < size_; ++i) {
      worker& victim = workers_[(start + i) % size_];
      if (&victim == &self || victim.queue.empty()) continue;
      self.steal_attempts.increment();
      if (detail::pool_task* task = victim.queue.steal()) {
        self.steal_successes.increment();
        return task;
      }
    }
    return nullptr;
  }

  // Destroys all queued work. Destroying a function may submit more, which is destroyed too.
  void drain() noexcept {
    for (;;) {
      detail::pool_task* task = injected_.steal();
      for (std::size_t i = 0; !task && i < size_; ++i) task = workers_[i].queue.steal();
      if (!task) {
        if (!has_queued_work()) return;
        continue;  // lost a race with a worker
      }
      task->destroy();
      work_finished();
    }
  }

  // Read by every worker all the time, written (almost) never.
  const std::size_t size_;
  std::unique_ptr<worker[]> workers_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::size_t> started_{0};  // workers_[0, started_) have a thread; written under start_mutex_

  alignas(detail::cache_line_size) detail::locked_queue injected_;  // work from other threads

  // Workers in sleep() and, of those, how many were woken but are not up yet (both changed
  // under sleep_mutex_; read without it by submitters).
  alignas(detail::cache_line_size) std::atomic<std::size_t> sleepers_{0};
  std::atomic<std::size_t> notified_{0};
  // Workers out of work that look for more before they sleep, at most max_spinning_.
  alignas(detail::cache_line_size) std::atomic<std::size_t> spinning_{0};
  const std::size_t max_spinning_ =
      std::max<std::size_t>(1, std::min<std::size_t>(size_, std::thread::hardware_concurrency()) / 2);
  // Queued and running functions plus tracked executors; join() waits for it to reach zero.
  alignas(detail::cache_line_size) std::atomic<std::size_t> outstanding_{0};

  alignas(detail::cache_line_size) std::mutex sleep_mutex_;
  std::condition_variable wake_;  // idle workers wait here for work or stop
  std::condition_variable idle_;  // join() waits here for outstanding_ == 0

  std::mutex join_mutex_;
  bool joined_ = false;
  std::mutex start_mutex_;
};

}  // namespace flash
