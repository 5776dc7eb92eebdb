#pragma once
// Errors of the CLI layer: a lookup of a value that does not exist, or with the wrong type.

#include <stdexcept>
#include <string>

namespace flash {

/// Thrown by context::get and friends when a handler asks for a name its command never declared,
/// or asks with a type other than the declared one. It is a bug in the program, not in the input.
class lookup_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace flash
