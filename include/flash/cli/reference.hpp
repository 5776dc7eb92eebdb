#pragma once
// Reference documentation generated from the command registry: a man page per command
// (`PROG docs man [DIR]`) and one Markdown reference (`PROG docs markdown`).

#include <flash/cli/help.hpp>

#include <CLI/App.hpp>
#include <fmt/format.h>

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace flash::detail {

struct reference_page {
  std::string file_name;  ///< "hello-greet.1"
  std::string text;
};

/// Text made safe for roff: backslashes, hyphens (which roff would render as hyphens, not
/// minus signs) and a leading '.' or '\'' (which roff would read as a request).
inline std::string roff_escape(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
    line_start = c == '\n';
  }
  return out;
}

inline std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

inline std::string page_name(const CLI::App* app) {
  std::string name = command_path(app);
  for (char& c : name)
    if (c == ' ') c = '-';
  return name;
}

/// Every command of the program, the program first, depth first.
inline void collect_commands(const CLI::App* app, std::vector<const CLI::App*>& out) {
  out.push_back(app);
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App* c) { return !is_hidden(c); }))
    collect_commands(sub, out);
}

inline std::vector<const CLI::App*> all_commands(const CLI::App& root) {
  std::vector<const CLI::App*> commands;
  collect_commands(&root, commands);
  return commands;
}

/// The first sentence (or line) of a description, for NAME sections and summaries.
inline std::string summary(std::string_view description) {
  auto end = description.find('\n');
  if (auto stop = description.find(". "); stop < end) end = stop;
  return std::string(description.substr(0, end));
}

inline std::vector<const CLI::Option*> visible_options(const CLI::App* app, bool positional) {
  std::vector<const CLI::Option*> options;
  for (const CLI::Option* option : app->get_options())
    if (!is_hidden(option) && option->nonpositional() != positional) options.push_back(option);
  return options;
}

inline std::string man_page(const CLI::App* app, std::string_view version) {
  const std::string path = command_path(app);
  const CLI::App* root = app;
  while (root->get_parent()) root = root->get_parent();
  const std::string& program = root->get_name();
  std::string out = fmt::format(".TH \"{}\" 1 \"\" \"{}\" \"User Commands\"\n", upper(page_name(app)),
                                roff_escape(version.empty() ? program : fmt::format("{} {}", program, version)));
  out += fmt::format(".SH NAME\n{} \\- {}\n", roff_escape(page_name(app)),
                     roff_escape(app->get_description().empty() ? path : summary(app->get_description())));

  out += fmt::format(".SH SYNOPSIS\n.B {}\n", roff_escape(path));
  if (!visible_options(app, false).empty()) out += "[\\fIOPTIONS\\fR]\n";
  for (const CLI::Option* option : visible_options(app, true)) {
    std::string name = roff_escape(option->get_name(true));
    if (option->get_expected_max() > 1) name += "...";
    out += option->get_required() ? fmt::format("\\fI{}\\fR\n", name) : fmt::format("[\\fI{}\\fR]\n", name);
  }
  if (!app->get_subcommands([](const CLI::App* c) { return !is_hidden(c); }).empty()) out += "\\fICOMMAND\\fR\n";

  if (!app->get_description().empty())
    out += fmt::format(".SH DESCRIPTION\n{}\n", roff_escape(app->get_description()));

  auto option_entry = [](const CLI::Option* option, std::string label) {
    std::string entry = fmt::format(".TP\n\\fB{}\\fR", roff_escape(label));
    if (option->nonpositional() && option->get_type_size_max() > 0 && !option->get_type_name().empty())
      entry += fmt::format(" \\fI{}\\fR", roff_escape(option->get_type_name()));
    entry += fmt::format("\n{}\n", roff_escape(option_details(option)));
    return entry;
  };
  if (auto arguments = visible_options(app, true); !arguments.empty()) {
    out += ".SH ARGUMENTS\n";
    for (const CLI::Option* option : arguments) out += option_entry(option, option->get_name(true));
  }
  if (auto options = visible_options(app, false); !options.empty()) {
    out += ".SH OPTIONS\n";
    for (const CLI::Option* option : options) out += option_entry(option, option_names(option));
  }
  std::vector<std::string> see_also;
  if (auto subs = app->get_subcommands([](const CLI::App* c) { return !is_hidden(c); }); !subs.empty()) {
    out += ".SH COMMANDS\n";
    for (const CLI::App* sub : subs) {
      out += fmt::format(".TP\n\\fB{}\\fR\n{} See \\fB{}\\fR(1).\n", roff_escape(sub->get_name()),
                         roff_escape(summary(sub->get_description())), roff_escape(page_name(sub)));
      see_also.push_back(page_name(sub));
    }
  }
  std::vector<std::string> environment;
  for (const CLI::App* level = app; level; level = level->get_parent())
    for (const CLI::Option* option : level->get_options())
      if (!option->get_envname().empty() && !is_hidden(option))
        environment.push_back(fmt::format(".TP\n.B {}\nSets {}.\n", roff_escape(option->get_envname()),
                                          roff_escape(option_names(option))));
  if (!environment.empty()) {
    out += ".SH ENVIRONMENT\n";
    for (const auto& entry : environment) out += entry;
  }
  out += ".SH EXIT STATUS\n"
         ".TP\n.B 0\nSuccess.\n"
         ".TP\n.B 1\nThe command failed; the message on standard error says why.\n"
         ".TP\n.B 2\nThe command line was wrong (an unknown or missing option, a bad value).\n"
         ".TP\n.B 130\nInterrupted by Ctrl\\-C (SIGINT); 143 for SIGTERM.\n";
  if (app->get_parent()) see_also.insert(see_also.begin(), page_name(app->get_parent()));
  if (!see_also.empty()) {
    out += ".SH SEE ALSO\n";
    for (std::size_t i = 0; i < see_also.size(); ++i)
      out += fmt::format(".BR {} (1){}\n", roff_escape(see_also[i]), i + 1 < see_also.size() ? "," : "");
  }
  return out;
}

/// One man page per command, named "program-command-subcommand.1".
inline std::vector<reference_page> man_pages(const CLI::App& root, std::string_view version) {
  std::vector<reference_page> pages;
  for (const CLI::App* app : all_commands(root)) pages.push_back({page_name(app) + ".1", man_page(app, version)});
  return pages;
}

/// A Markdown reference of every command: usage, arguments and options.
inline std::string markdown_reference(const CLI::App& root, std::string_view version) {
  std::string out = fmt::format("# {}{}\n", root.get_name(), version.empty() ? "" : fmt::format(" {}", version));
  for (const CLI::App* app : all_commands(root)) {
    if (app != &root) out += fmt::format("\n## {}\n", command_path(app));
    if (!app->get_description().empty()) out += fmt::format("\n{}\n", app->get_description());
    out += fmt::format("\n```{}```\n", render_help(app, terminal::palette{}, 100, false));
    if (auto subs = app->get_subcommands([](const CLI::App* c) { return !is_hidden(c); }); !subs.empty()) {
      out += "\n| command | what it does |\n|---|---|\n";
      for (const CLI::App* sub : subs) {
        std::string anchor = command_path(sub);
        for (char& c : anchor)
          if (c == ' ') c = '-';
        out += fmt::format("| [`{}`](#{}) | {} |\n", sub->get_name(), anchor, summary(sub->get_description()));
      }
    }
  }
  return out;
}

}  // namespace flash::detail
