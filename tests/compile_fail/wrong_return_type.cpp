#include <flash/flash.hpp>

#include <string>

int main(int argc, char** argv) {
  return flash::cli("app")
      .command(flash::cmd<"greet">().run([](flash::context&) { return std::string("hi"); }))
      .run(argc, argv);
}
