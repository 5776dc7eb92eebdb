#pragma once
// flash::cli: the program. It collects the declared commands, parses argv with CLI11, and runs
// the chosen command's handler on its execution model.
//
//   int main(int argc, char** argv) {
//     return flash::cli("hello", "Says hello")
//         .version("1.0")
//         .command(flash::cmd<"greet">("Greet someone").run(greet))
//         .run(argc, argv);
//   }

#include <flash/cli/command.hpp>
#include <flash/cli/declarations.hpp>
#include <flash/cli/exit_code.hpp>
#include <flash/cli/suggest.hpp>
#include <flash/exec/signals.hpp>

#include <CLI/App.hpp>
#include <CLI/Config.hpp>
#include <CLI/Formatter.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <deque>
#include <iostream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace flash {

class cli : public detail::declarations<cli> {
 public:
  explicit cli(std::string name, std::string description = {}) {
    node_.name = std::move(name);
    node_.description = std::move(description);
  }

  /// Adds `--version`, which prints `text` and exits with 0.
  cli version(std::string text) && {
    version_ = std::move(text);
    return std::move(*this);
  }

  /// Settings of the executors commands run on (pool size, green-thread stack size).
  cli runtime_options(flash::runtime_options options) && {
    runtime_options_ = options;
    return std::move(*this);
  }

  /// Adds a top-level command.
  template <fixed_string Name, class Handler, bool HasSubcommands>
  cli command(flash::command<Name, Handler, HasSubcommands> declared) && {
    static_assert(flash::command<Name, Handler, HasSubcommands>::has_handler || HasSubcommands,
                  "flash::cli: this command has no handler; give it one with .run(handler), "
                  "or give it subcommands");
    node_.children.push_back(std::move(declared).release());
    return std::move(*this);
  }

  /// Parses the command line, runs the chosen command and returns the process's exit code:
  /// 0 on success, the handler's own int, 1 when it failed, 2 for a usage error, 128 + the
  /// signal's number when interrupted (130 for Ctrl-C).
  int run(int argc, const char* const* argv, std::ostream& out = std::cout,
          std::ostream& err = std::cerr) const {
    detail::pending_interrupt().store(0);
    CLI::App app(node_.description, node_.name);
    std::deque<bound_command> bound;
    std::string metrics_format;
    try {
      if (!version_.empty()) app.set_version_flag("--version", version_);
      app.add_flag("--metrics{text}", metrics_format,
                   "Print the async performance report to stderr when the command ends")
          ->envname("FLASH_METRICS")
          ->check(CLI::IsMember({"text", "json"}))
          ->group("Global options");
      bind(app, node_, node_.name, nullptr, bound);
    } catch (const std::exception& e) {
      err << fmt::format("{}: error in the command declarations: {}\n", node_.name, e.what());
      return exit_code::failure;
    }

    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return report_parse_error(app, e, bound, out, err);
    }

    const bound_command& chosen = find_chosen(app, bound);
    if (!chosen.node->invoke) {
      err << app.help();
      return exit_code::usage;
    }

    execution_model model;
    try {
      model = select_model(chosen.node->traits, chosen.node->declared_model,
                           std::getenv(model_environment_variable));
    } catch (const model_selection_error& e) {
      err << fmt::format("{}: error: {}\n", chosen.store.command(), e.what());
      return exit_code::usage;
    }

    std::vector<const values*> scopes;
    for (const bound_command* b = &chosen; b; b = b->parent) scopes.push_back(&b->store);

    runtime rt(options_for(*chosen.node));
    int status = exit_code::failure;
    try {
      status = chosen.node->invoke(rt, model, std::move(scopes));
    } catch (const std::exception& e) {
      if (!runtime::interrupt_signal())
        err << fmt::format("{}: error: {}\n", chosen.store.command(), e.what());
    } catch (...) {
      if (!runtime::interrupt_signal())
        err << fmt::format("{}: error: unknown exception\n", chosen.store.command());
    }
    if (!metrics_format.empty()) {
      auto snapshot = rt.snapshot_metrics();
      err << (metrics_format == "json" ? snapshot.json() : snapshot.report());
    }
    if (int signal_number = runtime::interrupt_signal()) return 128 + signal_number;
    return status;
  }

  int run(int argc, char** argv) const { return run(argc, const_cast<const char* const*>(argv)); }

 private:
  struct bound_command {
    bound_command(const detail::command_node* node, std::string path, CLI::App* app,
                  const bound_command* parent)
        : node(node), store(std::move(path)), app(app), parent(parent) {}

    const detail::command_node* node;
    values store;
    CLI::App* app;
    const bound_command* parent;
  };

  flash::runtime_options options_for(const detail::command_node& node) const {
    flash::runtime_options options = runtime_options_;
    if (node.timeout) options.timeout = node.timeout;
    if (node.max_concurrency) options.max_concurrency = *node.max_concurrency;
    if (node.memory_limit) options.memory_limit = node.memory_limit;
    return options;
  }

  static void bind(CLI::App& app, const detail::command_node& node, std::string path,
                   const bound_command* parent, std::deque<bound_command>& bound) {
    bound_command& self = bound.emplace_back(&node, std::move(path), &app, parent);
    for (const auto& declare : node.declarations) declare(app, self.store);
    for (const auto& group : node.exclusive_groups)
      for (std::size_t i = 0; i < group.size(); ++i)
        for (std::size_t j = i + 1; j < group.size(); ++j)
          self.store.option(group[i])->excludes(self.store.option(group[j]));
    for (const auto& child : node.children) {
      CLI::App* sub = app.add_subcommand(child.name, child.description);
      bind(*sub, child, self.store.command() + " " + child.name, &self, bound);
    }
    if (!node.children.empty() && !node.invoke) app.require_subcommand(1);
  }

  static const bound_command& find_chosen(const CLI::App& app,
                                          const std::deque<bound_command>& bound) {
    const CLI::App* at = &app;
    for (auto chosen = at->get_subcommands(); !chosen.empty(); chosen = at->get_subcommands())
      at = chosen.front();
    for (const auto& b : bound)
      if (b.app == at) return b;
    return bound.front();
  }

  static int report_parse_error(CLI::App& app, const CLI::ParseError& e,
                                const std::deque<bound_command>& bound, std::ostream& out,
                                std::ostream& err) {
    if (e.get_exit_code() == 0) {  // --help or --version
      app.exit(e, out, err);
      return exit_code::success;
    }
    const bound_command& at = find_chosen(app, bound);
    std::string message = e.what();
    // An unknown word also leaves a required command or option missing: name the word instead.
    const bool may_be_unknown_word = dynamic_cast<const CLI::ExtrasError*>(&e) ||
                                     dynamic_cast<const CLI::RequiredError*>(&e);
    if (may_be_unknown_word) {
      if (auto unknown = describe_extras(at)) message = *unknown;
    }
    err << fmt::format("{}: error: {}\nRun '{} --help' for more information.\n",
                       at.store.command(), message, at.store.command());
    return exit_code::usage;
  }

  // "unknown command 'gret'; did you mean 'greet'?" in place of CLI11's list of extras.
  static std::optional<std::string> describe_extras(const bound_command& at) {
    std::vector<std::string> extras;
    for (const bound_command* b = &at; b && extras.empty(); b = b->parent)
      extras = b->app->remaining();
    if (extras.empty()) return std::nullopt;
    const std::string& first = extras.front();
    std::vector<std::string> candidates;
    std::string kind;
    if (first.starts_with('-')) {
      kind = "option";
      for (const CLI::Option* option : at.app->get_options()) {
        for (const auto& name : option->get_lnames()) candidates.push_back("--" + name);
        for (const auto& name : option->get_snames()) candidates.push_back("-" + name);
      }
    } else if (!at.node->children.empty()) {
      kind = "command";
      for (const auto& child : at.node->children) candidates.push_back(child.name);
    } else {
      return fmt::format("unexpected argument '{}'", first);
    }
    std::string typed = first.substr(0, first.find('='));
    std::string message = fmt::format("unknown {} '{}'", kind, typed);
    if (auto match = detail::closest_match(typed, candidates))
      message += fmt::format("; did you mean '{}'?", *match);
    return message;
  }

  std::string version_;
  flash::runtime_options runtime_options_;
};

}  // namespace flash
