#pragma once
// The parsed values of one command: each declared option, flag or argument, by name, with its type.

#include <flash/cli/errors.hpp>
#include <flash/cli/validators.hpp>
#include <flash/core/type_name.hpp>

#include <CLI/App.hpp>
#include <fmt/format.h>

#include <any>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace flash {

/// A value to ask for at the terminal when the command line, environment and configuration
/// file left it out.
struct prompt_request {
  std::string question;
  bool secret = false;
  bool yes_no = false;  ///< a flag: asked as a confirmation
};

class values {
 public:
  explicit values(std::string command) : command_(std::move(command)) {}
  values(const values&) = delete;
  values& operator=(const values&) = delete;

  /// Creates the slot for `name` holding `initial`; CLI11 writes into the returned reference.
  template <class T>
  T& declare(std::string name, T initial) {
    auto [it, inserted] = slots_.try_emplace(std::move(name));
    if (!inserted)
      throw lookup_error(fmt::format("'{}' is declared twice in command '{}'", it->first, command_));
    it->second.value = std::move(initial);
    it->second.type_name = &detail::type_name<T>;
    return *std::any_cast<T>(&it->second.value);
  }

  void bind(std::string_view name, CLI::Option* option) { find(name).option = option; }
  CLI::Option* option(std::string_view name) const { return find(name).option; }

  /// What completion may offer for `name`'s values.
  void set_hint(std::string_view name, value_hint hint) { find(name).hint = std::move(hint); }

  void set_prompt(std::string_view name, prompt_request request) {
    find(name).prompt = std::move(request);
    prompted_.emplace_back(name);
  }

  /// Calls f(option, request, hint) for each value that is to be asked for when missing.
  template <class F>
  void for_each_prompt(F&& f) const {
    for (const auto& name : prompted_) {  // in the order they were declared
      const slot& s = find(name);
      if (s.option) f(s.option, s.prompt, s.hint);
    }
  }

  /// Calls f(option, hint) for each option and argument bound to CLI11.
  template <class F>
  void for_each_bound(F&& f) const {
    for (const auto& [name, s] : slots_)
      if (s.option) f(static_cast<const CLI::Option*>(s.option), s.hint);
  }

  template <class T>
  const T& get(std::string_view name) const {
    const slot& s = find(name);
    if (const T* value = std::any_cast<T>(&s.value)) return *value;
    throw lookup_error(fmt::format("'{}' in command '{}' holds {}, not {}", name, command_,
                                   s.type_name(), detail::type_name<T>()));
  }

  bool contains(std::string_view name) const { return slots_.find(name) != slots_.end(); }

  /// How many times `name` was given on the command line or through its environment variable.
  std::size_t count(std::string_view name) const {
    const CLI::Option* option = find(name).option;
    return option ? option->count() : 0;
  }

  const std::string& command() const noexcept { return command_; }

 private:
  struct slot {
    std::any value;
    std::string_view (*type_name)() = nullptr;
    CLI::Option* option = nullptr;
    value_hint hint{};
    prompt_request prompt{};
  };

  const slot& find(std::string_view name) const {
    auto it = slots_.find(name);
    if (it == slots_.end())
      throw lookup_error(
          fmt::format("command '{}' declares no option or argument named '{}'", command_, name));
    return it->second;
  }
  slot& find(std::string_view name) { return const_cast<slot&>(std::as_const(*this).find(name)); }

  std::string command_;
  std::map<std::string, slot, std::less<>> slots_;
  std::vector<std::string> prompted_;
};

}  // namespace flash
