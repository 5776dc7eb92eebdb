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

#include <flash/core/config.hpp>
#include <flash/cli/command.hpp>
#include <flash/cli/declarations.hpp>
#include <flash/cli/exit_code.hpp>
#include <flash/cli/terminal.hpp>
#include <flash/cli/validators.hpp>
#include <flash/cli/values.hpp>
#include <flash/exec/runtime.hpp>

#include <CLI/App.hpp>

#include <algorithm>
#include <deque>
#include <exception>
#include <iostream>
#include <iterator>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flash {

class cli : public detail::declarations<cli> {
 public:
  explicit cli(std::string name, std::string description = {}) {
    node_->name = std::move(name);
    node_->description = std::move(description);
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
    node_->children.push_back(std::move(declared).release());
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
    root.name = std::move(node_->name);
    if (!node_->description.empty()) root.description = std::move(node_->description);
    // Options declared on the program come first, as they would without root_command.
    root.declarations.insert(root.declarations.begin(), node_->declarations.begin(), node_->declarations.end());
    root.exclusive_groups.insert(root.exclusive_groups.end(), node_->exclusive_groups.begin(),
                                 node_->exclusive_groups.end());
    root.children.insert(root.children.begin(), std::make_move_iterator(node_->children.begin()),
                         std::make_move_iterator(node_->children.end()));
    *node_ = std::move(root);
    return std::move(*this);
  }

  /// A configuration file read when --config is not given; it may be missing. See config.hpp.
  cli config_file(std::string default_path) && {
    default_config_ = std::move(default_path);
    return std::move(*this);
  }

  /// Parses the command line, runs the chosen command and returns the process's exit code:
  /// 0 on success, the handler's own int, 1 when it failed, 2 for a usage error, 128 + the
  /// signal's number when interrupted (130 for Ctrl-C). A command that succeeded but whose
  /// output to std::cout could not all be written (a full disk) fails with 1. The first call
  /// also prepares the process: see cli/process.hpp.
  int run(int argc, const char* const* argv, std::ostream& out = std::cout,
          std::ostream& err = std::cerr) const;

  int run(int argc, char** argv) const { return run(argc, const_cast<const char* const*>(argv)); }

private:
  // run() without what it does for the process around the command (cli/process.hpp).
  int run_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err) const;

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

  // CLI11's public constructor always declares -h,--help, and each subcommand copies the
  // parent's; the lean parse goes without, as a command line that asks for help never reaches
  // it ("-h" and "--help" go to the full parse, a cluster such as "-vh" fails the lean one).
  struct parser : CLI::App {
    parser(std::string description, std::string name, bool with_help)
        : CLI::App(std::move(description), std::move(name), nullptr) {
      if (with_help) set_help_flag("-h,--help", "Print this help message and exit");
    }
  };

  // One parse of the command line: CLI11's tree with the values each command's options write to.
  struct invocation {
    invocation(const detail::command_node& root, bool with_help) : app(root.description, root.name, with_help) {}
    parser app;
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
  bool may_use_builtins(std::span<const char* const> args) const;

  // Whether the program declares an option of a built-in's name, or -h or --help on any command:
  // the full declaration reports that, whatever the command line says.
  static bool redeclares_builtins(const invocation& call);

  // Declares the program's commands into `call`, with the built-ins when `with_builtins`.
  std::optional<int> declare(invocation& call, bool with_builtins, std::ostream& out, std::ostream& err) const;

  // Runs the command a successful parse chose.
  int execute(const invocation& call, std::ostream& out, std::ostream& err) const;

  flash::runtime_options options_for(const detail::command_node& node) const {
    flash::runtime_options options = runtime_options_;
    if (node.timeout) options.timeout = node.timeout;
    if (node.max_concurrency) options.max_concurrency = *node.max_concurrency;
    if (node.memory_limit) options.memory_limit = node.memory_limit;
    return options;
  }

  static void bind(CLI::App& app, const detail::command_node& node, std::string path,
                   const bound_command* parent, std::deque<bound_command>& bound);

  static const bound_command& find_chosen(const invocation& call);

  static terminal::palette style_of(const std::ostream& stream) {
    return terminal::palette::for_stream(terminal::colour_enabled(stream));
  }

  // The metrics report with its title as a heading and each figure's label in the name style.
  static std::string paint_report(const std::string& report, const std::ostream& to);

  static std::string error_line(const std::ostream& to, std::string_view command, std::string_view message);
  // What a command's failure says: its what(), but a flash::error of kind validation_error
  // without a cause says only its subject, which already says what is wrong.
  static std::string_view failure_message(const std::exception& e) noexcept;

  static int report_parse_error(invocation& call, const CLI::ParseError& e, std::span<const char* const> words,
                                std::ostream& out, std::ostream& err);
  // For a value the command line did not give: where it came from (" (from the environment
  // variable X)", " (from FILE)"), else empty.
  static std::string value_source(const CLI::App& root, const CLI::Option& option, std::span<const char* const> words);
  // The option of `at` or one of its parents that was given a value and whose name starts
  // `message` ("--count: ..."), as CLI11 words a bad value; else null.
  static const CLI::Option* option_named_by(const bound_command& at, std::string_view message);
  static std::string configuration_files(const CLI::App& root);

  // "unknown command 'gret'; did you mean 'greet'?" in place of CLI11's list of extras.
  static std::optional<std::string> describe_extras(const bound_command& at);

  // What every parse has: grouped help in the terminal's width and colours (worked out only
  // when help is printed), global options accepted after a command's name, --version.
  void declare_basics(CLI::App& app, const std::ostream& out) const;

  // Configuration and metrics: the options every program has besides its own.
  void declare_globals(CLI::App& app, global_choices& global) const;

  // `completion SHELL` and `docs FORMAT [DIR]`, unless the program is one command (whose
  // arguments could be those words: it takes --completion and --docs instead) or declares
  // commands of those names itself.
  void declare_builtins(CLI::App& app, global_choices& global) const;

  // What completion offers for each option and argument, from what was declared.
  static detail::hint_lookup hints_of(const invocation& call);

  // `PROG --completion SHELL` / `PROG --docs FORMAT` of a one-command program, answered before
  // parsing: the command's own required arguments are not there.
  std::optional<int> run_root_builtin(const CLI::App& app, const std::vector<std::string>& args,
                                      std::ostream& out, std::ostream& err) const;

  int write_reference(const CLI::App& app, std::string_view format, const std::string& directory,
                      std::ostream& out, std::ostream& err) const;

  // Values declared with a prompt that nothing gave: asked for at the terminal, or a usage
  // error when stdin is not one.
  static std::optional<int> ask_missing_values(const bound_command& chosen, std::ostream& err);

  std::string version_;
  flash::runtime_options runtime_options_;
  std::string default_config_;
};

}  // namespace flash

#if defined(FLASH_HEADER_ONLY)
#include <flash/cli/impl/app.ipp>
#endif
