// examples/hello/hello.cpp written by hand with CLI11 and Boost.Asio, without Flash: the
// baseline of benchmarks/compare.sh for start-up time, compile time and binary size.
//
// The same commands, options, checks and exit codes (0, 1, 2, 130 on Ctrl-C); each command
// sets up the execution it needs itself, as a hand-written program would.

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <termios.h>
#include <unistd.h>

namespace asio = boost::asio;

namespace {

std::atomic<bool> interrupted{false};

// Runs `start(io)` on an io_context that stops, with exit code 130, on SIGINT.
template <class Start>
int run_async(Start start) {
  asio::io_context io(1);
  asio::signal_set signals(io, SIGINT);
  signals.async_wait([&](boost::system::error_code error, int) {
    if (!error) {
      interrupted = true;
      io.stop();
    }
  });
  int code = 0;
  start(io, [&](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        fmt::print(stderr, "hello: {}\n", e.what());
      }
      code = 1;
    }
    signals.cancel();
  });
  io.run();
  return interrupted ? 130 : code;
}

std::string ask(const std::string& prompt, bool secret) {
  if (!::isatty(STDIN_FILENO)) throw std::runtime_error(prompt + " is required (stdin is not a terminal)");
  fmt::print("{}: ", prompt);
  std::fflush(stdout);
  termios saved{};
  if (secret) {
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (secret) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    fmt::print("\n");
  }
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Greets people and waits, to show what Flash does", "hello");
  app.set_version_flag("--version", "0.1.0");
  app.require_subcommand(1);

  auto* greet = app.add_subcommand("greet", "Greet someone by name");
  std::string name;
  bool loud = false;
  int count = 1;
  greet->add_option("name", name, "Who to greet")->required();
  greet->add_flag("-l,--loud", loud, "Shout the greeting");
  greet->add_option("-c,--count", count, "How many times to greet")
      ->envname("HELLO_COUNT")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));

  auto* wait = app.add_subcommand("wait", "Wait without blocking, then say so (a stackless coroutine)");
  int wait_ms = 0;
  wait->add_option("--ms", wait_ms, "How long to wait, in milliseconds")->required()->check(CLI::Range(0, 3'600'000));

  auto* nap = app.add_subcommand("nap", "Sleep on a green thread, then say so");
  int nap_ms = 0;
  nap->add_option("--ms", nap_ms, "How long to sleep, in milliseconds")->required()->check(CLI::Range(0, 3'600'000));

  auto* primes = app.add_subcommand("primes", "Count the primes below LIMIT on the thread pool");
  long limit = 0;
  primes->add_option("limit", limit, "Count below this number")->required()->check(CLI::Range(2L, 1'000'000'000L));

  auto* save = app.add_subcommand("save", "Write FILE through a temporary file, after a wait");
  std::string file;
  int save_ms = 0;
  save->add_option("file", file, "The file to write")->required();
  save->add_option("--ms", save_ms, "How long to wait before committing")->capture_default_str();

  auto* login = app.add_subcommand("login", "Log in, asking for what the command line does not give");
  std::string user, password, role;
  bool remember = false;
  login->add_option("-u,--user", user, "Who logs in")->envname("HELLO_USER");
  login->add_option("--password", password, "The password")->envname("HELLO_PASSWORD");
  login->add_option("--role", role, "What the session may do")->check(CLI::IsMember({"reader", "writer", "admin"}));
  auto* remember_flag = login->add_flag("--remember", remember, "Stay logged in");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  try {
    if (*greet) {
      std::string line = "Hello, " + name + "!";
      if (loud) std::transform(line.begin(), line.end(), line.begin(), [](unsigned char c) { return std::toupper(c); });
      for (int i = 0; i < count; ++i) fmt::print("{}\n", line);
      return 0;
    }
    if (*wait) {
      return run_async([&](asio::io_context& io, auto done) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              asio::steady_timer timer(io, std::chrono::milliseconds(wait_ms));
              co_await timer.async_wait(asio::use_awaitable);
              fmt::print("waited {} ms\n", wait_ms);
            },
            done);
      });
    }
    if (*nap) {
      return run_async([&](asio::io_context& io, auto done) {
        asio::spawn(
            io,
            [&](asio::yield_context yield) {
              asio::steady_timer timer(io, std::chrono::milliseconds(nap_ms));
              timer.async_wait(yield);
              fmt::print("napped {} ms\n", nap_ms);
            },
            done);
      });
    }
    if (*primes) {
      asio::thread_pool pool(1);
      std::atomic<bool> stop{false};
      long found = 0;
      bool complete = false;
      asio::post(pool, [&] {
        for (long n = 2; n < limit; ++n) {
          if (n % 4096 == 0 && stop) return;
          bool prime = true;
          for (long d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
          found += prime;
        }
        complete = true;
      });
      const int code = run_async([&](asio::io_context& io, auto done) {
        // Waits on the I/O thread for the pool, polling, so that Ctrl-C still stops it.
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              asio::steady_timer timer(io);
              while (!complete) {
                timer.expires_after(std::chrono::milliseconds(1));
                co_await timer.async_wait(asio::use_awaitable);
              }
            },
            done);
      });
      stop = true;
      pool.join();
      if (code != 0) return code;
      fmt::print("{} primes below {}\n", found, limit);
      return 0;
    }
    if (*save) {
      const std::filesystem::path target(file);
      std::string temporary = (target.parent_path() / ("." + target.filename().string() + ".XXXXXX")).string();
      const int fd = ::mkstemp(temporary.data());
      if (fd < 0) throw std::runtime_error("creating a temporary beside " + file);
      const std::string text = "saved by hello\n";
      const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      ::close(fd);
      if (!written) {
        std::filesystem::remove(temporary);
        throw std::runtime_error("writing " + temporary);
      }
      const int code = run_async([&](asio::io_context& io, auto done) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              asio::steady_timer timer(io, std::chrono::milliseconds(save_ms));
              co_await timer.async_wait(asio::use_awaitable);
            },
            done);
      });
      if (code != 0) {
        std::filesystem::remove(temporary);
        return code;
      }
      std::filesystem::rename(temporary, target);
      fmt::print("saved {}\n", file);
      return 0;
    }
    if (*login) {
      if (user.empty()) user = ask("User name", false);
      if (password.empty()) password = ask("Password", true);
      if (role.empty()) role = ask("Role", false);
      if (role != "reader" && role != "writer" && role != "admin") {
        fmt::print(stderr, "hello: --role: {} is not one of reader, writer, admin\n", role);
        return 2;
      }
      if (remember_flag->count() == 0 && ::isatty(STDIN_FILENO)) remember = ask("Remember this login? [y/N]", false) == "y";
      fmt::print("Logged in as {} ({}) with a password of {} characters{}\n", user, role, password.size(),
                 remember ? "; remembered" : "");
      return 0;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "hello: {}\n", e.what());
    return 1;
  }
  return 0;
}
