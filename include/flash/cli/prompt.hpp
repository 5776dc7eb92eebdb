#pragma once
// Asking the person at the terminal: a line of text, a password (not echoed), a choice among
// words, a yes/no confirmation. Questions go to stderr and answers come from stdin, only when
// stdin is a terminal: otherwise the functions throw flash::prompt_error, so a script never
// hangs waiting for an answer nobody will type.
//
//   std::string name = flash::ask("Your name");
//   std::string key = flash::ask_secret("Passphrase");
//   std::string algo = flash::choose("Hash", {"sha256", "sha512"});
//   if (!flash::confirm("Overwrite out.bin?")) return 1;

#include <flash/cli/terminal.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <termios.h>
#include <unistd.h>
#include <vector>

namespace flash {

/// No answer could be had: stdin is not a terminal, or it ended before an answer.
class prompt_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where questions are asked and answered; the default is the process's terminal.
struct prompt_stream {
  std::istream& in = std::cin;
  std::ostream& out = std::cerr;
  int in_fd = STDIN_FILENO;  ///< checked with isatty, and its echo turned off for secrets
};

namespace detail {

inline void require_terminal(const prompt_stream& io, std::string_view question) {
  if (!terminal::is_terminal(io.in_fd))
    throw prompt_error(fmt::format("{}: no value given, and stdin is not a terminal to ask for one", question));
}

inline std::string read_answer(const prompt_stream& io, std::string_view question) {
  std::string line;
  if (!std::getline(io.in, line)) throw prompt_error(fmt::format("{}: no answer (end of input)", question));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

/// Turns the terminal's echo off for as long as it lives.
class echo_off {
 public:
  explicit echo_off(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(fd_, TCSANOW, &quiet) == 0;
  }
  ~echo_off() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }
  echo_off(const echo_off&) = delete;
  echo_off& operator=(const echo_off&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

}  // namespace detail

/// A line of text; an empty answer gives `fallback` when there is one, else asks again.
inline std::string ask(std::string_view question, std::string_view fallback = {}, const prompt_stream& io = {}) {
  detail::require_terminal(io, question);
  for (;;) {
    io.out << fmt::format("{}{}: ", question, fallback.empty() ? std::string() : fmt::format(" [{}]", fallback))
           << std::flush;
    std::string answer = detail::read_answer(io, question);
    if (!answer.empty()) return answer;
    if (!fallback.empty()) return std::string(fallback);
  }
}

/// A line typed with echo off (a password); an empty answer asks again.
inline std::string ask_secret(std::string_view question, const prompt_stream& io = {}) {
  detail::require_terminal(io, question);
  for (;;) {
    std::string answer;
    {
      // Off before the question shows, so that no answer typed at once is echoed.
      detail::echo_off quiet(io.in_fd);
      io.out << fmt::format("{}: ", question) << std::flush;
      answer = detail::read_answer(io, question);
    }
    io.out << '\n';
    if (!answer.empty()) return answer;
  }
}

/// One of `choices`, typed as the word or its number in the list shown.
inline std::string choose(std::string_view question, const std::vector<std::string>& choices,
                          const prompt_stream& io = {}) {
  detail::require_terminal(io, question);
  for (;;) {
    std::string menu = fmt::format("{}:\n", question);
    for (std::size_t i = 0; i < choices.size(); ++i) menu += fmt::format("  {}) {}\n", i + 1, choices[i]);
    io.out << menu << fmt::format("Choose 1-{} or a name: ", choices.size()) << std::flush;
    const std::string answer = detail::read_answer(io, question);
    for (std::size_t i = 0; i < choices.size(); ++i)
      if (answer == choices[i] || answer == std::to_string(i + 1)) return choices[i];
    io.out << fmt::format("'{}' is not one of the choices.\n", answer);
  }
}

/// Yes or no; an empty answer gives `fallback`.
inline bool confirm(std::string_view question, bool fallback = false, const prompt_stream& io = {}) {
  detail::require_terminal(io, question);
  for (;;) {
    io.out << fmt::format("{} {} ", question, fallback ? "[Y/n]" : "[y/N]") << std::flush;
    std::string answer = detail::read_answer(io, question);
    for (char& c : answer) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (answer.empty()) return fallback;
    if (answer == "y" || answer == "yes") return true;
    if (answer == "n" || answer == "no") return false;
    io.out << "Please answer y or n.\n";
  }
}

}  // namespace flash
