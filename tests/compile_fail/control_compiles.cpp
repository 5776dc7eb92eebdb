// The harness's control: a correct program, to show that the other sources fail for their reason.
#include <flash/flash.hpp>

int main(int argc, char** argv) {
  return flash::cli("app")
      .command(flash::cmd<"sync">().run([](flash::context&) { return 0; }))
      .command(flash::cmd<"async">().run([](flash::context&) -> flash::awaitable<void> { co_return; }))
      .command(flash::cmd<"green">().run([](flash::context&, flash::yield_context) {}))
      .command(flash::cmd<"cpu">().run(flash::cpu_bound([](flash::context&) { return 0; })))
      .command(flash::cmd<"group">().subcommand(flash::cmd<"leaf">().run([](flash::context&) {})))
      .run(argc, argv);
}
