#include <flash/flash.hpp>

int main(int argc, char** argv) {
  return flash::cli("app")
      .command(flash::cmd<"remote">().subcommand(flash::cmd<"add">().flag("-f,--force", "")))
      .run(argc, argv);
}
