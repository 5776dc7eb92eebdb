#pragma once
// Option values from a configuration file (TOML, or INI: `--config FILE`), read by CLI11, with
// the precedence users expect: the command line, then the environment, then the file, then
// the default. CLI11 alone would let the file win over the environment; this reader drops the
// file's value for any option whose environment variable is set. CLI11 alone would also skip
// what it does not know; this reader refuses a key or section that names no option or command,
// with its line, so that a misspelt setting is not silently without effect.
//
//   # hello.toml
//   count = 3            # an option of the program
//   [greet]              # a section per command, nested as [remote.add]
//   loud = true

#include <flash/cli/suggest.hpp>

#include <CLI/App.hpp>
#include <CLI/Config.hpp>
#include <CLI/Error.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <istream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace flash::detail {

/// A configuration file that names what no command has; line() is where, counted from 1 (0:
/// not found). The file's name is added where the error is reported.
class config_file_error : public CLI::ConfigError {
 public:
  config_file_error(std::string message, std::size_t line) : CLI::ConfigError(std::move(message)), line_(line) {}
  std::size_t line() const noexcept { return line_; }

 private:
  std::size_t line_;
};

class layered_config : public CLI::ConfigTOML {
 public:
  explicit layered_config(const CLI::App* root) : root_(root) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
    std::istringstream copy(text);
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(copy);
    for (const CLI::ConfigItem& item : items) check_known(item, text);
    std::erase_if(items, [this](const CLI::ConfigItem& item) {
      const CLI::Option* option = option_in(command_of(item.parents), item.name);
      if (!option || option->get_envname().empty()) return false;
      const char* value = std::getenv(option->get_envname().c_str());
      return value != nullptr && *value != '\0';
    });
    return items;
  }

 private:
  // The command a list of sections names, or null.
  const CLI::App* command_of(const std::vector<std::string>& sections) const {
    const CLI::App* at = root_;
    for (const std::string& section : sections) {
      if (section == root_->get_name() && at == root_) continue;
      const CLI::App* next = nullptr;
      for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; }))
        if (sub->get_name() == section) next = sub;
      if (!next) return nullptr;
      at = next;
    }
    return at;
  }

  // The option a key names in `at`, looked up as CLI11 does: by long name, short name, then
  // positional name.
  static const CLI::Option* option_in(const CLI::App* at, const std::string& key) {
    if (!at) return nullptr;
    for (const std::string& name : {"--" + key, "-" + key, key})
      for (const CLI::Option* option : at->get_options())
        if (option->check_name(name)) return option;
    return nullptr;
  }

  void check_known(const CLI::ConfigItem& item, const std::string& text) const {
    const CLI::App* at = command_of(item.parents);
    if (!at) {
      std::string section;
      for (const auto& part : item.parents) section += (section.empty() ? "" : ".") + part;
      std::size_t line = line_of(text, [&](std::string_view key, bool is_section) {
        return is_section ? key == section : key.starts_with(section + ".");
      });
      throw config_file_error(fmt::format("unknown section '{}': no command has that name", section), line);
    }
    if (item.name == "++" || item.name == "--" || option_in(at, item.name)) return;  // "++", "--": a section's ends
    std::vector<std::string> names;
    for (const CLI::Option* option : at->get_options())
      if (option->get_configurable())
        for (const auto& name : option->get_lnames()) names.push_back(name);
    std::string message = fmt::format("unknown option '{}'", item.name);
    if (item.name.find_first_of(" \t") != std::string::npos)
      message = fmt::format("expected 'name = value' or '[section]', found '{}'", item.name);
    else if (auto match = closest_match(item.name, names))
      message += fmt::format("; did you mean '{}'?", *match);
    std::size_t line = line_of(text, [&](std::string_view key, bool is_section) {
      return !is_section && (key == item.name || key.ends_with("." + item.name));
    });
    throw config_file_error(std::move(message), line);
  }

  // The first line whose key (before '=', or the whole line) or [section] `matches`.
  template <class Match>
  static std::size_t line_of(const std::string& text, Match matches) {
    std::istringstream lines(text);
    std::string line;
    for (std::size_t number = 1; std::getline(lines, line); ++number) {
      std::string_view view = trimmed(line);
      if (view.empty() || view.front() == '#' || view.front() == ';') continue;
      const bool is_section = view.front() == '[' && view.back() == ']';
      std::string_view key = is_section ? trimmed(view.substr(1, view.size() - 2)) : trimmed(view.substr(0, view.find('=')));
      if (is_section && key.size() > 1 && key.front() == '[' && key.back() == ']') key = key.substr(1, key.size() - 2);
      if (!is_section && key.size() > 1 && (key.front() == '"' || key.front() == '\'') && key.back() == key.front())
        key = key.substr(1, key.size() - 2);
      if (matches(key, is_section)) return number;
    }
    return 0;
  }

  static std::string_view trimmed(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
  }

  const CLI::App* root_;
};

/// A value as TOML writes it: numbers and booleans bare, anything else quoted.
inline std::string toml_value(const std::string& text) {
  if (text == "true" || text == "false") return text;
  char* end = nullptr;
  if (!text.empty()) {
    (void)std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size()) return text;
  }
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + '"';
}

/// The values `chosen` and the commands above it would run with, as a configuration file that
/// --config reads back: each level's options under its section.
inline std::string effective_configuration(const CLI::App* chosen, const std::vector<const CLI::Option*>& skip) {
  std::vector<const CLI::App*> chain;
  for (const CLI::App* at = chosen; at; at = at->get_parent()) chain.insert(chain.begin(), at);
  std::string out;
  std::string section;
  for (const CLI::App* at : chain) {
    if (at != chain.front()) {
      section += section.empty() ? at->get_name() : "." + at->get_name();
      out += "\n[" + section + "]\n";
    }
    for (const CLI::Option* option : at->get_options()) {
      if (option->get_group().empty() || !option->get_configurable() ||
          std::find(skip.begin(), skip.end(), option) != skip.end())
        continue;
      std::string key = option->get_lnames().empty() ? option->get_name(true) : option->get_lnames().front();
      std::vector<std::string> given = option->results();
      if (given.empty() && option->get_type_size_max() == 0) given.push_back("false");
      if (given.empty() && !option->get_default_str().empty()) given.push_back(option->get_default_str());
      if (given.empty()) {
        out += "# " + key + " is not set\n";
      } else if (given.size() == 1 && option->get_expected_max() <= 1) {
        out += key + " = " + toml_value(given.front()) + "\n";
      } else {
        std::string list;
        for (const auto& value : given) list += (list.empty() ? "" : ", ") + toml_value(value);
        out += key + " = [" + list + "]\n";
      }
    }
  }
  return out;
}

}  // namespace flash::detail
