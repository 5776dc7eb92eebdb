#include <flash/flash.hpp>

int main(int argc, char** argv) {
  return flash::cli("app")
      .command(flash::cmd<"hash">().run(
          flash::cpu_bound([](flash::context&) -> flash::awaitable<void> { co_return; })))
      .run(argc, argv);
}
