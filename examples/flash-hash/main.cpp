// flash-hash: print or check SHA-256, SHA-512 or BLAKE2b checksums, byte for byte as sha256sum,
// sha512sum and b2sum do, with the files hashed in parallel on the thread pool.
//
//   flash-hash [-a|--algo sha256|sha512|blake2b] [-j|--jobs N] [FILES...]   no FILES or "-": stdin
//   flash-hash -c|--check [--algo ...] [SUMFILES...]                        verify "<hex>  <name>" lines
//
// Results come out in the order of the arguments, each as soon as it and those before it are done.

#include <flash/flash.hpp>
#include <flash/ops/cancellable_read.hpp>
#include <flash/ops/crypto.hpp>
#include <flash/ui/progress.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr const char* program = "flash-hash";

struct settings {
  flash::hash_algorithm algorithm = flash::hash_algorithm::sha256;
  std::size_t jobs = 0;  // files hashed at once
  bool map_files = true;
  std::vector<std::string> files;
};

// --- names as coreutils writes them ----------------------------------------------------------

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// In a checksum line, a name with a backslash, newline or carriage return is escaped, and the
// line starts with a backslash.
bool needs_escape(std::string_view name) { return name.find_first_of("\\\n\r") != std::string_view::npos; }

std::string escaped(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out;
}

std::optional<std::string> unescaped(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '\\') {
      out += name[i];
      continue;
    }
    if (++i == name.size()) return std::nullopt;
    if (name[i] == '\\') out += '\\';
    else if (name[i] == 'n') out += '\n';
    else if (name[i] == 'r') out += '\r';
    else return std::nullopt;
  }
  return out;
}

// A name in a diagnostic, quoted when a shell would need it, as coreutils does (gnulib's
// shell-escape quoting, with ':' quoted too): a b -> 'a b', it's -> "it's", a\nb -> 'a'$'\n''b'.
std::string quote_name(std::string_view name) {
  auto plain = [&](unsigned char c, std::size_t at) {
    if (std::isalnum(c) || c >= 0x80) return true;
    if (c == '#' || c == '~') return at != 0;
    if (c == '{' || c == '}') return name.size() != 1;
    return c != '\0' && std::strchr("%+,-./]_@", c) != nullptr;
  };
  // Characters that mean the same inside C double quotes and to the shell.
  auto compatible = [&](unsigned char c, std::size_t at) {
    if (c == ' ' || c == '\'' || c == ':') return true;
    if (c == '#' || c == '~' || c == '{' || c == '}') return !plain(c, at);
    return plain(c, at);
  };
  bool needs_quotes = name.empty(), all_compatible = true;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    needs_quotes = needs_quotes || !plain(c, i);
    all_compatible = all_compatible && compatible(c, i);
  }
  if (!needs_quotes) return std::string(name);
  if (all_compatible && name.find('\'') != std::string_view::npos) return fmt::format("\"{}\"", name);

  std::string out = "'";
  bool open = true;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_control(c)) {
      if (open) out += '\'';
      open = false;
      const char* letter = nullptr;
      switch (c) {
        case '\a': letter = "a"; break;
        case '\b': letter = "b"; break;
        case '\t': letter = "t"; break;
        case '\n': letter = "n"; break;
        case '\v': letter = "v"; break;
        case '\f': letter = "f"; break;
        case '\r': letter = "r"; break;
        default: break;
      }
      out += letter ? fmt::format("$'\\{}'", letter) : fmt::format("$'\\{:03o}'", c);
      continue;
    }
    if (!open) out += '\'';
    open = true;
    if (c == '\'') out += "'\\''";
    else out += ch;
  }
  if (open) out += '\'';
  return out;
}

// --- output --------------------------------------------------------------------------------

// Hands results over in index order, whatever order they arrive in.
class in_order {
 public:
  using print_function = std::function<void(std::size_t, const flash::hash_result&)>;
  in_order(std::size_t count, print_function print) : pending_(count), print_(std::move(print)) {}

  void arrived(std::size_t index, const flash::hash_result& result) {
    pending_[index] = result;
    for (; next_ < pending_.size() && pending_[next_]; ++next_) {
      print_(next_, *pending_[next_]);
      pending_[next_].reset();
    }
  }

 private:
  std::vector<std::optional<flash::hash_result>> pending_;
  std::size_t next_ = 0;
  print_function print_;
};

// The paths to hash for the names given: "-" is standard input the first time; read again, as
// coreutils does, it is at its end (and two readers must not share one pipe).
std::vector<std::filesystem::path> paths_of(const std::vector<std::string>& names) {
  std::vector<std::filesystem::path> paths;
  bool stdin_taken = false;
  for (const auto& name : names) {
    if (name != "-") paths.emplace_back(name);
    else paths.emplace_back(std::exchange(stdin_taken, true) ? "/dev/null" : "/dev/stdin");
  }
  return paths;
}

// The bytes to hash, for the progress bar; 0 (unknown: a spinner) when an input is standard
// input or anything else whose size is not known beforehand.
std::uint64_t total_size(const std::vector<std::string>& names) {
  std::uint64_t total = 0;
  for (const auto& name : names) {
    struct stat status {};
    if (name == "-") return 0;
    if (::stat(name.c_str(), &status) != 0) continue;  // reported when its turn comes
    if (!S_ISREG(status.st_mode)) return 0;
    total += static_cast<std::uint64_t>(status.st_size);
  }
  return total;
}

flash::hash_files_options options_for(const settings& s, flash::progress_bar& bar, in_order& ordered) {
  return {.max_concurrency = s.jobs,
          .on_progress = [&bar](std::uint64_t bytes) { bar.advance(bytes); },
          .on_result = [&ordered](std::size_t index, const flash::hash_result& result) {
            ordered.arrived(index, result);
          },
          .map_files = s.map_files};
}

// --- flash-hash FILES ----------------------------------------------------------------------

flash::awaitable<int> print_sums(flash::context& ctx, const settings& s) {
  int status = 0;
  flash::progress_bar bar(total_size(s.files), "hashing");
  in_order ordered(s.files.size(), [&](std::size_t i, const flash::hash_result& result) {
    const std::string& name = s.files[i];
    bar.above([&] {
      if (result.ok()) {
        fmt::print("{}{}  {}\n", needs_escape(name) ? "\\" : "", result.digest, escaped(name));
      } else {
        status = 1;
        fmt::print(stderr, "{}: {}: {}\n", program, quote_name(name), result.reason);
      }
    });
  });
  auto hashing = flash::hash_files(ctx, paths_of(s.files), s.algorithm, options_for(s, bar, ordered));
  co_await std::move(hashing);
  bar.finish();
  co_return status;
}

// --- flash-hash --check SUMFILES -----------------------------------------------------------

struct checksum_line {
  std::string name;
  std::string expected;  // lowercase hex
};

struct checksum_list {
  std::vector<checksum_line> lines;
  std::size_t improper = 0;
};

// Lines "<hex>  <name>" or "<hex> *<name>" (a single space too), a leading backslash meaning the
// name is escaped; blank lines and #-comments are skipped, anything else is counted as improper.
checksum_list parse_list(std::string_view text, std::size_t hex_size) {
  checksum_list list;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const bool is_escaped = line.front() == '\\';
    if (is_escaped) line.remove_prefix(1);
    bool ok = line.size() > hex_size + 1 && line[hex_size] == ' ';
    for (std::size_t i = 0; ok && i < hex_size; ++i) ok = std::isxdigit(static_cast<unsigned char>(line[i])) != 0;
    if (!ok) {
      ++list.improper;
      continue;
    }
    std::string expected(line.substr(0, hex_size));
    for (auto& c : expected) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view name = line.substr(hex_size + 1);
    if (name.size() > 1 && (name.front() == ' ' || name.front() == '*')) name.remove_prefix(1);
    auto decoded = is_escaped ? unescaped(name) : std::optional<std::string>(name);
    if (!decoded || decoded->empty()) {
      ++list.improper;
      continue;
    }
    list.lines.push_back({std::move(*decoded), std::move(expected)});
  }
  return list;
}

struct read_outcome {
  std::string text;
  std::string failure;  // the system's reason, when the list could not be read
};

// Reads a whole checksum list. Pipes and terminals are read in short polls so that Ctrl-C, which
// cancels the token, is seen while they stay silent.
read_outcome read_list(const std::string& name, const flash::cancellation_token& token) {
  const int fd = name == "-" ? ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)
                             : ::open(name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return {{}, std::strerror(errno)};
  flash::resource_scope scope;
  scope.on_exit([fd] { ::close(fd); });
  const bool may_wait = flash::may_wait_forever(fd);
  read_outcome outcome;
  char buffer[1 << 16];
  for (;;) {
    if (token.is_cancelled()) throw flash::error(flash::errc::cancelled, "reading " + name);
    const ssize_t got = may_wait ? flash::read_unless_cancelled(fd, buffer, sizeof buffer, token)
                                 : ::read(fd, buffer, sizeof buffer);
    if (got < 0 && (errno == EINTR || errno == ECANCELED)) continue;
    if (got < 0) return {{}, std::strerror(errno)};
    if (got == 0) return outcome;
    outcome.text.append(buffer, static_cast<std::size_t>(got));
  }
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

flash::awaitable<int> check_list(flash::context& ctx, const settings& s, const std::string& list_name) {
  auto job = [&list_name](const flash::cancellation_token& token) { return read_list(list_name, token); };
  auto reading = ctx.offload(std::move(job));
  read_outcome read = co_await std::move(reading);
  const std::string shown_list = quote_name(list_name == "-" ? "standard input" : list_name);
  if (!read.failure.empty()) {
    fmt::print(stderr, "{}: {}: {}\n", program, shown_list, read.failure);
    co_return 1;
  }
  const checksum_list list = parse_list(read.text, 2 * flash::digest_size(s.algorithm));
  if (list.lines.empty()) {
    fmt::print(stderr, "{}: {}: no properly formatted checksum lines found\n", program, shown_list);
    co_return 1;
  }

  std::size_t mismatched = 0, unreadable = 0;
  std::vector<std::string> names;
  for (const auto& line : list.lines) names.push_back(line.name);
  flash::progress_bar bar(total_size(names), "checking");
  in_order ordered(list.lines.size(), [&](std::size_t i, const flash::hash_result& result) {
    const checksum_line& line = list.lines[i];
    const bool has_newline = line.name.find('\n') != std::string::npos;
    const std::string shown = has_newline ? "\\" + escaped(line.name) : line.name;
    bar.above([&] {
      if (!result.ok()) {
        ++unreadable;
        fmt::print(stderr, "{}: {}: {}\n", program, quote_name(line.name), result.reason);
        fmt::print("{}: FAILED open or read\n", shown);
      } else if (result.digest != line.expected) {
        ++mismatched;
        fmt::print("{}: FAILED\n", shown);
      } else {
        fmt::print("{}: OK\n", shown);
      }
    });
  });
  auto hashing = flash::hash_files(ctx, paths_of(names), s.algorithm, options_for(s, bar, ordered));
  co_await std::move(hashing);
  bar.finish();

  std::fflush(stdout);
  if (list.improper)
    fmt::print(stderr, "{}: WARNING: {} improperly formatted\n", program,
               plural(list.improper, "line is", "lines are"));
  if (unreadable)
    fmt::print(stderr, "{}: WARNING: {} could not be read\n", program,
               plural(unreadable, "listed file", "listed files"));
  if (mismatched)
    fmt::print(stderr, "{}: WARNING: {} did NOT match\n", program,
               plural(mismatched, "computed checksum", "computed checksums"));
  co_return unreadable || mismatched ? 1 : 0;
}

flash::awaitable<int> check_sums(flash::context& ctx, const settings& s) {
  int status = 0;
  for (const auto& list_name : s.files) {
    auto checking = check_list(ctx, s, list_name);
    if (co_await std::move(checking) != 0) status = 1;
  }
  co_return status;
}

flash::awaitable<int> hash(flash::context& ctx) {
  settings s{.algorithm = *flash::parse_hash_algorithm(ctx.get<std::string>("algo")),
             .jobs = static_cast<std::size_t>(ctx.get<int>("jobs")),
             .map_files = !ctx.get<bool>("no-mmap"),
             .files = ctx.get_many<std::string>("FILE")};
  if (s.jobs == 0) s.jobs = ctx.pool().size() * flash::hash_lanes(s.algorithm);
  if (s.files.empty()) s.files.push_back("-");
  auto work = ctx.get<bool>("check") ? check_sums(ctx, s) : print_sums(ctx, s);
  int status = co_await std::move(work);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    fmt::print(stderr, "{}: write error: {}\n", program, std::strerror(errno));
    status = flash::exit_code::failure;
  }
  co_return status;
}

}  // namespace

int main(int argc, char** argv) {
  return flash::cli(program,
                    "Print or check SHA-256, SHA-512 or BLAKE2b checksums, as sha256sum, sha512sum and b2sum do, "
                    "hashing the files in parallel. With no FILE, or when FILE is -, read standard input.")
      .version(flash::version_string)
      .root_command(
          flash::cmd<"hash">()
              .option<std::string>("-a,--algo", "The hash: sha256, sha512 or blake2b (BLAKE2b-512, as b2sum)",
                                   {.default_value = "sha256",
                                    .check = flash::one_of({"sha256", "sha512", "blake2b", "blake2b512"})})
              .option<int>("-j,--jobs", "Files hashed at once (default: per hardware thread, 4 with SHA-256 on a CPU with SHA extensions, else 1)",
                           {.check = flash::range(1, 1024)})
              .flag("-c,--check", "Read checksums from the FILEs and check them, as sha256sum -c")
              .flag("--no-mmap", "Read large files with read(2) rather than hashing them where the page cache holds them")
              .args<std::string>("FILE", "The files to hash, or with --check the checksum lists", {.optional = true})
              .run(hash))
      .run(argc, argv);
}
