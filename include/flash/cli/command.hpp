#pragma once
// flash::cmd: declaring a command. The command's name is part of its type, so that each
// compile-time check below names the command it is about.
//
//   flash::cmd<"greet">("Greet someone")
//       .arg<std::string>("name", "Who to greet")
//       .flag("-l,--loud", "Shout the greeting")
//       .run([](flash::context& ctx) { ... });

#include <flash/cli/declarations.hpp>
#include <flash/cli/handler_concepts.hpp>
#include <flash/cli/invoke.hpp>
#include <flash/core/fixed_string.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace flash {

/// The handler slot of a command that has none yet.
struct no_handler {};

template <fixed_string Name, class Handler = no_handler, bool HasSubcommands = false>
class command : public detail::declarations<command<Name, Handler, HasSubcommands>> {
  using base = detail::declarations<command>;

 public:
  static constexpr std::string_view name = Name.view();
  static constexpr bool has_handler = !std::is_same_v<Handler, no_handler>;
  static constexpr bool has_subcommands = HasSubcommands;

  explicit command(std::string description) {
    this->node_->name = std::string(name);
    this->node_->description = std::move(description);
  }

  /// Sets the handler. Its signature says how it runs (see flash/cli/handler_concepts.hpp).
  template <class F>
  command<Name, std::decay_t<F>, HasSubcommands> run(F&& handler) && {
    using H = std::decay_t<F>;
    static_assert(!has_handler,
                  "flash::cmd: this command already has a handler; give each command exactly one");
    static_assert(detail::shapes_matched<H> != 0,
                  "flash::cmd: this command's handler has no known shape; write one of "
                  "`int(flash::context&)` (sync), "
                  "`flash::awaitable<int>(flash::context&)` (stackless coroutine), "
                  "`int(flash::context&, flash::yield_context)` (green thread), "
                  "where void may stand for int, or wrap a sync one in flash::cpu_bound(...)");
    static_assert(detail::shapes_matched<H> <= 1,
                  "flash::cmd: this command's handler fits more than one shape (a generic lambda?); "
                  "give its parameters their types");
    command<Name, H, HasSubcommands> next(std::move(this->node_));
    if constexpr (detail::shapes_matched<H> == 1) {
      next.node_->traits = {detail::shape_of<H>(), detail::is_cpu_bound<H>};
      next.node_->invoke = [handler = H(std::forward<F>(handler))](
                              runtime& rt, execution_model model,
                              std::vector<const values*> scopes) mutable {
        return detail::invoke_handler(handler, rt, model, std::move(scopes));
      };
    }
    return next;
  }

  /// Adds a nested command: `flash::cmd<"remote">("...").subcommand(flash::cmd<"add">(...)...)`.
  template <fixed_string ChildName, class ChildHandler, bool ChildHasSubcommands>
  command<Name, Handler, true> subcommand(command<ChildName, ChildHandler, ChildHasSubcommands> child) && {
    static_assert(command<ChildName, ChildHandler, ChildHasSubcommands>::has_handler ||
                      ChildHasSubcommands,
                  "flash::cmd: this subcommand has no handler; give it one with .run(handler), "
                  "or give it subcommands");
    this->node_->children.push_back(std::move(child).release());
    return command<Name, Handler, true>(std::move(this->node_));
  }

  /// Runs the command on `model` whatever its handler's shape suggests (FLASH_MODEL still wins).
  command model(execution_model chosen) && {
    this->node_->declared_model = chosen;
    return std::move(*this);
  }

  /// Cancels the command, and fails it with errc::timeout, when it runs longer than `limit`.
  command timeout(std::chrono::milliseconds limit) && {
    this->node_->timeout = limit;
    return std::move(*this);
  }

  /// How many children the command's task groups run at once (10 unless set).
  command max_concurrency(std::size_t limit) && {
    this->node_->max_concurrency = limit;
    return std::move(*this);
  }

  /// Bytes the context's allocator may hand out before failing with errc::resource_exhausted.
  command memory_limit(std::size_t bytes) && {
    this->node_->memory_limit = bytes;
    return std::move(*this);
  }

  /// The declaration with its type erased, for the app that collects it.
  detail::command_node release() && { return std::move(*this->node_); }

 private:
  template <fixed_string, class, bool>
  friend class command;

  explicit command(std::unique_ptr<detail::command_node> node) : base(std::move(node)) {}
};

/// Declares the command `Name`: `flash::cmd<"greet">("Greet someone")`.
template <fixed_string Name>
command<Name> cmd(std::string description = {}) {
  return command<Name>(std::move(description));
}

}  // namespace flash
