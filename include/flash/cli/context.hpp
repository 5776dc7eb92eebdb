#pragma once
// What a handler is given: its command's parsed values, and the executor it runs on.

#include <flash/cli/values.hpp>
#include <flash/exec/runtime.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <string_view>
#include <vector>

namespace flash {

class context {
 public:
  using executor_type = boost::asio::any_io_executor;

  /// `scopes` runs from the chosen command out to the app, so a subcommand sees its parents'
  /// options (`--verbose` on the app) unless it declares the same name itself.
  context(std::vector<const values*> scopes, executor_type executor)
      : scopes_(std::move(scopes)), executor_(std::move(executor)) {}

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

  /// How many times `name` was given: `-vvv` counts 3.
  std::size_t count(std::string_view name) const { return scope_of(name).count(name); }

  /// The full command being run, such as "hello greet".
  const std::string& command() const noexcept { return scopes_.front()->command(); }

  /// The executor the handler runs on; spawn more work onto it.
  const executor_type& executor() const noexcept { return executor_; }

  /// Whether Ctrl-C (or SIGTERM) asked the command to stop. CPU loops should check it.
  bool is_cancelled() const noexcept { return runtime::is_cancelled(); }

 private:
  const values& scope_of(std::string_view name) const {
    for (const values* scope : scopes_)
      if (scope->contains(name)) return *scope;
    return *scopes_.front();  // reports the name as undeclared in the chosen command
  }

  std::vector<const values*> scopes_;
  executor_type executor_;
};

}  // namespace flash
