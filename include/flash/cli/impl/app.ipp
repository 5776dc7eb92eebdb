#pragma once
// The definitions of app.hpp: included by it when Flash is header-only, else by <flash/src.hpp>.

#include <flash/cli/app.hpp>
#include <flash/cli/completion.hpp>
#include <flash/cli/config.hpp>
#include <flash/cli/help.hpp>
#include <flash/cli/process.hpp>
#include <flash/cli/prompt.hpp>
#include <flash/cli/reference.hpp>
#include <flash/cli/suggest.hpp>
#include <flash/core/error.hpp>
#include <flash/exec/signals.hpp>

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

namespace flash {

FLASH_DECL int cli::run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) const {
  detail::prepare_process();
  const int status = run_command_line(argc, argv, out, err);
  // Output lost on a full disk or a closed pipe is a failure of a command that succeeded.
  if (status != exit_code::success || &out != &std::cout) return status;
  if (auto failure = detail::standard_output_failure()) {
    err << error_line(err, node_->name, "writing standard output: " + *failure);
    return exit_code::failure;
  }
  return status;
}

FLASH_DECL int cli::run_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err) const {
  detail::clear_interrupt();
  const std::span<const char* const> words(argv + std::min(argc, 1), argv + argc);

  // Most command lines name none of the built-in commands and options and do not ask for
  // help; declaring those costs as much as parsing, so they are left out unless a word could
  // be one of them. A command line the lean parse refuses is parsed again with everything
  // declared, so that help and error messages are the same either way.
  if (!may_use_builtins(words)) {
    invocation lean(*node_, false);
    if (auto status = declare(lean, false, out, err)) return *status;
    bool parsed = false;
    try {
      lean.app.parse(argc, argv);
      parsed = true;
    } catch (const CLI::ParseError&) {
    }
    if (parsed && find_chosen(lean).node->invoke && !redeclares_builtins(lean)) return execute(lean, out, err);
  }

  invocation full(*node_, true);
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
    return report_parse_error(full, e, words, out, err);
  }
  if (full.global.completion && full.global.completion->parsed()) {
    out << detail::completion_script(full.global.shell, node_->name);
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

FLASH_DECL bool cli::may_use_builtins(std::span<const char* const> args) const {
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

FLASH_DECL bool cli::redeclares_builtins(const invocation& call) {
  for (const bound_command& command : call.bound) {
    const bool is_root = command.app == &call.app;
    for (const CLI::Option* option : command.app->get_options()) {
      for (const std::string& name : option->get_lnames())
        if (name == "help" || (is_root && is_builtin_option(name))) return true;
      for (const std::string& name : option->get_snames())
        if (name == "h") return true;
    }
  }
  return false;
}

FLASH_DECL std::optional<int> cli::declare(invocation& call, bool with_builtins, std::ostream& out, std::ostream& err) const {
  try {
    declare_basics(call.app, out);
    if (with_builtins) declare_globals(call.app, call.global);
    bind(call.app, *node_, node_->name, nullptr, call.bound);
    if (with_builtins) declare_builtins(call.app, call.global);
  } catch (const std::exception& e) {
    err << fmt::format("{}: error in the command declarations: {}\n", node_->name, e.what());
    return exit_code::failure;
  }
  return std::nullopt;
}

FLASH_DECL int cli::execute(const invocation& call, std::ostream& out, std::ostream& err) const {
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
    if (!runtime::interrupt_signal()) err << error_line(err, chosen.store.command(), failure_message(e));
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

FLASH_DECL void cli::bind(CLI::App& app, const detail::command_node& node, std::string path,
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

FLASH_DECL const cli::bound_command& cli::find_chosen(const invocation& call) {
  const CLI::App* at = &call.app;
  for (auto chosen = at->get_subcommands(); !chosen.empty(); chosen = at->get_subcommands())
    at = chosen.front();
  for (const auto& b : call.bound)
    if (b.app == at) return b;
  return call.bound.front();
}

FLASH_DECL std::string cli::paint_report(const std::string& report, const std::ostream& to) {
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

FLASH_DECL std::string_view cli::failure_message(const std::exception& e) noexcept {
  // "the passphrases do not match: validation error": the kind adds nothing the reader needs.
  if (const auto* failure = dynamic_cast<const flash::error*>(&e);
      failure && failure->code() == errc::validation_error && !failure->cause())
    return failure->subject();
  return e.what();
}

FLASH_DECL std::string cli::error_line(const std::ostream& to, std::string_view command, std::string_view message) {
  const auto style = style_of(to);
  return fmt::format("{}: {} {}\n", command, style.paint(style.error, "error:"), message);
}

FLASH_DECL int cli::report_parse_error(invocation& call, const CLI::ParseError& e, std::span<const char* const> words,
                                       std::ostream& out, std::ostream& err) {
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
  if (dynamic_cast<const CLI::ConfigError*>(&e)) {
    const auto* located = dynamic_cast<const detail::config_file_error*>(&e);
    const std::string line = located && located->line() > 0 ? fmt::format(":{}", located->line()) : "";
    message = fmt::format("{}{}: {}", configuration_files(call.app), line, message);
  }
  // A bad value from the environment or a configuration file: say which, as the command line
  // does not show it. CLI11 starts the message with the option's name.
  if (dynamic_cast<const CLI::ValidationError*>(&e) || dynamic_cast<const CLI::ConversionError*>(&e)) {
    if (const CLI::Option* option = option_named_by(at, message))
      message.insert(option->get_name().size(), value_source(call.app, *option, words));
  }
  err << error_line(err, at.store.command(), message)
      << fmt::format("Run '{} --help' for more information.\n", at.store.command());
  return exit_code::usage;
}

FLASH_DECL const CLI::Option* cli::option_named_by(const bound_command& at, std::string_view message) {
  for (const bound_command* b = &at; b; b = b->parent)
    for (const CLI::Option* option : b->app->get_options()) {
      const std::string& name = option->get_name();
      if (option->count() > 0 && message.starts_with(name) && message.substr(name.size()).starts_with(':'))
        return option;
    }
  return nullptr;
}

FLASH_DECL std::string cli::value_source(const CLI::App& root, const CLI::Option& option,
                                         std::span<const char* const> words) {
  for (std::string_view word : words) {
    if (word == "--") break;
    for (const auto& name : option.get_lnames())
      if (word.starts_with("--" + name) && (word.size() == name.size() + 2 || word[name.size() + 2] == '='))
        return {};
    // A single dash may join several short names, "-lc5"; a letter of a joined value may also
    // match, and then the source goes unnamed rather than named wrongly.
    if (word.size() > 1 && word[0] == '-' && word[1] != '-')
      for (const auto& name : option.get_snames())
        if (word.substr(1).find(name) != std::string_view::npos) return {};
  }
  if (option.get_lnames().empty() && option.get_snames().empty()) return {};  // a positional argument
  const std::string& variable = option.get_envname();
  if (const char* value = variable.empty() ? nullptr : std::getenv(variable.c_str()); value && *value)
    return fmt::format(" (from the environment variable {})", variable);
  const std::string files = configuration_files(root);
  return files.empty() ? std::string() : fmt::format(" (from {})", files);
}

FLASH_DECL std::string cli::configuration_files(const CLI::App& root) {
  const CLI::Option* config = root.get_config_ptr();
  if (!config) return {};
  std::string names;
  for (const auto& file : config->results()) names += (names.empty() ? "" : ", ") + file;
  if (names.empty()) names = config->get_default_str();
  return names;
}

FLASH_DECL std::optional<std::string> cli::describe_extras(const bound_command& at) {
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

FLASH_DECL void cli::declare_basics(CLI::App& app, const std::ostream& out) const {
  app.formatter_fn([&out](const CLI::App* at, std::string, CLI::AppFormatMode) {
    return detail::render_help(at, style_of(out), terminal::width(terminal::descriptor_of(out)));
  });
  app.fallthrough();
  if (!version_.empty()) app.set_version_flag("--version", version_);
}

FLASH_DECL void cli::declare_globals(CLI::App& app, global_choices& global) const {
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

FLASH_DECL void cli::declare_builtins(CLI::App& app, global_choices& global) const {
  const value_hint shells{value_kind::choice, detail::completion_shells};
  const value_hint formats{value_kind::choice, reference_formats};
  auto declared = [&](std::string_view name) {
    return std::any_of(node_->children.begin(), node_->children.end(),
                       [&](const detail::command_node& c) { return c.name == name; });
  };
  if (node_->invoke) {
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
        "completion", fmt::format("Print a shell completion script: source <({} completion bash)", node_->name));
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

FLASH_DECL detail::hint_lookup cli::hints_of(const invocation& call) {
  auto hints = std::make_shared<std::map<const CLI::Option*, value_hint>>(call.global.hints.begin(),
                                                                          call.global.hints.end());
  for (const auto& b : call.bound)
    b.store.for_each_bound([&](const CLI::Option* option, const value_hint& hint) { (*hints)[option] = hint; });
  return [hints](const CLI::Option* option) -> value_hint {
    if (auto it = hints->find(option); it != hints->end()) return it->second;
    return {value_kind::none};
  };
}

FLASH_DECL std::optional<int> cli::run_root_builtin(const CLI::App& app, const std::vector<std::string>& args,
                                    std::ostream& out, std::ostream& err) const {
  if (!node_->invoke || args.empty()) return std::nullopt;
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
      err << error_line(err, node_->name,
                        fmt::format("{}: '{}' is not one of {}", name, value, fmt::join(allowed, ", ")));
      return exit_code::usage;
    }
    if (name == "--completion") {
      out << detail::completion_script(value, node_->name);
      return exit_code::success;
    }
    return write_reference(app, value, ".", out, err);
  }
  return std::nullopt;
}

FLASH_DECL int cli::write_reference(const CLI::App& app, std::string_view format, const std::string& directory,
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
      err << error_line(err, node_->name, fmt::format("writing {}: {}", path, std::strerror(error_number)));
      return exit_code::failure;
    }
    out << path << '\n';
  }
  return exit_code::success;
}

FLASH_DECL std::optional<int> cli::ask_missing_values(const bound_command& chosen, std::ostream& err) {
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

}  // namespace flash
