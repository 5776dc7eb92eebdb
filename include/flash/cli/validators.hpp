#pragma once
// Checks on option and argument values, applied while parsing: a bad value is a usage error
// (exit 2) whose message names the option.

#include <CLI/Error.hpp>  // Validators.hpp uses it without including it
#include <CLI/TypeTools.hpp>
#include <CLI/Validators.hpp>

#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace flash {

/// What a value is, for shell completion: a file, a directory, one of some words, or nothing
/// to offer (a number). `unspecified` lets the value's type decide.
enum class value_kind { unspecified, none, path, file, directory, choice };

struct value_hint {
  value_kind kind = value_kind::unspecified;
  std::vector<std::string> choices{};  ///< for value_kind::choice
};

namespace detail {
/// What completion offers for each declared option.
using hint_lookup = std::function<value_hint(const CLI::Option*)>;
}  // namespace detail

/// A CLI11 validator, plus what it tells completion about the values it accepts. Any
/// CLI::Validator converts to one.
class validator : public CLI::Validator {
 public:
  using CLI::Validator::Validator;
  validator(CLI::Validator check, value_hint hint = {})  // NOLINT: converting on purpose
      : CLI::Validator(std::move(check)), hint_(std::move(hint)) {}

  const value_hint& hint() const noexcept { return hint_; }

 private:
  value_hint hint_;
};

/// A number within [min, max]. Text that is no number of type T is refused as such, not as
/// out of range.
template <class T>
validator range(T min, T max) {
  auto check = [min, max](std::string& input) -> std::string {
    const std::string out_of_range =
        "Value " + input + " not in range " + std::to_string(min) + " to " + std::to_string(max);
    T value{};
    if (!CLI::detail::lexical_cast(input, value)) {
      // Digits too many for T are a number still, out of range rather than malformed.
      const std::size_t digits = !input.empty() && (input[0] == '+' || input[0] == '-') ? 1 : 0;
      const bool whole = std::is_integral_v<T> && input.size() > digits &&
                         input.find_first_not_of("0123456789", digits) == std::string::npos;
      if (whole) return out_of_range;
      return "'" + input + "' is not " + (std::is_integral_v<T> ? "a whole number" : "a number");
    }
    if (!(value >= min && value <= max)) return out_of_range;  // NaN too
    return {};
  };
  CLI::Range described(min, max);  // only for the help text, "INT in [1 - 64]"
  return {CLI::Validator(check, described.get_description(), described.get_name()),
          {value_kind::none}};
}

/// Any text but the empty string (an empty path names nothing, and the system's reason for it,
/// ENOENT, would name no file either).
inline const validator not_empty{
    CLI::Validator([](std::string& input) { return input.empty() ? std::string("must not be empty") : std::string(); },
                   "", "NOT_EMPTY"),
    {}};

/// A path to an existing file (not a directory).
inline const validator existing_file{CLI::ExistingFile, {value_kind::file}};
/// A path to an existing directory.
inline const validator existing_directory{CLI::ExistingDirectory, {value_kind::directory}};
/// A path that does not exist yet.
inline const validator nonexistent_path{CLI::NonexistentPath, {value_kind::path}};

/// One of a fixed set of words: `flash::one_of({"sha256", "sha512"})`.
inline validator one_of(std::vector<std::string> choices) {
  value_hint hint{value_kind::choice, choices};
  return {CLI::IsMember(std::move(choices)), std::move(hint)};
}

}  // namespace flash
