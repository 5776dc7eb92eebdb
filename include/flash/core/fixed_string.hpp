#pragma once
// A string literal usable as a template argument, so a command's name is part of its type and
// appears in every compile error about that command.

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace flash {

template <std::size_t N>
struct fixed_string {
  char value[N]{};

  constexpr fixed_string(const char (&text)[N]) noexcept { std::copy_n(text, N, value); }

  constexpr std::string_view view() const noexcept { return {value, N - 1}; }
  constexpr operator std::string_view() const noexcept { return view(); }
};

}  // namespace flash
