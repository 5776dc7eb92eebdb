// hello: the smallest Flash program, with a command for each execution model.
//
//   hello greet NAME [--loud|-l] [--count|-c N]     sync: runs blocking on the main thread
//   hello wait --ms N                               a stackless coroutine awaiting a timer
//   hello nap --ms N                                a green thread (asio::spawn) sleeping
//   hello primes LIMIT                              CPU-bound: counts primes on the pool
//   hello save FILE [--ms N]                        writes FILE through a temporary, after a wait
//   hello login [--user U] [--password P] [--role R] [--remember]
//                                                   asks at the terminal for what is not given

#include <flash/flash.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <string>
#include <unistd.h>

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

void nap(flash::context& ctx, flash::yield_context yield) {
  const int ms = ctx.get<int>("ms");
  flash::sleep_for(std::chrono::milliseconds(ms), yield);
  fmt::print("napped {} ms\n", ms);
}

// Counts the primes below the limit, checking for Ctrl-C as it goes.
int primes(flash::context& ctx) {
  const long limit = ctx.get<long>("limit");
  long count = 0;
  for (long n = 2; n < limit; ++n) {
    if (n % 4096 == 0 && ctx.is_cancelled()) return 1;
    bool prime = true;
    for (long d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    count += prime;
  }
  fmt::print("{} primes below {}\n", count, limit);
  return 0;
}

// Writes the file through a temporary beside it: interrupted, it leaves nothing behind.
flash::awaitable<void> save(flash::context& ctx) {
  const auto& path = ctx.get<std::string>("file");
  flash::resource_scope scope(&ctx.resources());
  auto& temporary = scope.create_temporary(path);
  std::string text = "saved by hello\n";
  if (::write(temporary.native_handle(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw flash::error(flash::errc::filesystem_error, "writing " + temporary.path().string());
  co_await flash::sleep_for(std::chrono::milliseconds(ctx.get<int>("ms")));
  temporary.commit();
  fmt::print("saved {}\n", path);
}

// Every value of login may be left out: it is then asked for at the terminal (the password
// without echo), or refused when stdin is not a terminal.
int login(flash::context& ctx) {
  fmt::print("Logged in as {} ({}) with a password of {} characters{}\n", ctx.get<std::string>("user"),
             ctx.get<std::string>("role"), ctx.get<std::string>("password").size(),
             ctx.get<bool>("remember") ? "; remembered" : "");
  return 0;
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
      .command(flash::cmd<"wait">("Wait without blocking, then say so (a stackless coroutine)")
                   .option<int>("--ms", "How long to wait, in milliseconds",
                                {.required = true, .check = flash::range(0, 3'600'000)})
                   .run(wait))
      .command(flash::cmd<"nap">("Sleep on a green thread, then say so")
                   .option<int>("--ms", "How long to sleep, in milliseconds",
                                {.required = true, .check = flash::range(0, 3'600'000)})
                   .run(nap))
      .command(flash::cmd<"primes">("Count the primes below LIMIT on the thread pool")
                   .arg<long>("limit", "Count below this number", {.check = flash::range(2L, 1'000'000'000L)})
                   .run(flash::cpu_bound(primes)))
      .command(flash::cmd<"save">("Write FILE through a temporary file, after a wait")
                   .arg<std::string>("file", "The file to write")
                   .option<int>("--ms", "How long to wait before committing, in milliseconds",
                                {.default_value = 0, .check = flash::range(0, 3'600'000)})
                   .run(save))
      .command(flash::cmd<"login">("Log in, asking for what the command line does not give")
                   .option<std::string>("-u,--user", "Who logs in", {.env = "HELLO_USER", .prompt = "User name"})
                   .option<std::string>("--password", "The password",
                                        {.env = "HELLO_PASSWORD", .prompt = "Password", .secret = true})
                   .option<std::string>("--role", "What the session may do",
                                        {.check = flash::one_of({"reader", "writer", "admin"}), .prompt = "Role"})
                   .flag("--remember", "Stay logged in", {.prompt = "Remember this login?"})
                   .run(login))
      .run(argc, argv);
}
