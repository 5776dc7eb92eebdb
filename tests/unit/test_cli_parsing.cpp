#include "run_cli.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

namespace {

// Captures the values a handler saw, so each test can check them after the run.
struct seen_values {
  std::optional<std::string> name;
  std::vector<std::string> files;
  int count = 0;
  double ratio = 0;
  bool loud = false;
  bool loud_given = false;
  std::string algo;
};

}  // namespace

TEST_CASE("positional arguments, one and many", "[cli][parsing]") {
  seen_values seen;
  auto app = flash::cli("app").command(
      flash::cmd<"copy">("Copy files")
          .arg<std::string>("target", "Where to")
          .args<std::string>("files", "What to copy")
          .run([&](flash::context& ctx) {
            seen.name = ctx.get<std::string>("target");
            seen.files = ctx.get_many<std::string>("files");
          }));

  auto result = run_cli(app, {"copy", "dest", "a", "b", "c"});
  CHECK(result.status == 0);
  CHECK(seen.name == "dest");
  CHECK(seen.files == std::vector<std::string>{"a", "b", "c"});

  result = run_cli(app, {"copy", "dest"});
  CHECK(result.status == 2);
  CHECK_THAT(result.err, Catch::Contains("files is required"));
}

TEST_CASE("typed options with defaults, and flags with short and long names", "[cli][parsing]") {
  seen_values seen;
  auto app = flash::cli("app").command(
      flash::cmd<"run">()
          .option<int>("-n,--count", "How many", {.default_value = 3})
          .option<double>("--ratio", "A ratio", {.default_value = 0.5})
          .flag("-l,--loud", "Shout")
          .run([&](flash::context& ctx) {
            seen.count = ctx.get<int>("count");
            seen.ratio = ctx.get<double>("ratio");
            seen.loud = ctx.get<bool>("loud");
            seen.loud_given = ctx.has("loud");
          }));

  REQUIRE(run_cli(app, {"run"}).status == 0);
  CHECK(seen.count == 3);
  CHECK(seen.ratio == 0.5);
  CHECK_FALSE(seen.loud);
  CHECK_FALSE(seen.loud_given);

  REQUIRE(run_cli(app, {"run", "-n", "7", "--ratio=2.25", "-l"}).status == 0);
  CHECK(seen.count == 7);
  CHECK(seen.ratio == 2.25);
  CHECK(seen.loud);
  CHECK(seen.loud_given);

  REQUIRE(run_cli(app, {"run", "--count", "9", "--loud"}).status == 0);
  CHECK(seen.count == 9);
  CHECK(seen.loud);

  auto bad = run_cli(app, {"run", "--count", "many"});
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("--count"));
  CHECK_THAT(bad.err, Catch::Contains("many"));
}

TEST_CASE("values from environment variables, with the command line winning", "[cli][parsing]") {
  seen_values seen;
  auto app = flash::cli("app").command(
      flash::cmd<"run">()
          .option<int>("--count", "How many", {.default_value = 1, .env = "FLASH_TEST_COUNT"})
          .flag("--loud", "Shout", {.env = "FLASH_TEST_LOUD"})
          .run([&](flash::context& ctx) {
            seen.count = ctx.get<int>("count");
            seen.loud = ctx.get<bool>("loud");
          }));

  ::setenv("FLASH_TEST_COUNT", "12", 1);
  ::setenv("FLASH_TEST_LOUD", "1", 1);
  REQUIRE(run_cli(app, {"run"}).status == 0);
  CHECK(seen.count == 12);
  CHECK(seen.loud);

  REQUIRE(run_cli(app, {"run", "--count", "4"}).status == 0);
  CHECK(seen.count == 4);
  ::unsetenv("FLASH_TEST_COUNT");
  ::unsetenv("FLASH_TEST_LOUD");

  REQUIRE(run_cli(app, {"run"}).status == 0);
  CHECK(seen.count == 1);
  CHECK_FALSE(seen.loud);
}

TEST_CASE("required options", "[cli][parsing]") {
  auto app = flash::cli("app").command(
      flash::cmd<"wait">().option<int>("--ms", "How long", {.required = true}).run([](flash::context&) {}));
  auto result = run_cli(app, {"wait"});
  CHECK(result.status == 2);
  CHECK_THAT(result.err, Catch::Contains("app wait: error: --ms is required"));
  CHECK(run_cli(app, {"wait", "--ms", "1"}).status == 0);
}

TEST_CASE("validators: range, existing file, one of a set", "[cli][parsing]") {
  seen_values seen;
  auto app = flash::cli("app").command(
      flash::cmd<"hash">()
          .option<int>("-j,--jobs", "Workers", {.default_value = 1, .check = flash::range(1, 64)})
          .option<std::string>("--algo", "Algorithm",
                               {.default_value = "sha256", .check = flash::one_of({"sha256", "sha512"})})
          .arg<std::string>("file", "Input", {.check = flash::existing_file})
          .run([&](flash::context& ctx) {
            seen.count = ctx.get<int>("jobs");
            seen.algo = ctx.get<std::string>("algo");
            seen.name = ctx.get<std::string>("file");
          }));

  auto file = std::filesystem::temp_directory_path() / "flash_validator_test.txt";
  std::ofstream(file) << "data";

  REQUIRE(run_cli(app, {"hash", "-j", "4", "--algo", "sha512", file.string()}).status == 0);
  CHECK(seen.count == 4);
  CHECK(seen.algo == "sha512");
  CHECK(seen.name == file.string());

  auto out_of_range = run_cli(app, {"hash", "-j", "65", file.string()});
  CHECK(out_of_range.status == 2);
  CHECK_THAT(out_of_range.err, Catch::Contains("--jobs"));

  auto not_a_choice = run_cli(app, {"hash", "--algo", "md5", file.string()});
  CHECK(not_a_choice.status == 2);
  CHECK_THAT(not_a_choice.err, Catch::Contains("--algo"));
  CHECK_THAT(not_a_choice.err, Catch::Contains("md5"));

  auto missing_file = run_cli(app, {"hash", "/no/such/file"});
  CHECK(missing_file.status == 2);
  CHECK_THAT(missing_file.err, Catch::Contains("/no/such/file"));

  auto directory = run_cli(app, {"hash", std::filesystem::temp_directory_path().string()});
  CHECK(directory.status == 2);

  std::filesystem::remove(file);
}

TEST_CASE("mutually exclusive options", "[cli][parsing]") {
  auto app = flash::cli("app").command(flash::cmd<"show">()
                                           .flag("--json", "JSON")
                                           .flag("--csv", "CSV")
                                           .flag("--plain", "Plain text")
                                           .exclusive({"json", "csv", "plain"})
                                           .run([](flash::context&) {}));
  CHECK(run_cli(app, {"show", "--json"}).status == 0);
  CHECK(run_cli(app, {"show", "--csv"}).status == 0);
  auto both = run_cli(app, {"show", "--json", "--plain"});
  CHECK(both.status == 2);
  CHECK_THAT(both.err, Catch::Contains("--json"));
  CHECK_THAT(both.err, Catch::Contains("--plain"));
}

TEST_CASE("nested subcommands, and global options seen from every command", "[cli][parsing]") {
  std::string ran;
  bool verbose = false;
  auto app = flash::cli("git")
                 .flag("-v,--verbose", "Say more")
                 .command(flash::cmd<"remote">("Manage remotes")
                              .subcommand(flash::cmd<"add">("Add a remote")
                                              .arg<std::string>("name", "Its name")
                                              .run([&](flash::context& ctx) {
                                                ran = "add " + ctx.get<std::string>("name");
                                                verbose = ctx.get<bool>("verbose");
                                              }))
                              .subcommand(flash::cmd<"remove">("Remove a remote")
                                              .arg<std::string>("name", "Its name")
                                              .run([&](flash::context& ctx) {
                                                ran = "remove " + ctx.get<std::string>("name");
                                              })));

  REQUIRE(run_cli(app, {"-v", "remote", "add", "origin"}).status == 0);
  CHECK(ran == "add origin");
  CHECK(verbose);
  REQUIRE(run_cli(app, {"remote", "remove", "upstream"}).status == 0);
  CHECK(ran == "remove upstream");

  auto missing = run_cli(app, {"remote"});
  CHECK(missing.status == 2);
  CHECK_THAT(missing.err, Catch::Contains("git remote: error"));

  auto typo = run_cli(app, {"remote", "ad", "origin"});
  CHECK(typo.status == 2);
  CHECK_THAT(typo.err, Catch::Contains("unknown command 'ad'; did you mean 'add'?"));
}

TEST_CASE("help for the app and each command, and --version", "[cli][help]") {
  auto app = flash::cli("tool", "Does tool things")
                 .version("9.8.7")
                 .command(flash::cmd<"build">("Build the project")
                              .option<int>("-j,--jobs", "Parallel jobs", {.default_value = 2})
                              .run([](flash::context&) {}));
  auto help = run_cli(app, {"--help"});
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Catch::Contains("Does tool things"));
  CHECK_THAT(help.out, Catch::Contains("build"));
  CHECK_THAT(help.out, Catch::Contains("Build the project"));

  auto command_help = run_cli(app, {"build", "--help"});
  CHECK(command_help.status == 0);
  CHECK_THAT(command_help.out, Catch::Contains("Parallel jobs"));
  CHECK_THAT(command_help.out, Catch::Contains("-j,--jobs"));

  auto version = run_cli(app, {"--version"});
  CHECK(version.status == 0);
  CHECK_THAT(version.out, Catch::Contains("9.8.7"));
}

TEST_CASE("every way of asking for help shows it and runs nothing", "[cli][help]") {
  // A command line without -h or --help is parsed without the help flags; the spellings that
  // reach them by other routes must still get help.
  int runs = 0;
  auto app = flash::cli("tool", "Does tool things")
                 .command(flash::cmd<"build">("Build the project")
                              .flag("-v,--verbose", "Say more")
                              .option<int>("-j,--jobs", "Parallel jobs", {.default_value = 2})
                              .run([&](flash::context&) { ++runs; }));
  for (const std::vector<std::string>& args : {std::vector<std::string>{"-h"},
                                              {"build", "-h"},
                                              {"build", "-vh"},
                                              {"build", "-hv"},
                                              {"build", "-v", "--help"},
                                              {"build", "--jobs=3", "-h"}}) {
    std::string line;
    for (const auto& arg : args) line += arg + " ";
    INFO(line);
    auto help = run_cli(app, args);
    CHECK(help.status == 0);
    CHECK_THAT(help.out, Catch::Contains("-h,--help"));
    CHECK(help.err.empty());
  }
  CHECK(runs == 0);
  CHECK_THAT(run_cli(app, {"build", "-vh"}).out, Catch::Contains("Parallel jobs"));

  auto plain = run_cli(app, {"build", "-v", "-j", "4"});
  CHECK(plain.status == 0);
  CHECK(runs == 1);
  auto wrong = run_cli(app, {"build", "-vx"});
  CHECK(wrong.status == 2);
  CHECK_THAT(wrong.err, Catch::Contains("Run 'tool build --help' for more information."));
  CHECK(runs == 1);
}

TEST_CASE("asking for an undeclared name or the wrong type throws an error naming it", "[cli][lookup]") {
  std::string first_error, second_error, third_error;
  auto app = flash::cli("app").command(
      flash::cmd<"greet">()
          .option<int>("--count", "How many", {.default_value = 1})
          .args<std::string>("names", "Who", {.optional = true})
          .run([&](flash::context& ctx) {
            try {
              (void)ctx.get<int>("cuont");
            } catch (const flash::lookup_error& e) {
              first_error = e.what();
            }
            try {
              (void)ctx.get<std::string>("count");
            } catch (const flash::lookup_error& e) {
              second_error = e.what();
            }
            try {
              (void)ctx.get<std::string>("names");
            } catch (const flash::lookup_error& e) {
              third_error = e.what();
            }
          }));
  REQUIRE(run_cli(app, {"greet"}).status == 0);
  CHECK(first_error == "command 'app greet' declares no option or argument named 'cuont'");
  CHECK_THAT(second_error, Catch::Contains("'count' in command 'app greet' holds int, not std::"));
  CHECK_THAT(third_error, Catch::Contains("'names'"));
  CHECK_THAT(third_error, Catch::Contains("vector"));
}

TEST_CASE("an uncaught lookup error fails the command with exit code 1", "[cli][lookup]") {
  auto app = flash::cli("app").command(
      flash::cmd<"greet">().run([](flash::context& ctx) { return ctx.get<int>("missing"); }));
  auto result = run_cli(app, {"greet"});
  CHECK(result.status == 1);
  CHECK_THAT(result.err, Catch::Contains("app greet: error: command 'app greet' declares no option"));
}

TEST_CASE("count tells how often a repeatable flag was given", "[cli][parsing]") {
  std::size_t count = 0;
  auto app = flash::cli("app").command(
      flash::cmd<"run">().flag("-v", "Verbosity").run([&](flash::context& ctx) { count = ctx.count("v"); }));
  REQUIRE(run_cli(app, {"run", "-v", "-v", "-v"}).status == 0);
  CHECK(count == 3);
}

TEST_CASE("a program of one command takes its options and arguments directly", "[cli][parsing]") {
  std::vector<std::string> files;
  bool lines = false;
  auto app = flash::cli("count", "Count things")
                 .version("1.2")
                 .root_command(flash::cmd<"count">()
                                   .flag("-l,--lines", "Count lines")
                                   .args<std::string>("FILE", "What to count", {.optional = true})
                                   .timeout(std::chrono::seconds(5))
                                   .run([&](flash::context& ctx) {
                                     files = ctx.get_many<std::string>("FILE");
                                     lines = ctx.get<bool>("lines");
                                   }));
  auto ok = run_cli(app, {"-l", "a", "b"});
  CHECK(ok.status == 0);
  CHECK(lines);
  CHECK(files == std::vector<std::string>{"a", "b"});

  auto help = run_cli(app, {"--help"});
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Catch::Contains("Count things"));
  CHECK_THAT(help.out, Catch::Contains("-l,--lines"));
  CHECK_THAT(run_cli(app, {"--version"}).out, Catch::Contains("1.2"));

  auto typo = run_cli(app, {"--lnes"});
  CHECK(typo.status == 2);
  CHECK_THAT(typo.err, Catch::StartsWith("count: error: unknown option '--lnes'; did you mean '--lines'?"));
}
