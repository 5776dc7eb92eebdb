#pragma once
// Checks on option and argument values, applied while parsing: a bad value is a usage error
// (exit 2) whose message names the option.

#include <CLI/Error.hpp>  // Validators.hpp uses it without including it
#include <CLI/Validators.hpp>

#include <string>
#include <vector>

namespace flash {

using validator = CLI::Validator;

/// A number within [min, max].
template <class T>
validator range(T min, T max) {
  return CLI::Range(min, max);
}

/// A path to an existing file (not a directory).
inline const validator existing_file = CLI::ExistingFile;
/// A path to an existing directory.
inline const validator existing_directory = CLI::ExistingDirectory;
/// A path that does not exist yet.
inline const validator nonexistent_path = CLI::NonexistentPath;

/// One of a fixed set of words: `flash::one_of({"sha256", "sha512"})`.
inline validator one_of(std::vector<std::string> choices) {
  return CLI::IsMember(std::move(choices));
}

}  // namespace flash
