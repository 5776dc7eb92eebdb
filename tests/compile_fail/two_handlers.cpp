#include <flash/flash.hpp>

int main(int argc, char** argv) {
  return flash::cli("app")
      .command(flash::cmd<"greet">()
                   .run([](flash::context&) {})
                   .run([](flash::context&) -> flash::awaitable<void> { co_return; }))
      .run(argc, argv);
}
