#pragma once
// The settings of a declared option, flag or positional argument, written with designated
// initializers: `.option<int>("-c,--count", "How many", {.default_value = 1, .env = "COUNT"})`.
//
// Precedence, highest first: the command line, the environment variable, the configuration
// file (--config), the prompt, the default.

#include <flash/cli/validators.hpp>

#include <optional>
#include <string>

namespace flash {

template <class T>
struct option_settings {
  std::optional<T> default_value{};  ///< used when the option is not given; shown in help
  std::string env{};                 ///< environment variable read when the option is not given
  bool required = false;           ///< parsing fails unless it is given (or set through env)
  std::optional<validator> check{};  ///< e.g. flash::range(1, 10), flash::existing_file
  std::string prompt{};  ///< when missing, ask for it at the terminal with this question
  bool secret = false;   ///< with prompt: a password, typed without echo
};

template <class T>
struct arg_settings {
  std::optional<T> default_value{};  ///< makes the argument optional
  bool optional = false;           ///< optional without a default (value-initialized)
  std::string env{};
  std::optional<validator> check{};
  std::string prompt{};  ///< when missing, ask for it at the terminal with this question
  bool secret = false;   ///< with prompt: a password, typed without echo
};

struct flag_settings {
  std::string env{};     ///< a variable whose value (true/false, 1/0) sets the flag
  std::string prompt{};  ///< when not given, ask this yes/no question at the terminal
};

}  // namespace flash
