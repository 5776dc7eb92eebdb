#pragma once
// Option values from a configuration file (TOML, or INI: `--config FILE`), read by CLI11, with
// the precedence users expect: the command line, then the environment, then the file, then
// the default. CLI11 alone would let the file win over the environment; this reader drops the
// file's value for any option whose environment variable is set.
//
//   # hello.toml
//   count = 3            # an option of the program
//   [greet]              # a section per command, nested as [remote.add]
//   loud = true

#include <CLI/App.hpp>
#include <CLI/Config.hpp>

#include <algorithm>
#include <cstdlib>
#include <istream>
#include <string>
#include <vector>

namespace flash::detail {

class layered_config : public CLI::ConfigTOML {
 public:
  explicit layered_config(const CLI::App* root) : root_(root) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
    std::erase_if(items, [this](const CLI::ConfigItem& item) {
      const CLI::Option* option = resolve(item);
      if (!option || option->get_envname().empty()) return false;
      const char* value = std::getenv(option->get_envname().c_str());
      return value != nullptr && *value != '\0';
    });
    return items;
  }

 private:
  // The option an item names, looked up as CLI11 does: by long name, short name, then
  // positional name, in the command its sections name.
  const CLI::Option* resolve(const CLI::ConfigItem& item) const {
    const CLI::App* at = root_;
    for (const std::string& parent : item.parents) {
      if (parent == root_->get_name() && at == root_) continue;
      const CLI::App* next = nullptr;
      for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; }))
        if (sub->get_name() == parent) next = sub;
      if (!next) return nullptr;
      at = next;
    }
    for (const std::string& name : {"--" + item.name, "-" + item.name, item.name})
      for (const CLI::Option* option : at->get_options())
        if (option->check_name(name)) return option;
    return nullptr;
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
