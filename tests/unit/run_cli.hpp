#pragma once
// Runs a flash::cli in-process with the given arguments and captures what it reports.

#include <flash/flash.hpp>

#include <sstream>
#include <string>
#include <vector>

struct cli_result {
  int status;
  std::string out;
  std::string err;
};

inline cli_result run_cli(const flash::cli& app, std::vector<std::string> args) {
  std::vector<const char*> argv{"app"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out, err;
  int status = app.run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {status, out.str(), err.str()};
}
