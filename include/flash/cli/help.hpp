#pragma once
// The help page of a program or command: description, usage, then arguments, commands, options
// and the global options a command accepts from the programs above it, each group wrapped to
// the terminal's width and, on a terminal, in colour.

#include <flash/cli/terminal.hpp>

#include <CLI/App.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flash::detail {

/// `text` broken into lines of at most `width` columns, each after `indent` spaces except the
/// first (which starts where the caller already is, at `first_column`). Newlines in `text` are
/// kept; a word longer than a line gets a line of its own.
inline std::string wrap(std::string_view text, std::size_t indent, std::size_t first_column,
                        std::size_t width) {
  std::string out;
  std::size_t column = first_column;
  const std::size_t limit = std::max<std::size_t>(width, indent + 20);
  bool line_start = true;
  while (!text.empty()) {
    if (text.front() == '\n') {
      out += '\n';
      out.append(indent, ' ');
      column = indent;
      line_start = true;
      text.remove_prefix(1);
      continue;
    }
    if (text.front() == ' ') {
      text.remove_prefix(1);
      continue;
    }
    std::size_t end = std::min(text.find_first_of(" \n"), text.size());
    // "[default: 1]" and "[env: NAME]" stay on one line.
    if (text.front() == '[' && text.substr(0, end).find(']') == std::string_view::npos) {
      const auto close = text.find(']');
      if (close != std::string_view::npos && close < 40 && text.substr(0, close).find('\n') == std::string_view::npos)
        end = close + 1;
    }
    const std::string_view word = text.substr(0, end);
    text.remove_prefix(end);
    if (!line_start && column + 1 + word.size() > limit) {
      out += '\n';
      out.append(indent, ' ');
      column = indent;
      line_start = true;
    }
    if (!line_start) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    line_start = false;
  }
  return out;
}

/// "hello remote add": the names from the program down to `app`.
inline std::string command_path(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* at = app; at; at = at->get_parent()) names.push_back(at->get_name());
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!path.empty()) path += ' ';
    path += *it;
  }
  return path;
}

inline bool is_hidden(const CLI::Option* option) { return option->get_group().empty(); }
inline bool is_hidden(const CLI::App* command) { return command->get_group().empty(); }

/// "-c,--count INT" as the left column shows it.
/// "-c,--count INT" as the left column shows it; a flag that may take a value ("--metrics{text}"
/// in CLI11's declaration) shows as "--metrics[={text,json}]".
/// "-c,--count"; without the "{text}" of a flag that may take a value.
inline std::string option_names(const CLI::Option* option) {
  std::string names = option->get_name(false, true);
  if (auto brace = names.find('{'); brace != std::string::npos) names.erase(brace, names.find('}', brace) + 1 - brace);
  return names;
}

inline std::string option_signature(const CLI::Option* option) {
  std::string signature = option_names(option);
  std::string type = option->get_type_name();
  if (option->get_name(false, true).find('{') != std::string::npos) {
    if (type.starts_with(':')) type.erase(0, 1);
    return type.empty() ? signature : signature + "[=" + type + "]";
  }
  if ((option->get_type_size_max() > 0 || option->get_expected_max() > 1) && !type.empty()) signature += ' ' + type;
  return signature;
}

/// The description, then what help readers look for: default, environment variable, required.
inline std::string option_details(const CLI::Option* option) {
  std::string text = option->get_description();
  if (const std::string& fallback = option->get_default_str(); !fallback.empty())
    text += fmt::format(" [default: {}]", fallback);
  if (const std::string& env = option->get_envname(); !env.empty()) text += fmt::format(" [env: {}]", env);
  if (option->get_required()) text += " [required]";
  return text;
}

struct help_row {
  std::string left;
  std::string right;
};

inline void render_rows(std::string& out, std::string_view heading, const std::vector<help_row>& rows,
                        const terminal::palette& style, std::size_t width) {
  if (rows.empty()) return;
  std::size_t column = 0;
  for (const auto& row : rows) column = std::max(column, row.left.size());
  column = std::min<std::size_t>(column + 4, std::max<std::size_t>(width / 3, 16));
  out += fmt::format("\n{}\n", style.paint(style.heading, heading));
  for (const auto& row : rows) {
    out += "  ";
    out += style.paint(style.name, row.left);
    std::size_t at = 2 + row.left.size();
    if (row.right.empty()) {
      out += '\n';
      continue;
    }
    if (at + 2 > column) {
      out += '\n';
      at = 0;
    }
    out.append(column - at, ' ');
    out += wrap(row.right, column, column, width);
    out += '\n';
  }
}

inline std::string render_help(const CLI::App* app, const terminal::palette& style, std::size_t width,
                               bool with_description = true) {
  std::string out;
  if (with_description && !app->get_description().empty()) out += wrap(app->get_description(), 0, 0, width) + "\n";

  std::vector<help_row> arguments;
  std::vector<std::pair<std::string, std::vector<help_row>>> option_groups;  // in declaration order
  auto group_rows = [&](const std::string& group) -> std::vector<help_row>& {
    for (auto& [name, rows] : option_groups)
      if (name == group) return rows;
    return option_groups.emplace_back(group, std::vector<help_row>{}).second;
  };

  std::string positionals;
  bool has_options = false;
  for (const CLI::Option* option : app->get_options()) {
    if (is_hidden(option)) continue;
    if (option->nonpositional()) {
      has_options = true;
      group_rows(option->get_group()).push_back({option_signature(option), option_details(option)});
    } else {
      const std::string name = option->get_name(true);
      arguments.push_back({name + " " + option->get_type_name(), option_details(option)});
      const std::string shown = option->get_expected_max() > 1 ? name + "..." : name;
      positionals += option->get_required() ? " " + shown : " [" + shown + "]";
    }
  }
  std::vector<std::pair<std::string, std::vector<help_row>>> command_groups;
  for (const CLI::App* command : app->get_subcommands([](const CLI::App* c) { return !is_hidden(c); })) {
    std::string group = command->get_group() == "Subcommands" ? "Commands" : command->get_group();
    auto it = std::find_if(command_groups.begin(), command_groups.end(),
                           [&](const auto& g) { return g.first == group; });
    if (it == command_groups.end()) it = command_groups.insert(command_groups.end(), {group, {}});
    it->second.push_back({command->get_name(), command->get_description()});
  }
  std::string synopsis = command_path(app) + (has_options ? " [OPTIONS]" : "") + positionals;
  if (!command_groups.empty()) synopsis += app->get_require_subcommand_min() > 0 ? " COMMAND" : " [COMMAND]";
  out += fmt::format("\n{} {}\n", style.paint(style.heading, "Usage:"), wrap(synopsis, 7, 7, width));

  render_rows(out, "Arguments:", arguments, style, width);
  for (const auto& [group, rows] : command_groups) render_rows(out, group + ":", rows, style, width);
  for (const auto& [group, rows] : option_groups) render_rows(out, group + ":", rows, style, width);

  // Options of the commands above, which this one accepts too (they fall through).
  std::vector<help_row> inherited;
  for (const CLI::App* above = app->get_parent(); above; above = above->get_parent())
    for (const CLI::Option* option : above->get_options())
      if (!is_hidden(option) && option->nonpositional() && option != above->get_help_ptr() &&
          option != above->get_version_ptr())
        inherited.push_back({option_signature(option), option_details(option)});
  render_rows(out, "Global options:", inherited, style, width);
  if (!app->get_footer().empty()) out += "\n" + wrap(app->get_footer(), 0, 0, width) + "\n";
  return out;
}

}  // namespace flash::detail
