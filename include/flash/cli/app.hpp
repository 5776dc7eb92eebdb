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
#include <span>
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
    const std::span<const char* const> words(argv + std::min(argc, 1), argv + argc);

    // Most command lines name none of the built-in commands and options; declaring those costs
    // as much as parsing, so they are left out unless a word could be one of them. A command
    // line the lean parse refuses is parsed again with everything declared, so that help and
    // error messages are the same either way.
    if (!may_use_builtins(words)) {
      invocation lean(node_);
      if (auto status = declare(lean, false, out, err)) return *status;
      bool parsed = false;
      try {
        lean.app.parse(argc, argv);
        parsed = true;
      } catch (const CLI::ParseError&) {
      }
      if (parsed && find_chosen(lean).node->invoke && !redeclares_builtins(lean.app)) return execute(lean, out, err);
    }

    invocation full(node_);
    if (auto status = declare(full, true, out, err)) return *status;
    std::vector<std::string> args(words.begin(), words.end());
    if (!args.empty() && args.front() == detail::complete_entry_point) {
      args.erase(args.begin());
      out << detail::complete(full.app, std::move(args), hints_of(full)).to_string();
      return exit_code::success;
    }
    if (auto status = run_root_builtin(full.app, args, out, err)) return *status;
    try {
      full.app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return report_parse_error(full, e, out, err);
    }
    if (full.global.completion && full.global.completion->parsed()) {
      out << detail::completion_script(full.global.shell, node_.name);
      return exit_code::success;
    }
    if (full.global.docs && full.global.docs->parsed())
      return write_reference(full.app, full.global.docs_format, full.global.docs_directory, out, err);
    if (!find_chosen(full).node->invoke) {
      err << full.app.help();
      return exit_code::usage;
    }
    return execute(full, out, err);
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

  // What the options and commands every program has were given.
  struct global_choices {
    std::string metrics_format;
    bool print_config = false;
    CLI::App* completion = nullptr;  // the built-in commands, when the program has commands
    CLI::App* docs = nullptr;
    std::string shell;
    std::string docs_format;
    std::string docs_directory = ".";
    std::vector<std::pair<const CLI::Option*, value_hint>> hints;  // for completion
  };

  // One parse of the command line: CLI11's tree with the values each command's options write to.
  struct invocation {
    explicit invocation(const detail::command_node& root) : app(root.description, root.name) {}
    CLI::App app;
    std::deque<bound_command> bound;
    global_choices global;
  };

  static constexpr std::string_view global_group = "Global options";
  static constexpr std::string_view builtin_group = "Built-in commands";
  static inline const std::vector<std::string> reference_formats{"man", "markdown"};
  static inline const std::vector<std::string> metrics_formats{"text", "json"};
  static constexpr const char* metrics_environment_variable = "FLASH_METRICS";
  // The long options every program has (--config, --print-config, --metrics) or, for a
  // one-command program, has instead of the built-in commands of the last two names.
  static constexpr std::string_view builtin_options[] = {"config", "print-config", "metrics", "completion", "docs"};

  static bool is_builtin_option(std::string_view long_name) {
    return std::find(std::begin(builtin_options), std::end(builtin_options), long_name) != std::end(builtin_options);
  }

  // Whether the command line could use a built-in command or option (before "--"), or the
  // environment or a default configuration file could set one.
  bool may_use_builtins(std::span<const char* const> args) const {
    if (!default_config_.empty() || std::getenv(metrics_environment_variable)) return true;
    for (const std::string_view arg : args) {
      if (arg == "--") break;
      const std::string_view name = arg.substr(0, arg.find('='));
      if (name == "-h" || name == "--help" || name == "completion" || name == "docs" ||
          name == detail::complete_entry_point || (name.starts_with("--") && is_builtin_option(name.substr(2))))
        return true;
    }
    return false;
  }

  // Whether the program declares an option of a built-in's name: the full declaration reports
  // that, whatever the command line says.
  static bool redeclares_builtins(const CLI::App& app) {
    for (const CLI::Option* option : app.get_options())
      for (const std::string& name : option->get_lnames())
        if (is_builtin_option(name)) return true;
    return false;
  }

  // Declares the program's commands into `call`, with the built-ins when `with_builtins`.
  std::optional<int> declare(invocation& call, bool with_builtins, std::ostream& out, std::ostream& err) const {
    try {
      declare_basics(call.app, out);
      if (with_builtins) declare_globals(call.app, call.global);
      bind(call.app, node_, node_.name, nullptr, call.bound);
      if (with_builtins) declare_builtins(call.app, call.global);
    } catch (const std::exception& e) {
      err << fmt::format("{}: error in the command declarations: {}\n", node_.name, e.what());
      return exit_code::failure;
    }
    return std::nullopt;
  }

  // Runs the command a successful parse chose.
  int execute(const invocation& call, std::ostream& out, std::ostream& err) const {
    const bound_command& chosen = find_chosen(call);
    if (auto status = ask_missing_values(chosen, err)) return *status;
    if (call.global.print_config) {
      std::vector<const CLI::Option*> skip{call.app.get_help_ptr(), call.app.get_version_ptr(),
                                           call.app.get_config_ptr()};
      for (const auto& [option, hint] : call.global.hints) skip.push_back(option);
      out << fmt::format("# {}: the values it runs with (--config reads this back)\n", chosen.store.command())
          << detail::effective_configuration(chosen.app, skip);
      return exit_code::success;
    }

    execution_model model;
    try {
      model = select_model(chosen.node->traits, chosen.node->declared_model,
                           std::getenv(model_environment_variable));
    } catch (const model_selection_error& e) {
      err << error_line(err, chosen.store.command(), e.what());
      return exit_code::usage;
    }

    std::vector<const values*> scopes;
    for (const bound_command* b = &chosen; b; b = b->parent) scopes.push_back(&b->store);

    runtime rt(options_for(*chosen.node));
    int status = exit_code::failure;
    try {
      status = chosen.node->invoke(rt, model, std::move(scopes));
    } catch (const std::exception& e) {
      if (!runtime::interrupt_signal()) err << error_line(err, chosen.store.command(), e.what());
    } catch (...) {
      if (!runtime::interrupt_signal()) err << error_line(err, chosen.store.command(), "unknown exception");
    }
    if (!call.global.metrics_format.empty()) {
      auto snapshot = rt.snapshot_metrics();
      err << (call.global.metrics_format == "json" ? snapshot.json() : paint_report(snapshot.report(), err));
    }
    if (int signal_number = runtime::interrupt_signal()) return 128 + signal_number;
    return status;
  }

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

  static const bound_command& find_chosen(const invocation& call) {
    const CLI::App* at = &call.app;
    for (auto chosen = at->get_subcommands(); !chosen.empty(); chosen = at->get_subcommands())
      at = chosen.front();
    for (const auto& b : call.bound)
      if (b.app == at) return b;
    return call.bound.front();
  }

  static terminal::palette style_of(const std::ostream& stream) {
    return terminal::palette::for_stream(terminal::colour_enabled(stream));
  }

  // The metrics report with its title as a heading and each figure's label in the name style.
  static std::string paint_report(const std::string& report, const std::ostream& to) {
    const auto style = style_of(to);
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

  static std::string error_line(const std::ostream& to, std::string_view command, std::string_view message) {
    const auto style = style_of(to);
    return fmt::format("{}: {} {}\n", command, style.paint(style.error, "error:"), message);
  }

  static int report_parse_error(invocation& call, const CLI::ParseError& e, std::ostream& out, std::ostream& err) {
    if (e.get_exit_code() == 0) {  // --help or --version
      call.app.exit(e, out, err);
      return exit_code::success;
    }
    const bound_command& at = find_chosen(call);
    std::string message = e.what();
    // An unknown word also leaves a required command or option missing: name the word instead.
    const bool may_be_unknown_word = dynamic_cast<const CLI::ExtrasError*>(&e) ||
                                     dynamic_cast<const CLI::RequiredError*>(&e);
    if (may_be_unknown_word) {
      if (auto unknown = describe_extras(at)) message = *unknown;
    }
    err << error_line(err, at.store.command(), message)
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

  // What every parse has: grouped help in the terminal's width and colours (worked out only
  // when help is printed), global options accepted after a command's name, --version.
  void declare_basics(CLI::App& app, const std::ostream& out) const {
    app.formatter_fn([&out](const CLI::App* at, std::string, CLI::AppFormatMode) {
      return detail::render_help(at, style_of(out), terminal::width(terminal::descriptor_of(out)));
    });
    app.fallthrough();
    if (!version_.empty()) app.set_version_flag("--version", version_);
  }

  // Configuration and metrics: the options every program has besides its own.
  void declare_globals(CLI::App& app, global_choices& global) const {
    app.config_formatter(std::make_shared<detail::layered_config>(&app));
    CLI::Option* config = app.set_config("--config", default_config_, "Read option values from this TOML or INI file")
                              ->type_name("FILE")
                              ->group(std::string(global_group));
    global.hints.emplace_back(config, value_hint{value_kind::file});
    global.hints.emplace_back(
        app.add_flag("--print-config", global.print_config,
                     "Print the values the command would run with, as a configuration file, and exit")
            ->group(std::string(global_group)),
        value_hint{value_kind::none});
    global.hints.emplace_back(
        app.add_flag("--metrics{text}", global.metrics_format,
                     "Print the async performance report to stderr when the command ends")
            ->envname(metrics_environment_variable)
            ->check(CLI::IsMember(metrics_formats))
            ->group(std::string(global_group)),
        value_hint{value_kind::choice, metrics_formats});
  }

  // `completion SHELL` and `docs FORMAT [DIR]`, unless the program is one command (whose
  // arguments could be those words: it takes --completion and --docs instead) or declares
  // commands of those names itself.
  void declare_builtins(CLI::App& app, global_choices& global) const {
    const value_hint shells{value_kind::choice, detail::completion_shells};
    const value_hint formats{value_kind::choice, reference_formats};
    auto declared = [&](std::string_view name) {
      return std::any_of(node_.children.begin(), node_.children.end(),
                         [&](const detail::command_node& c) { return c.name == name; });
    };
    if (node_.invoke) {
      global.hints.emplace_back(
          app.add_option("--completion", global.shell, "Print a completion script for SHELL and exit")
              ->type_name("SHELL")
              ->check(CLI::IsMember(detail::completion_shells))
              ->group(std::string(global_group)),
          shells);
      global.hints.emplace_back(
          app.add_option("--docs", global.docs_format,
                         "Write the man page (man) in the current directory, or print a Markdown reference (markdown)")
              ->type_name("FORMAT")
              ->check(CLI::IsMember(reference_formats))
              ->group(std::string(global_group)),
          formats);
      return;
    }
    if (!declared("completion")) {
      global.completion = app.add_subcommand(
          "completion", fmt::format("Print a shell completion script: source <({} completion bash)", node_.name));
      global.hints.emplace_back(global.completion->add_option("shell", global.shell, "The shell: bash, zsh or fish")
                                    ->required()
                                    ->check(CLI::IsMember(detail::completion_shells)),
                                shells);
      global.completion->group(std::string(builtin_group));
    }
    if (!declared("docs")) {
      global.docs = app.add_subcommand("docs", "Write a man page per command, or a Markdown reference");
      global.hints.emplace_back(
          global.docs->add_option("format", global.docs_format, "man (pages written to DIR) or markdown (printed)")
              ->required()
              ->check(CLI::IsMember(reference_formats)),
          formats);
      global.hints.emplace_back(global.docs->add_option("dir", global.docs_directory, "Where man pages are written")
                                    ->capture_default_str()
                                    ->check(CLI::ExistingDirectory),
                                value_hint{value_kind::directory});
      global.docs->group(std::string(builtin_group));
    }
  }

  // What completion offers for each option and argument, from what was declared.
  static detail::hint_lookup hints_of(const invocation& call) {
    auto hints = std::make_shared<std::map<const CLI::Option*, value_hint>>(call.global.hints.begin(),
                                                                            call.global.hints.end());
    for (const auto& b : call.bound)
      b.store.for_each_bound([&](const CLI::Option* option, const value_hint& hint) { (*hints)[option] = hint; });
    return [hints](const CLI::Option* option) -> value_hint {
      if (auto it = hints->find(option); it != hints->end()) return it->second;
      return {value_kind::none};
    };
  }

  // `PROG --completion SHELL` / `PROG --docs FORMAT` of a one-command program, answered before
  // parsing: the command's own required arguments are not there.
  std::optional<int> run_root_builtin(const CLI::App& app, const std::vector<std::string>& args,
                                      std::ostream& out, std::ostream& err) const {
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
      const auto& allowed = name == "--completion" ? detail::completion_shells : reference_formats;
      if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        err << error_line(err, node_.name,
                          fmt::format("{}: '{}' is not one of {}", name, value, fmt::join(allowed, ", ")));
        return exit_code::usage;
      }
      if (name == "--completion") {
        out << detail::completion_script(value, node_.name);
        return exit_code::success;
      }
      return write_reference(app, value, ".", out, err);
    }
    return std::nullopt;
  }

  int write_reference(const CLI::App& app, std::string_view format, const std::string& directory,
                      std::ostream& out, std::ostream& err) const {
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
        err << error_line(err, node_.name, fmt::format("writing {}: {}", path, std::strerror(error_number)));
        return exit_code::failure;
      }
      out << path << '\n';
    }
    return exit_code::success;
  }

  // Values declared with a prompt that nothing gave: asked for at the terminal, or a usage
  // error when stdin is not one.
  static std::optional<int> ask_missing_values(const bound_command& chosen, std::ostream& err) {
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
          err << error_line(err, b->store.command(),
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
