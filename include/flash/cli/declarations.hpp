#pragma once
// Declaring a command's options, flags and positional arguments. Shared by flash::cmd and
// flash::cli (whose options are global: every command can read them).

#include <flash/cli/command_node.hpp>
#include <flash/cli/option_settings.hpp>
#include <flash/cli/values.hpp>

#include <CLI/App.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace flash::detail {

template <class T>
inline constexpr bool is_vector = false;
template <class T, class A>
inline constexpr bool is_vector<std::vector<T, A>> = true;

/// The name a handler reads a value by: the long name of "-c,--count", else the positional
/// name, else the short name.
inline std::string key_of(std::string_view names) {
  std::string_view shortest_form;
  while (!names.empty()) {
    auto comma = names.find(',');
    auto name = names.substr(0, comma);
    names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name.starts_with("--")) return std::string(name.substr(2));
    if (!name.starts_with('-')) return std::string(name);
    if (shortest_form.empty()) shortest_form = name.substr(1);
  }
  return std::string(shortest_form);
}

template <class T>
struct element_of {
  using type = T;
};
template <class T, class A>
struct element_of<std::vector<T, A>> {
  using type = T;
};

/// What completion offers for a value of type T when its check says nothing: paths for text.
template <class T>
value_hint default_hint() {
  using element = typename element_of<T>::type;
  if constexpr (std::is_convertible_v<std::string, element>) return {value_kind::path};
  return {value_kind::none};
}

/// Applies what options and arguments share, then binds `key` to `option` in `store`.
template <class T, class Settings>
void finish_declaration(CLI::Option* option, const Settings& settings, values& store, const std::string& key) {
  if (!settings.env.empty()) option->envname(settings.env);
  if (settings.check) option->check(*settings.check);
  store.bind(key, option);
  value_hint hint = settings.check ? settings.check->hint() : value_hint{};
  store.set_hint(key, hint.kind == value_kind::unspecified ? default_hint<T>() : std::move(hint));
  if (!settings.prompt.empty()) store.set_prompt(key, {settings.prompt, settings.secret});
}

// The declarations themselves depend on the value's type only, not on the command declaring
// them (each flash::cmd<"name"> is a type of its own): one copy of each serves every command.

/// Declares an option with a value of type T (a std::vector<T> takes the option many times).
template <class T>
command_node::declaration option_declaration(std::string names, std::string description, option_settings<T> settings) {
  return [names = std::move(names), description = std::move(description),
          settings = std::move(settings)](CLI::App& app, values& store) {
    std::string key = key_of(names);
    T& target = store.declare<T>(key, settings.default_value.value_or(T{}));
    CLI::Option* option = app.add_option(names, target, description);
    if (settings.default_value) option->capture_default_str();
    // A value to prompt for is required too, but asked for rather than refused when missing.
    if (settings.required && settings.prompt.empty()) option->required();
    finish_declaration<T>(option, settings, store, key);
  };
}

/// Declares an on/off flag.
inline command_node::declaration flag_declaration(std::string names, std::string description, flag_settings settings) {
  return [names = std::move(names), description = std::move(description),
          settings = std::move(settings)](CLI::App& app, values& store) {
    std::string key = key_of(names);
    bool& target = store.declare<bool>(key, false);
    CLI::Option* option = app.add_flag(names, target, description);
    if (!settings.env.empty()) option->envname(settings.env);
    store.bind(key, option);
    if (!settings.prompt.empty()) store.set_prompt(key, {settings.prompt, false, true});
  };
}

/// Declares a positional argument; a std::vector<T> takes all the remaining ones.
template <class T>
command_node::declaration arg_declaration(std::string name, std::string description, arg_settings<T> settings) {
  return [name = std::move(name), description = std::move(description),
          settings = std::move(settings)](CLI::App& app, values& store) {
    T& target = store.declare<T>(name, settings.default_value.value_or(T{}));
    CLI::Option* option = app.add_option(name, target, description);
    if (settings.default_value) option->capture_default_str();
    if (!settings.default_value && !settings.optional && settings.prompt.empty()) option->required();
    finish_declaration<T>(option, settings, store, name);
  };
}

/// The declaring half of flash::cmd and flash::cli. The node is held through a pointer, so
/// that each step of a chain such as `.option(...).flag(...)` moves a pointer, not the node.
template <class Derived>
class declarations {
 public:
  /// An option with a value of type T (a std::vector<T> takes the option many times).
  template <class T>
  Derived option(std::string names, std::string description, option_settings<T> settings = {}) && {
    node_->declarations.push_back(option_declaration<T>(std::move(names), std::move(description), std::move(settings)));
    return static_cast<Derived&&>(*this);
  }

  /// An on/off flag: `.flag("-l,--loud", "Shout")`, read with `ctx.get<bool>("loud")`.
  Derived flag(std::string names, std::string description, flag_settings settings = {}) && {
    node_->declarations.push_back(flag_declaration(std::move(names), std::move(description), std::move(settings)));
    return static_cast<Derived&&>(*this);
  }

  /// A positional argument; a std::vector<T> takes all the remaining ones. Required unless it
  /// has a default or is marked optional.
  template <class T>
  Derived arg(std::string name, std::string description, arg_settings<T> settings = {}) && {
    node_->declarations.push_back(arg_declaration<T>(std::move(name), std::move(description), std::move(settings)));
    return static_cast<Derived&&>(*this);
  }

  /// Positional arguments taking every remaining value: `.args<std::string>("files", "...")`.
  template <class T>
  Derived args(std::string name, std::string description,
               arg_settings<std::vector<T>> settings = {}) && {
    return static_cast<Derived&&>(*this).template arg<std::vector<T>>(
        std::move(name), std::move(description), std::move(settings));
  }

  /// At most one of these options may be given.
  Derived exclusive(std::vector<std::string> names) && {
    node_->exclusive_groups.push_back(std::move(names));
    return static_cast<Derived&&>(*this);
  }

 protected:
  declarations() = default;
  explicit declarations(std::unique_ptr<command_node> node) : node_(std::move(node)) {}

  std::unique_ptr<command_node> node_ = std::make_unique<command_node>();
};

}  // namespace flash::detail
