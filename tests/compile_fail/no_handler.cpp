#include <flash/flash.hpp>

int main(int argc, char** argv) {
  return flash::cli("app").command(flash::cmd<"greet">("Says hello")).run(argc, argv);
}
