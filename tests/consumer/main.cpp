#include <flash/flash.hpp>

#include <fmt/core.h>

#include <chrono>

int main(int argc, char** argv) {
  return flash::cli("consumer", "Uses an installed Flash")
      .command(flash::cmd<"add">("Add two numbers")
                   .arg<int>("a", "First")
                   .arg<int>("b", "Second")
                   .run([](flash::context& ctx) {
                     fmt::print("{}\n", ctx.get<int>("a") + ctx.get<int>("b"));
                   }))
      .command(flash::cmd<"nap">("Sleep a little").run([](flash::context&) -> flash::awaitable<int> {
        co_await flash::sleep_for(std::chrono::milliseconds(1));
        co_return 7;
      }))
      .run(argc, argv);
}
