#pragma once
// The readable name of a type, for error messages ("declared as int, asked for std::string").

#include <string_view>

namespace flash::detail {

template <class T>
constexpr std::string_view type_name() noexcept {
  std::string_view name = __PRETTY_FUNCTION__;
  // GCC: "... [with T = int; std::string_view = ...]", Clang: "... [T = int]"
  auto start = name.find("T = ");
  if (start == std::string_view::npos) return name;
  start += 4;
  auto end = name.find_first_of(";]", start);
  return name.substr(start, end - start);
}

}  // namespace flash::detail
