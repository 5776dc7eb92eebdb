#pragma once
// What a program may assume about the terminal it writes to: whether to use colour, and how
// wide a line is.
//
// Colour follows the common conventions (https://no-color.org, https://bixense.com/clicolors):
// NO_COLOR set to anything non-empty turns it off; otherwise CLICOLOR_FORCE (not "0") turns it
// on; otherwise a stream has colour when it is a terminal and TERM is not "dumb".

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <ostream>
#include <string>
#include <string_view>
#include <sys/ioctl.h>
#include <unistd.h>

namespace flash::terminal {

/// The file descriptor behind std::cout / std::cerr / std::clog, or -1 for any other stream.
inline int descriptor_of(const std::ostream& stream) noexcept {
  if (&stream == &std::cout) return STDOUT_FILENO;
  if (&stream == &std::cerr || &stream == &std::clog) return STDERR_FILENO;
  return -1;
}

inline bool is_terminal(int fd) noexcept { return fd >= 0 && ::isatty(fd) == 1; }

inline bool colour_enabled(int fd) noexcept {
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour && *no_colour) return false;
  const char* force = std::getenv("CLICOLOR_FORCE");
  if (force && *force && std::string_view(force) != "0") return true;
  const char* term = std::getenv("TERM");
  if (term && std::string_view(term) == "dumb") return false;
  return is_terminal(fd);
}

inline bool colour_enabled(const std::ostream& stream) noexcept {
  return colour_enabled(descriptor_of(stream));
}

/// Columns of the terminal behind `fd`, else $COLUMNS, else 80; never below 40 or above 200
/// (help is hard to read wider than that).
inline std::size_t width(int fd) noexcept {
  std::size_t columns = 0;
  winsize size{};
  if (fd >= 0 && ::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    columns = size.ws_col;
  } else if (const char* env = std::getenv("COLUMNS")) {
    columns = static_cast<std::size_t>(std::strtoul(env, nullptr, 10));
  }
  if (columns == 0) columns = 80;
  return columns < 40 ? 40 : columns > 200 ? 200 : columns;
}

/// The styles Flash's own output uses; each is empty when colour is off.
struct palette {
  std::string_view heading, name, literal, error, warning, dim, reset;

  static palette for_stream(bool colour) noexcept {
    if (!colour) return {};
    return {"\x1b[1;4m", "\x1b[1;32m", "\x1b[36m", "\x1b[1;31m", "\x1b[1;33m", "\x1b[2m", "\x1b[0m"};
  }

  /// `text` in `style`, reset after.
  std::string paint(std::string_view style, std::string_view text) const {
    if (style.empty()) return std::string(text);
    return fmt::format("{}{}{}", style, text, reset);
  }
};

}  // namespace flash::terminal
