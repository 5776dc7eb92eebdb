#pragma once
// The exit codes of a Flash program.

namespace flash::exit_code {

inline constexpr int success = 0;      ///< the command succeeded
inline constexpr int failure = 1;      ///< the command failed (its handler threw)
inline constexpr int usage = 2;        ///< the command line was wrong
inline constexpr int interrupted = 130;  ///< Ctrl-C (SIGINT); SIGTERM gives 143

}  // namespace flash::exit_code
