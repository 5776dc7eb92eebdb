// Parsing and dispatching one sync command: Flash against the same program written with CLI11.
//
//   cmake --build build --target bench_cli && build/benchmarks/bench_cli

#include <flash/flash.hpp>

#include <CLI/CLI.hpp>
#include <benchmark/benchmark.h>

#include <sstream>
#include <string>

namespace {

const char* const arguments[] = {"hello", "greet", "Ada", "--loud", "-c", "3"};
constexpr int argument_count = 6;

void plain_cli11(benchmark::State& state) {
  for (auto _ : state) {
    CLI::App app("Greets people", "hello");
    auto* greet = app.add_subcommand("greet", "Greet someone");
    std::string name;
    bool loud = false;
    int count = 1;
    greet->add_option("name", name, "Who")->required();
    greet->add_flag("-l,--loud", loud, "Shout");
    greet->add_option("-c,--count", count, "How many")->capture_default_str()->check(CLI::Range(1, 100));
    int result = 0;
    greet->callback([&] { result = static_cast<int>(name.size()) + count + loud; });
    app.require_subcommand(1);
    app.parse(argument_count, arguments);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(plain_cli11);
// A fixed number of runs, for counting instructions under callgrind (benchmarks/cli_instructions.sh).
BENCHMARK(plain_cli11)->Name("plain_cli11_fixed")->Iterations(1000);

void flash_cli(benchmark::State& state) {
  int result = 0;
  auto app = flash::cli("hello", "Greets people")
                 .command(flash::cmd<"greet">("Greet someone")
                              .arg<std::string>("name", "Who")
                              .flag("-l,--loud", "Shout")
                              .option<int>("-c,--count", "How many",
                                           {.default_value = 1, .check = flash::range(1, 100)})
                              .run([&](flash::context& ctx) {
                                result = static_cast<int>(ctx.get<std::string>("name").size()) +
                                         ctx.get<int>("count") + ctx.get<bool>("loud");
                              }));
  std::ostringstream out, err;
  for (auto _ : state) {
    benchmark::DoNotOptimize(app.run(argument_count, arguments, out, err));
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(flash_cli);
BENCHMARK(flash_cli)->Name("flash_cli_fixed")->Iterations(1000);

}  // namespace

BENCHMARK_MAIN();
