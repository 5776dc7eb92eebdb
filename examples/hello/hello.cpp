// hello: the smallest Flash program, with one sync command and one async command.
//
//   hello greet NAME [--loud|-l] [--count|-c N]
//   hello wait --ms N

#include <flash/flash.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>

namespace {

int greet(flash::context& ctx) {
  std::string line = "Hello, " + ctx.get<std::string>("name") + "!";
  if (ctx.get<bool>("loud"))
    std::transform(line.begin(), line.end(), line.begin(), [](unsigned char c) { return std::toupper(c); });
  for (int i = 0; i < ctx.get<int>("count"); ++i) fmt::print("{}\n", line);
  return 0;
}

flash::awaitable<void> wait(flash::context& ctx) {
  const int ms = ctx.get<int>("ms");
  co_await flash::sleep_for(std::chrono::milliseconds(ms));
  fmt::print("waited {} ms\n", ms);
}

}  // namespace

int main(int argc, char** argv) {
  return flash::cli("hello", "Greets people and waits, to show what Flash does")
      .version(flash::version_string)
      .command(flash::cmd<"greet">("Greet someone by name")
                   .arg<std::string>("name", "Who to greet")
                   .flag("-l,--loud", "Shout the greeting")
                   .option<int>("-c,--count", "How many times to greet",
                                {.default_value = 1, .env = "HELLO_COUNT", .check = flash::range(1, 100)})
                   .run(greet))
      .command(flash::cmd<"wait">("Wait without blocking, then say so")
                   .option<int>("--ms", "How long to wait, in milliseconds",
                                {.required = true, .check = flash::range(0, 3'600'000)})
                   .run(wait))
      .run(argc, argv);
}
