#pragma once
// What a handler is given: its command's parsed values, and the async context it runs in
// (executor, pool, cancellation, concurrency limit, memory accounting, resources, metrics).

#include <flash/cli/values.hpp>
#include <flash/exec/runtime.hpp>
#include <flash/runtime/offload.hpp>
#include <flash/runtime/task_group.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory_resource>
#include <string_view>
#include <vector>

namespace flash {

class context {
 public:
  using executor_type = boost::asio::any_io_executor;

  /// `scopes` runs from the chosen command out to the app, so a subcommand sees its parents'
  /// options (`--verbose` on the app) unless it declares the same name itself.
  context(std::vector<const values*> scopes, executor_type executor, runtime& rt)
      : scopes_(std::move(scopes)), executor_(std::move(executor)), runtime_(&rt) {}

  // --- the command line -----------------------------------------------------------------

  /// The value of option, flag or argument `name`, as declared with type T.
  /// Throws flash::lookup_error when no such name was declared or T is not its declared type.
  template <class T>
  const T& get(std::string_view name) const {
    return scope_of(name).template get<T>(name);
  }

  /// The values of a many-valued option or argument declared with element type T.
  template <class T>
  const std::vector<T>& get_many(std::string_view name) const {
    return scope_of(name).template get<std::vector<T>>(name);
  }

  /// Whether `name` was given (on the command line or through its environment variable).
  bool has(std::string_view name) const { return scope_of(name).count(name) > 0; }

  /// How many times `name` was given: `-v -v -v` counts 3.
  std::size_t count(std::string_view name) const { return scope_of(name).count(name); }

  /// The full command being run, such as "hello greet".
  const std::string& command() const noexcept { return scopes_.front()->command(); }

  // --- the async context -----------------------------------------------------------------

  /// The executor the handler runs on; spawn more work onto it. (A blocking handler gets the
  /// I/O context's, created when first asked for.)
  const executor_type& executor() const {
    if (executor_ == nullptr) executor_ = runtime_->io_context().get_executor();
    return executor_;
  }

  /// The work-stealing pool, for CPU-bound work.
  thread_pool& pool() const { return runtime_->pool(); }

  /// The command's cancellation: Ctrl-C, SIGTERM or the command's timeout request it.
  cancellation_token token() const { return runtime_->token(); }
  bool is_cancelled() const noexcept { return runtime_->token().is_cancelled(); }

  /// How many children the task groups opened through this context run at once.
  std::size_t max_concurrency() const noexcept { return runtime_->options().max_concurrency; }

  /// Memory for the command's data; counted in the metrics, and refused with
  /// flash::error(errc::resource_exhausted) past the command's memory limit.
  std::pmr::memory_resource* memory() const noexcept { return &runtime_->memory(); }
  std::pmr::polymorphic_allocator<std::byte> allocator() const noexcept { return memory(); }

  /// Counts what the command's resource scopes have open.
  resource_tracker& resources() const noexcept { return runtime_->resources(); }

  flash::metrics& metrics() const noexcept { return runtime_->metrics(); }

  /// `co_await ctx.offload(f)`: runs f on the pool, resumes here with its result or exception.
  template <class F>
  auto offload(F function) const {
    return flash::offload(pool().get_executor(), std::move(function));
  }

  /// `co_await ctx.with_task_group(body)`: a task group bounded by max_concurrency(), counted
  /// in the metrics, and cancelled with the command.
  template <class Body>
  auto with_task_group(Body& body, failure_policy on_failure = failure_policy::cancel_siblings) const {
    return flash::with_task_group(body, {.on_failure = on_failure, .max_concurrency = max_concurrency()},
                                  &runtime_->metrics(), runtime_->token());
  }

 private:
  const values& scope_of(std::string_view name) const {
    for (const values* scope : scopes_)
      if (scope->contains(name)) return *scope;
    return *scopes_.front();  // reports the name as undeclared in the chosen command
  }

  std::vector<const values*> scopes_;
  mutable executor_type executor_;
  runtime* runtime_;
};

}  // namespace flash
