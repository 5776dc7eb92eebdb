#pragma once
// A declared command with its type erased, as the registry stores it once its handler has been
// checked: the CLI layer turns these into CLI11 apps and dispatches to `invoke`.

#include <flash/cli/values.hpp>
#include <flash/dispatch/model_selection.hpp>
#include <flash/exec/runtime.hpp>

#include <CLI/App.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace flash::detail {

struct command_node {
  using declaration = std::function<void(CLI::App&, values&)>;
  using invoker = std::function<int(runtime&, execution_model, std::vector<const values*>)>;

  std::string name;
  std::string description;
  std::vector<declaration> declarations;
  std::vector<std::vector<std::string>> exclusive_groups;
  std::vector<command_node> children;
  handler_traits traits;
  std::optional<execution_model> declared_model;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::size_t> max_concurrency;
  std::optional<std::size_t> memory_limit;
  invoker invoke;  ///< empty for a command that only groups subcommands
};

}  // namespace flash::detail
