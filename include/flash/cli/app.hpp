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
//
// A program that is one command declares it with .root_command(cmd) instead of .command(cmd).

#include <flash/cli/command.hpp>
#include <flash/cli/completion.hpp>
#include <flash/cli/config.hpp>
#include <flash/cli/help.hpp>
#include <flash/cli/prompt.hpp>
#include <flash/cli/reference.hpp>
#include <flash/cli/terminal.hpp>
#include <flash/cli/declarations.hpp>
#include <flash/cli/exit_code.hpp>
#include <flash/cli/suggest.hpp>
#include <flash/exec/signals.hpp>

#include <CLI/App.hpp>
#include <CLI/Config.hpp>
#include <CLI/Formatter.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string_view>
#include <deque>
#include <iostream>
#include <iterator>
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

  /// Makes the program itself this command, for a tool that does one thing (`flash-wc FILE...`
  /// rather than `flash-wc count FILE...`): its options, arguments, settings and handler become
  /// the program's, and messages name the program. Its subcommands, if any, stay subcommands.
  template <fixed_string Name, class Handler, bool HasSubcommands>
  cli root_command(flash::command<Name, Handler, HasSubcommands> declared) && {
    static_assert(flash::command<Name, Handler, HasSubcommands>::has_handler,
                  "flash::cli::root_command: this command has no handler; give it one with .run(handler)");
    detail::command_node root = std::move(declared).release();
    root.name = std::move(node_.name);
    if (!node_.description.empty()) root.description = std::move(node_.description);
    // Options declared on the program come first, as they would without root_command.
    root.declarations.insert(root.declarations.begin(), node_.declarations.begin(), node_.declarations.end());
    root.exclusive_groups.insert(root.exclusive_groups.end(), node_.exclusive_groups.begin(),
                                 node_.exclusive_groups.end());
    root.children.insert(root.children.begin(), std::make_move_iterator(node_.children.begin()),
                         std::make_move_iterator(node_.children.end()));
    node_ = std::move(root);
    return std::move(*this);
  }

  /// A configuration file read when --config is not given; it may be missing. See config.hpp.
  cli config_file(std::string default_path) && {
    default_config_ = std::move(default_path);
    return std::move(*this);
  }

  /// Parses the command line, runs the chosen command and returns the process's exit code:
  /// 0 on success, the handler's own int, 1 when it failed, 2 for a usage error, 128 + the
  /// signal's number when interrupted (130 for Ctrl-C).
  int run(int argc, const char* const* argv, std::ostream& out = std::cout,
          std::ostream& err = std::cerr) const {
    detail::pending_interrupt().store(0);
    const auto err_style = terminal::palette::for_stream(terminal::colour_enabled(err));
    CLI::App app(node_.description, node_.name);
    std::deque<bound_command> bound;
    global_choices global;
    try {
      declare_globals(app, global, out);
      bind(app, node_, node_.name, nullptr, bound);
      declare_builtins(app, global);
    } catch (const std::exception& e) {
      err << fmt::format("{}: error in the command declarations: {}\n", node_.name, e.what());
      return exit_code::failure;
    }

    std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    if (!args.empty() && args.front() == detail::complete_entry_point) {
      args.erase(args.begin());
      out << detail::complete(app, std::move(args), hints_of(bound)).to_string();
      return exit_code::success;
    }
    if (auto status = run_root_builtin(app, args, out, err, err_style)) return *status;

    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return report_parse_error(app, e, bound, out, err, err_style);
    }
    if (global.completion && global.completion->parsed()) {
      out << detail::completion_script(global.shell, node_.name);
      return exit_code::success;
    }
    if (global.docs && global.docs->parsed())
      return write_reference(app, global.docs_format, global.docs_directory, out, err, err_style);

    const bound_command& chosen = find_chosen(app, bound);
    if (!chosen.node->invoke) {
      err << app.help();
      return exit_code::usage;
    }
    if (auto status = ask_missing_values(chosen, err, err_style)) return *status;
    if (global.print_config) {
      std::vector<const CLI::Option*> skip{app.get_help_ptr(), app.get_version_ptr(), app.get_config_ptr()};
      for (const char* name : {"--print-config", "--metrics", "--completion", "--docs"})
        if (const CLI::Option* option = app.get_option_no_throw(name)) skip.push_back(option);
      out << fmt::format("# {}: the values it runs with (--config reads this back)\n", chosen.store.command())
          << detail::effective_configuration(chosen.app, skip);
      return exit_code::success;
    }

    execution_model model;
    try {
      model = select_model(chosen.node->traits, chosen.node->declared_model,
                           std::getenv(model_environment_variable));
    } catch (const model_selection_error& e) {
      err << error_line(err_style, chosen.store.command(), e.what());
      return exit_code::usage;
    }

    std::vector<const values*> scopes;
    for (const bound_command* b = &chosen; b; b = b->parent) scopes.push_back(&b->store);

    runtime rt(options_for(*chosen.node));
    int status = exit_code::failure;
    try {
      status = chosen.node->invoke(rt, model, std::move(scopes));
    } catch (const std::exception& e) {
      if (!runtime::interrupt_signal()) err << error_line(err_style, chosen.store.command(), e.what());
    } catch (...) {
      if (!runtime::interrupt_signal()) err << error_line(err_style, chosen.store.command(), "unknown exception");
    }
    if (!global.metrics_format.empty()) {
      auto snapshot = rt.snapshot_metrics();
      err << (global.metrics_format == "json" ? snapshot.json() : paint_report(snapshot.report(), err_style));
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

  // The metrics report with its title as a heading and each figure's label in the name style.
  static std::string paint_report(const std::string& report, const terminal::palette& style) {
    if (style.reset.empty()) return report;
    std::string out;
    std::size_t start = 0;
    for (auto end = report.find('\n'); end != std::string::npos; start = end + 1, end = report.find('\n', start)) {
      const std::string_view line(report.data() + start, end - start);
      const auto colon = line.find(':');
      if (colon == line.size() - 1)
        out += style.paint(style.heading, line);
      else if (colon != std::string_view::npos)
        out += style.paint(style.name, line.substr(0, colon + 1)).append(line.substr(colon + 1));
      else
        out += line;
      out += '\n';
    }
    return out;
  }

  static std::string error_line(const terminal::palette& style, std::string_view command,
                                std::string_view message) {
    return fmt::format("{}: {} {}\n", command, style.paint(style.error, "error:"), message);
  }

  static int report_parse_error(CLI::App& app, const CLI::ParseError& e,
                                const std::deque<bound_command>& bound, std::ostream& out,
                                std::ostream& err, const terminal::palette& style) {
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
    err << error_line(style, at.store.command(), message)
        << fmt::format("Run '{} --help' for more information.\n", at.store.command());
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

  // What the options and commands every program has were given.
  struct global_choices {
    std::string metrics_format;
    bool print_config = false;
    CLI::App* completion = nullptr;  // the built-in commands, when the program has commands
    CLI::App* docs = nullptr;
    std::string shell;
    std::string docs_format;
    std::string docs_directory = ".";
  };

  static constexpr std::string_view global_group = "Global options";

  // Help, configuration and metrics: what every program has before its own declarations.
  void declare_globals(CLI::App& app, global_choices& global, std::ostream& out) const {
    const auto style = terminal::palette::for_stream(terminal::colour_enabled(out));
    const std::size_t width = terminal::width(terminal::descriptor_of(out));
    app.formatter_fn([style, width](const CLI::App* at, std::string, CLI::AppFormatMode) {
      return detail::render_help(at, style, width);
    });
    app.fallthrough();  // options of the program are accepted after a command's name too
    if (!version_.empty()) app.set_version_flag("--version", version_);
    app.config_formatter(std::make_shared<detail::layered_config>(&app));
    app.set_config("--config", default_config_, "Read option values from this TOML or INI file")
        ->type_name("FILE")
        ->group(std::string(global_group));
    app.add_flag("--print-config", global.print_config,
                 "Print the values the command would run with, as a configuration file, and exit")
        ->group(std::string(global_group));
    app.add_flag("--metrics{text}", global.metrics_format,
                 "Print the async performance report to stderr when the command ends")
        ->envname("FLASH_METRICS")
        ->check(CLI::IsMember({"text", "json"}))
        ->group(std::string(global_group));
  }

  // `completion SHELL` and `docs FORMAT [DIR]`, unless the program is one command (whose
  // arguments could be those words: it takes --completion and --docs instead) or declares
  // commands of those names itself.
  void declare_builtins(CLI::App& app, global_choices& global) const {
    auto declared = [&](std::string_view name) {
      return std::any_of(node_.children.begin(), node_.children.end(),
                         [&](const detail::command_node& c) { return c.name == name; });
    };
    if (node_.invoke) {
      app.add_option("--completion", global.shell, "Print a completion script for SHELL and exit")
          ->type_name("SHELL")
          ->check(CLI::IsMember(detail::completion_shells))
          ->group(std::string(global_group));
      app.add_option("--docs", global.docs_format,
                     "Write the man page (man) in the current directory, or print a Markdown reference (markdown)")
          ->type_name("FORMAT")
          ->check(CLI::IsMember({"man", "markdown"}))
          ->group(std::string(global_group));
      return;
    }
    if (!declared("completion")) {
      global.completion = app.add_subcommand(
          "completion", fmt::format("Print a shell completion script: source <({} completion bash)", node_.name));
      global.completion->add_option("shell", global.shell, "The shell: bash, zsh or fish")
          ->required()
          ->check(CLI::IsMember(detail::completion_shells));
      global.completion->group("Built-in commands");
    }
    if (!declared("docs")) {
      global.docs = app.add_subcommand("docs", "Write a man page per command, or a Markdown reference");
      global.docs->add_option("format", global.docs_format, "man (pages written to DIR) or markdown (printed)")
          ->required()
          ->check(CLI::IsMember({"man", "markdown"}));
      global.docs->add_option("dir", global.docs_directory, "Where man pages are written")
          ->capture_default_str()
          ->check(CLI::ExistingDirectory);
      global.docs->group("Built-in commands");
    }
  }

  // What completion offers for each option and argument, from what was declared.
  static detail::hint_lookup hints_of(const std::deque<bound_command>& bound) {
    auto hints = std::make_shared<std::map<const CLI::Option*, value_hint>>();
    for (const auto& b : bound)
      b.store.for_each_bound([&](const CLI::Option* option, const value_hint& hint) { (*hints)[option] = hint; });
    return [hints](const CLI::Option* option) -> value_hint {
      if (auto it = hints->find(option); it != hints->end()) return it->second;
      if (option->get_name() == "--completion" || option->get_name() == "shell")
        return {value_kind::choice, detail::completion_shells};
      if (option->get_name() == "--docs" || option->get_name() == "format")
        return {value_kind::choice, {"man", "markdown"}};
      if (option->get_name() == "--config") return {value_kind::file};
      if (option->get_name() == "--metrics") return {value_kind::choice, {"text", "json"}};
      if (option->get_name() == "dir") return {value_kind::directory};
      return {value_kind::none};
    };
  }

  // `PROG --completion SHELL` / `PROG --docs FORMAT` of a one-command program, answered before
  // parsing: the command's own required arguments are not there.
  std::optional<int> run_root_builtin(CLI::App& app, const std::vector<std::string>& args, std::ostream& out,
                                      std::ostream& err, const terminal::palette& style) const {
    if (!node_.invoke || args.empty()) return std::nullopt;
    for (std::string_view name : {"--completion", "--docs"}) {
      std::string value;
      if (args.size() == 2 && args[0] == name) {
        value = args[1];
      } else if (args.size() == 1 && args[0].starts_with(std::string(name) + "=")) {
        value = args[0].substr(name.size() + 1);
      } else {
        continue;
      }
      const auto& allowed = name == "--completion" ? detail::completion_shells
                                                   : std::vector<std::string>{"man", "markdown"};
      if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        err << error_line(style, node_.name,
                          fmt::format("{}: '{}' is not one of {}", name, value, fmt::join(allowed, ", ")));
        return exit_code::usage;
      }
      if (name == "--completion") {
        out << detail::completion_script(value, node_.name);
        return exit_code::success;
      }
      return write_reference(app, value, ".", out, err, style);
    }
    return std::nullopt;
  }

  int write_reference(const CLI::App& app, std::string_view format, const std::string& directory,
                      std::ostream& out, std::ostream& err, const terminal::palette& style) const {
    if (format == "markdown") {
      out << detail::markdown_reference(app, version_);
      return exit_code::success;
    }
    for (const auto& page : detail::man_pages(app, version_)) {
      const std::string path = directory + "/" + page.file_name;
      // Written beside its place and renamed, so a failure leaves no half-written page.
      const std::string temporary = path + ".tmp";
      std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
      file << page.text;
      file.close();
      if (!file || std::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error_number = errno;
        std::remove(temporary.c_str());
        err << error_line(style, node_.name, fmt::format("writing {}: {}", path, std::strerror(error_number)));
        return exit_code::failure;
      }
      out << path << '\n';
    }
    return exit_code::success;
  }

  // Values declared with a prompt that nothing gave: asked for at the terminal, or a usage
  // error when stdin is not one.
  static std::optional<int> ask_missing_values(const bound_command& chosen, std::ostream& err,
                                               const terminal::palette& style) {
    for (const bound_command* b = &chosen; b; b = b->parent) {
      std::optional<int> failed;
      b->store.for_each_prompt([&](CLI::Option* option, const prompt_request& request, const value_hint& hint) {
        if (failed || option->count() > 0) return;
        try {
          for (;;) {
            std::string answer;
            if (request.yes_no)
              answer = confirm(request.question) ? "true" : "false";
            else if (request.secret)
              answer = ask_secret(request.question);
            else if (hint.kind == value_kind::choice)
              answer = choose(request.question, hint.choices);
            else
              answer = ask(request.question, option->get_default_str());
            option->add_result(answer);
            try {
              option->run_callback();
              return;
            } catch (const CLI::ParseError& e) {
              option->clear();
              err << e.what() << '\n';
            }
          }
        } catch (const prompt_error&) {
          const bool at_terminal = terminal::is_terminal(STDIN_FILENO);
          err << error_line(style, b->store.command(),
                            fmt::format("{} is required{}", option->get_name(),
                                        at_terminal ? " (no answer was given)"
                                                    : ", and stdin is not a terminal to ask for it"));
          failed = exit_code::usage;
        }
      });
      if (failed) return failed;
    }
    return std::nullopt;
  }

  std::string version_;
  flash::runtime_options runtime_options_;
  std::string default_config_;
};

}  // namespace flash
