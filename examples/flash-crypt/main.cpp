// flash-crypt: encrypt and decrypt files with a passphrase (AES-256-GCM, the key derived with
// PBKDF2-HMAC-SHA256 from a random salt), on the thread pool, in constant memory.
//
//   flash-crypt encrypt IN OUT
//   flash-crypt decrypt IN OUT
//
// The passphrase is read from FLASH_CRYPT_PASSPHRASE, else asked for on the terminal with echo off
// (twice when encrypting); with neither, flash-crypt exits with 2. OUT is written through a
// temporary file beside it and appears only when everything succeeded: a wrong passphrase or a
// damaged file (exit 1), or Ctrl-C (exit 130), leaves no OUT.

#include <flash/flash.hpp>
#include <flash/ops/cancellable_read.hpp>
#include <flash/ops/crypto.hpp>
#include <flash/ui/progress.hpp>

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

namespace {

constexpr const char* passphrase_variable = "FLASH_CRYPT_PASSPHRASE";

enum class direction { encrypt, decrypt };

void wipe(std::string& secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

// One line from the terminal with echo off; nullopt when there is no terminal. It waits in short
// polls so that Ctrl-C, which cancels the token, ends the wait; the terminal is restored on every
// path.
std::optional<std::string> ask_on_terminal(const char* prompt, const flash::cancellation_token& token) {
  const int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) return std::nullopt;
  flash::resource_scope scope;
  scope.on_exit([tty] { ::close(tty); });
  termios saved{};
  if (::tcgetattr(tty, &saved) != 0) return std::nullopt;
  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;  // the newline the user types still moves to the next line
  if (::tcsetattr(tty, TCSAFLUSH, &quiet) != 0) return std::nullopt;
  scope.on_exit([tty, saved] { ::tcsetattr(tty, TCSAFLUSH, &saved); });

  if (::write(tty, prompt, std::char_traits<char>::length(prompt)) < 0) return std::nullopt;
  std::string line;
  for (;;) {
    if (token.is_cancelled()) {
      wipe(line);
      [[maybe_unused]] auto ignored = ::write(tty, "\n", 1);  // the shell's prompt starts on a line of its own
      throw flash::error(flash::errc::cancelled, "reading the passphrase");
    }
    char c = 0;
    const ssize_t got = flash::read_unless_cancelled(tty, &c, 1, token);
    if (got < 0 && errno == ECANCELED) continue;  // the check above wipes the line and throws
    if (got <= 0 || c == '\n') break;
    line.push_back(c);
  }
  return line;
}

// Asks once to decrypt, twice to encrypt (a typo would make the file unreadable).
std::optional<std::string> ask_passphrase(direction way, const flash::cancellation_token& token) {
  auto first = ask_on_terminal("Passphrase: ", token);
  if (!first || way == direction::decrypt) return first;
  auto again = ask_on_terminal("Repeat passphrase: ", token);
  const bool same = again && *again == *first;
  if (again) wipe(*again);
  if (!same) {
    wipe(*first);
    throw flash::error(flash::errc::validation_error, "the passphrases do not match");
  }
  return first;
}

std::uint64_t size_of(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0)
    throw flash::error(flash::errc::filesystem_error, "opening " + path,
                       std::error_code(errno, std::generic_category()));
  return S_ISREG(status.st_mode) ? static_cast<std::uint64_t>(status.st_size) : 0;
}

flash::awaitable<int> run(flash::context& ctx, direction way) {
  const auto& in = ctx.get<std::string>("IN");
  const auto& out = ctx.get<std::string>("OUT");
  // Before asking for a passphrase: there is no point in typing one for a file that is not there.
  const std::uint64_t total = size_of(in);

  std::string passphrase;
  if (const char* given = std::getenv(passphrase_variable)) {
    if (*given == '\0') {
      fmt::print(stderr, "{}: error: {} is set but empty\n", ctx.command(), passphrase_variable);
      co_return flash::exit_code::usage;
    }
    passphrase = given;
  } else {
    auto asking = ctx.offload([way](const flash::cancellation_token& token) { return ask_passphrase(way, token); });
    std::optional<std::string> typed = co_await std::move(asking);
    if (!typed) {
      fmt::print(stderr,
                 "{}: error: no passphrase: set {}, or run {} on a terminal to be asked for it\n",
                 ctx.command(), passphrase_variable, ctx.command());
      co_return flash::exit_code::usage;
    }
    passphrase = std::move(*typed);
    wipe(*typed);
  }

  flash::progress_bar bar(total, way == direction::encrypt ? "encrypting" : "decrypting");
  flash::crypt_options options;
  options.on_progress = [&bar](std::uint64_t bytes) { bar.advance(bytes); };
  auto work = way == direction::encrypt ? flash::async_encrypt_file(ctx, in, out, passphrase, std::move(options))
                                        : flash::async_decrypt_file(ctx, in, out, passphrase, std::move(options));
  wipe(passphrase);  // the operation has its own copy, which it wipes
  co_await std::move(work);
  co_return flash::exit_code::success;
}

flash::awaitable<int> encrypt(flash::context& ctx) { return run(ctx, direction::encrypt); }
flash::awaitable<int> decrypt(flash::context& ctx) { return run(ctx, direction::decrypt); }

}  // namespace

int main(int argc, char** argv) {
  return flash::cli("flash-crypt",
                    "Encrypt and decrypt files with a passphrase (AES-256-GCM, key from PBKDF2-HMAC-SHA256).\n"
                    "The passphrase comes from FLASH_CRYPT_PASSPHRASE, else it is asked for on the terminal.")
      .version(flash::version_string)
      .command(flash::cmd<"encrypt">("Encrypt IN into OUT (written only when complete)")
                   .arg<std::string>("IN", "The file to encrypt")
                   .arg<std::string>("OUT", "Where to write it encrypted")
                   .run(encrypt))
      .command(flash::cmd<"decrypt">("Decrypt IN into OUT (written only when the file proves intact)")
                   .arg<std::string>("IN", "The encrypted file")
                   .arg<std::string>("OUT", "Where to write the plaintext")
                   .run(decrypt))
      .run(argc, argv);
}
