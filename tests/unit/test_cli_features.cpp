// What every Flash program gets from the registry: help, completion, configuration files,
// generated reference pages, prompts.
#include "run_cli.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

flash::cli sample_app(std::string* seen_algo = nullptr, int* seen_jobs = nullptr) {
  return flash::cli("tool", "Does tool things, described at enough length that the help has to wrap it")
      .version("1.0")
      .command(flash::cmd<"build">("Build the project")
                   .option<int>("-j,--jobs", "Parallel jobs", {.default_value = 2, .env = "TOOL_JOBS"})
                   .option<std::string>("--algo", "The hash",
                                        {.default_value = "sha256", .check = flash::one_of({"sha256", "sha512"})})
                   .option<std::string>("--out", "Where to", {.check = flash::existing_directory})
                   .args<std::string>("files", "What to build", {.optional = true})
                   .run([=](flash::context& ctx) {
                     if (seen_algo) *seen_algo = ctx.get<std::string>("algo");
                     if (seen_jobs) *seen_jobs = ctx.get<int>("jobs");
                   }))
      .command(flash::cmd<"remote">("Manage remotes")
                   .subcommand(flash::cmd<"add">("Add a remote").arg<std::string>("name", "Its name").run(
                       [](flash::context&) {}))
                   .subcommand(flash::cmd<"remove">("Remove a remote").run([](flash::context&) {})));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

struct scoped_env {
  scoped_env(const char* name, const char* value) : name(name) {
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_env() { ::unsetenv(name); }
  const char* name;
};

std::filesystem::path temporary_directory() {
  auto path = std::filesystem::temp_directory_path() / ("flash-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(path);
  return path;
}

}  // namespace

TEST_CASE("help is grouped into commands, options and global options, and wrapped", "[cli][help]") {
  auto app = sample_app();
  auto top = run_cli(app, {"--help"});
  REQUIRE(top.status == 0);
  CHECK_THAT(top.out, Catch::Contains("Usage: tool [OPTIONS] COMMAND"));
  CHECK_THAT(top.out, Catch::Contains("\nCommands:\n  build "));
  CHECK_THAT(top.out, Catch::Contains("\nBuilt-in commands:\n  completion "));
  CHECK_THAT(top.out, Catch::Contains("\nGlobal options:\n"));
  CHECK_THAT(top.out, Catch::Contains("--metrics[={text,json}]"));
  CHECK(top.out.find('\x1b') == std::string::npos);  // a string stream is not a terminal

  auto sub = run_cli(app, {"build", "--help"});
  CHECK_THAT(sub.out, Catch::Contains("Usage: tool build [OPTIONS] [files...]"));
  CHECK_THAT(sub.out, Catch::Contains("[default: 2] [env: TOOL_JOBS]"));
  // The program's options are accepted after the command's name, so its help lists them.
  CHECK_THAT(sub.out, Catch::Contains("Global options:\n  --config FILE"));

  CLI::App parsed("A description long enough to need wrapping when the terminal is narrow, as here", "x");
  parsed.add_option("--value", "An option whose description is also much longer than a narrow line");
  for (const auto& line : lines_of(flash::detail::render_help(&parsed, {}, 40))) CHECK(line.size() <= 40);
  const auto coloured = flash::detail::render_help(&parsed, flash::terminal::palette::for_stream(true), 80);
  CHECK_THAT(coloured, Catch::Contains("\x1b[1;4mUsage:\x1b[0m"));
  CHECK_THAT(coloured, Catch::Contains("\x1b[1;32m--value\x1b[0m"));
}

TEST_CASE("colour: NO_COLOR wins, CLICOLOR_FORCE forces, otherwise only a terminal", "[cli][colour]") {
  scoped_env no_colour("NO_COLOR", nullptr), force("CLICOLOR_FORCE", nullptr);
  CHECK_FALSE(flash::terminal::colour_enabled(-1));
  {
    scoped_env forced("CLICOLOR_FORCE", "1");
    CHECK(flash::terminal::colour_enabled(-1));
    scoped_env off("NO_COLOR", "1");
    CHECK_FALSE(flash::terminal::colour_enabled(-1));
  }
  {
    scoped_env zero("CLICOLOR_FORCE", "0");
    CHECK_FALSE(flash::terminal::colour_enabled(-1));
  }
  scoped_env forced("CLICOLOR_FORCE", "1");
  auto coloured = run_cli(sample_app(), {"buld"});
  CHECK_THAT(coloured.err, Catch::StartsWith("tool: \x1b[1;31merror:\x1b[0m unknown command 'buld'"));
}

TEST_CASE("completion offers commands, options, choices and paths at every level", "[cli][completion]") {
  auto app = sample_app();
  auto complete = [&](std::vector<std::string> words) {
    words.insert(words.begin(), "__complete");
    auto result = run_cli(app, words);
    REQUIRE(result.status == 0);
    return lines_of(result.out);
  };
  using lines = std::vector<std::string>;
  CHECK(complete({"b"}) == lines{"build\tBuild the project", ":none"});
  CHECK(complete({"remote", "a"}) == lines{"add\tAdd a remote", ":none"});
  CHECK(complete({"remote", "re"}) == lines{"remove\tRemove a remote", ":none"});
  CHECK(complete({"build", "--al"}) == lines{"--algo\tThe hash", ":none"});
  CHECK(complete({"build", "--algo", "sha5"}) == lines{"sha512", ":none"});
  CHECK(complete({"build", "--algo=sha"}) == lines{"--algo=sha256", "--algo=sha512", ":none"});
  CHECK(complete({"build", "--algo", "=", ""}) == lines{"sha256", "sha512", ":none"});  // bash's split
  CHECK(complete({"build", "--out", ""}) == lines{":dirs"});
  CHECK(complete({"build", "-j", ""}) == lines{":none"});
  CHECK(complete({"build", "-j", "4", ""}) == lines{":files"});
  CHECK(complete({"completion", ""}) == lines{"bash", "zsh", "fish", ":none"});
  // Options of the program are offered inside a command, since they fall through to it.
  const auto global = complete({"build", "--me"});
  CHECK(global == lines{"--metrics\tPrint the async performance report to stderr when the command ends", ":none"});

  for (std::string shell : {"bash", "zsh", "fish"}) {
    auto script = run_cli(app, {"completion", shell});
    CHECK(script.status == 0);
    CHECK_THAT(script.out, Catch::Contains(" __complete "));
  }
  auto bad = run_cli(app, {"completion", "tcsh"});
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("shell"));
}

TEST_CASE("configuration files: command line over environment over file over default", "[cli][config]") {
  const auto dir = temporary_directory();
  const auto file = dir / "tool.toml";
  std::ofstream(file) << "[build]\njobs = 7\nalgo = \"sha512\"\n";
  std::string algo;
  int jobs = 0;
  auto app = sample_app(&algo, &jobs);
  scoped_env clear("TOOL_JOBS", nullptr);

  REQUIRE(run_cli(app, {"build"}).status == 0);
  CHECK(jobs == 2);  // the default
  REQUIRE(run_cli(app, {"--config", file.string(), "build"}).status == 0);
  CHECK(jobs == 7);  // the file
  CHECK(algo == "sha512");
  {
    scoped_env env("TOOL_JOBS", "5");
    REQUIRE(run_cli(app, {"--config", file.string(), "build"}).status == 0);
    CHECK(jobs == 5);  // the environment over the file
    REQUIRE(run_cli(app, {"build", "--config", file.string(), "-j", "3"}).status == 0);
    CHECK(jobs == 3);  // the command line over both
  }

  auto printed = run_cli(app, {"--config", file.string(), "build", "--print-config", "a.txt"});
  REQUIRE(printed.status == 0);
  CHECK_THAT(printed.out, Catch::Contains("[build]\njobs = 7\nalgo = \"sha512\"\n"));
  CHECK_THAT(printed.out, Catch::Contains("files = [\"a.txt\"]"));
  // What --print-config prints, --config reads back.
  std::ofstream(dir / "printed.toml") << printed.out;
  REQUIRE(run_cli(app, {"--config", (dir / "printed.toml").string(), "build"}).status == 0);
  CHECK(jobs == 7);

  auto missing = run_cli(app, {"--config", (dir / "missing.toml").string(), "build"});
  CHECK(missing.status == 2);
  CHECK_THAT(missing.err, Catch::Contains("missing.toml"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a configuration file that names no option or command is refused with its line", "[cli][config]") {
  const auto dir = temporary_directory();
  auto refused = [&](const std::string& contents) {
    std::ofstream(dir / "tool.toml") << contents;
    auto app = sample_app();
    return run_cli(app, {"--config", (dir / "tool.toml").string(), "build"});
  };
  const std::string file = (dir / "tool.toml").string();

  auto misspelt = refused("# settings\n[build]\njobs = 3\njbos = 4\n");
  CHECK(misspelt.status == 2);
  CHECK_THAT(misspelt.err, Catch::Contains(file + ":4: unknown option 'jbos'; did you mean 'jobs'?"));

  auto section = refused("[biuld]\njobs = 3\n");
  CHECK(section.status == 2);
  CHECK_THAT(section.err, Catch::Contains(file + ":1: unknown section 'biuld'"));

  auto dotted = refused("build.jobz = 3\n");
  CHECK_THAT(dotted.err, Catch::Contains(file + ":1: unknown option 'jobz'"));

  auto garbage = refused("[build]\nthis is not a setting\n");
  CHECK(garbage.status == 2);
  CHECK_THAT(garbage.err, Catch::Contains(file + ":2: expected 'name = value' or '[section]', found 'this is not a setting'"));

  // A value the option refuses names the file it came from.
  auto bad_value = refused("[build]\nalgo = \"md5\"\n");
  CHECK(bad_value.status == 2);
  CHECK_THAT(bad_value.err, Catch::Contains("--algo (from " + file + "): "));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a bad value from the environment names the variable; a non-number is not 'out of range'", "[cli][config]") {
  auto app = flash::cli("tool").command(flash::cmd<"build">()
                                            .flag("-k,--keep-going", "Go on after a failure")
                                            .option<int>("-j,--jobs", "Parallel jobs",
                                                         {.default_value = 2, .env = "TOOL_JOBS", .check = flash::range(1, 64)})
                                            .run([](flash::context&) {}));
  {
    scoped_env env("TOOL_JOBS", "many");
    auto result = run_cli(app, {"build"});
    CHECK(result.status == 2);
    CHECK_THAT(result.err, Catch::Contains("--jobs (from the environment variable TOOL_JOBS): 'many' is not a whole number"));
    // Given on the command line, the value is the command line's, and so is the blame.
    auto given = run_cli(app, {"build", "--jobs=0"});
    CHECK_THAT(given.err, Catch::Contains("error: --jobs: Value 0 not in range 1 to 64"));
    // So is a value given after other short flags in one word.
    auto joined = run_cli(app, {"build", "-kj0"});
    CHECK(joined.status == 2);
    CHECK_THAT(joined.err, Catch::Contains("error: --jobs: Value 0 not in range 1 to 64"));
  }
  scoped_env clear("TOOL_JOBS", nullptr);
  CHECK_THAT(run_cli(app, {"build", "-j", "1.5"}).err, Catch::Contains("--jobs: '1.5' is not a whole number"));
  CHECK_THAT(run_cli(app, {"build", "-j", "65"}).err, Catch::Contains("--jobs: Value 65 not in range 1 to 64"));
  CHECK(run_cli(app, {"build", "-j64"}).status == 0);
  // Too many digits for an int is out of range, not malformed.
  CHECK_THAT(run_cli(app, {"build", "-j", "99999999999999999999"}).err,
             Catch::Contains("--jobs: Value 99999999999999999999 not in range 1 to 64"));
  CHECK_THAT(run_cli(app, {"build", "-j", "-99999999999999999999"}).err, Catch::Contains("not in range 1 to 64"));
}

TEST_CASE("a range of real numbers refuses NaN", "[cli][validators]") {
  double seconds = 0;
  auto app = flash::cli("tool").command(flash::cmd<"wait">().option<double>(
      "--timeout", "Seconds", {.default_value = 1.0, .check = flash::range(0.0, 60.0)}).run(
      [&](flash::context& ctx) { seconds = ctx.get<double>("timeout"); }));
  for (const char* bad : {"nan", "NaN", "-nan", "inf"}) {
    auto result = run_cli(app, {"wait", "--timeout", bad});
    CHECK(result.status == 2);
    CHECK_THAT(result.err, Catch::Contains("--timeout: Value " + std::string(bad) + " not in range"));
  }
  CHECK(run_cli(app, {"wait", "--timeout", "2.5"}).status == 0);
  CHECK(seconds == 2.5);
}

TEST_CASE("the built-ins work when only the environment or a default file names them", "[cli][config]") {
  // A command line that names no built-in is parsed without them; these must still count.
  const auto dir = temporary_directory();
  std::ofstream(dir / "tool.toml") << "[build]\njobs = 7\n";
  int jobs = 0;
  auto app = std::move(sample_app(nullptr, &jobs)).config_file((dir / "tool.toml").string());
  scoped_env clear("TOOL_JOBS", nullptr);
  REQUIRE(run_cli(app, {"build"}).status == 0);
  CHECK(jobs == 7);
  {
    scoped_env metrics("FLASH_METRICS", "json");
    auto result = run_cli(app, {"build"});
    CHECK(result.status == 0);
    CHECK_THAT(result.err, Catch::StartsWith("{\"tasks_spawned\":"));
  }
  // A program that declares an option of a built-in's name is refused on every command line.
  auto clash = flash::cli("tool")
                   .option<std::string>("--metrics", "Mine", {})
                   .command(flash::cmd<"build">().run([](flash::context&) {}));
  for (const std::vector<std::string>& words : {std::vector<std::string>{"build"}, {"--help"}}) {
    auto refused = run_cli(clash, words);
    CHECK(refused.status == 1);
    CHECK_THAT(refused.err, Catch::Contains("error in the command declarations"));
  }
  // So is one that takes -h or --help for a command's own option, which help needs.
  auto host = flash::cli("tool").command(
      flash::cmd<"connect">().option<std::string>("-h,--host", "Where to", {}).run([](flash::context&) {}));
  auto helpful = flash::cli("tool").command(
      flash::cmd<"connect">().flag("--help", "Mine").run([](flash::context&) {}));
  for (const flash::cli* app : {&host, &helpful}) {
    for (const std::vector<std::string>& words :
         {std::vector<std::string>{"connect"}, {"connect", "--host", "example.org"}, {"connect", "-h"}}) {
      auto refused = run_cli(*app, words);
      CHECK(refused.status == 1);
      CHECK_THAT(refused.err, Catch::Contains("error in the command declarations"));
    }
  }
  // And a usage error reads the same whichever way it was parsed.
  auto unknown = run_cli(sample_app(), {"buidl"});
  CHECK(unknown.status == 2);
  CHECK(unknown.err == "tool: error: unknown command 'buidl'; did you mean 'build'?\nRun 'tool --help' for more information.\n");
  std::filesystem::remove_all(dir);
}

TEST_CASE("completion hints of the built-ins do not leak into options of the same name", "[cli][completion]") {
  auto app = flash::cli("tool").command(flash::cmd<"render">()
                                            .option<std::string>("--format", "Output format",
                                                                 {.check = flash::one_of({"png", "svg"})})
                                            .option<std::string>("--shell", "A shell command", {})
                                            .run([](flash::context&) {}));
  auto format = run_cli(app, {"__complete", "render", "--format", ""});
  CHECK(format.out == "png\nsvg\n:none\n");
  auto shell = run_cli(app, {"__complete", "render", "--shell", ""});
  CHECK(shell.out == ":files\n");
}

TEST_CASE("docs: a man page per command and a Markdown reference", "[cli][docs]") {
  auto app = sample_app();
  const auto dir = temporary_directory();
  auto written = run_cli(app, {"docs", "man", dir.string()});
  REQUIRE(written.status == 0);
  for (const char* page : {"tool.1", "tool-build.1", "tool-remote.1", "tool-remote-add.1", "tool-remote-remove.1"})
    CHECK(std::filesystem::exists(dir / page));
  std::ifstream in(dir / "tool-build.1");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK_THAT(text, Catch::StartsWith(".TH \"TOOL-BUILD\" 1"));
  CHECK_THAT(text, Catch::Contains("\\fB\\-j,\\-\\-jobs\\fR \\fIINT\\fR"));  // hyphens escaped for roff
  CHECK_THAT(text, Catch::Contains(".SH ENVIRONMENT\n.TP\n.B TOOL_JOBS\n"));
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    CHECK(entry.path().extension() == ".1");  // no temporary left behind
  std::filesystem::remove_all(dir);

  auto unwritable = run_cli(app, {"docs", "man", "/proc"});
  CHECK(unwritable.status == 1);
  CHECK_THAT(unwritable.err, Catch::Contains("/proc/tool.1"));

  auto markdown = run_cli(app, {"docs", "markdown"});
  REQUIRE(markdown.status == 0);
  CHECK_THAT(markdown.out, Catch::StartsWith("# tool 1.0\n"));
  CHECK_THAT(markdown.out, Catch::Contains("\n## tool remote add\n"));
  CHECK_THAT(markdown.out, Catch::Contains("| [`build`](#tool-build) | Build the project |"));
}

TEST_CASE("a one-command program takes --completion and --docs", "[cli][completion][docs]") {
  auto app = flash::cli("one", "Does one thing")
                 .root_command(flash::cmd<"one">().args<std::string>("FILE", "Inputs").run([](flash::context&) {}));
  auto script = run_cli(app, {"--completion", "bash"});
  CHECK(script.status == 0);
  CHECK_THAT(script.out, Catch::Contains("complete -F _flash_complete_one one"));
  CHECK(run_cli(app, {"--completion=fish"}).status == 0);
  auto bad = run_cli(app, {"--completion", "tcsh"});
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("--completion: 'tcsh' is not one of bash, zsh, fish"));
  CHECK_THAT(run_cli(app, {"--docs", "markdown"}).out, Catch::StartsWith("# one\n"));
  // "completion" and "docs" are ordinary arguments here.
  CHECK(lines_of(run_cli(app, {"__complete", "x", ""}).out) == std::vector<std::string>{":files"});
}

TEST_CASE("prompts ask only a terminal, and say so otherwise", "[cli][prompt]") {
  std::istringstream in("\nada\n");
  std::ostringstream shown;
  flash::prompt_stream not_a_terminal{in, shown, -1};
  CHECK_THROWS_WITH(flash::ask("Name", {}, not_a_terminal),
                    "Name: no value given, and stdin is not a terminal to ask for one");
  CHECK_THROWS_AS(flash::confirm("Sure?", false, not_a_terminal), flash::prompt_error);
  CHECK(shown.str().empty());  // nothing was asked
}
