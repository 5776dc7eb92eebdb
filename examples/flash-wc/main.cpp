// flash-wc: prints the newline, word and byte counts of files, or of standard input, exactly as
// GNU wc does; the files are read concurrently, in constant memory, and printed in order.
//
//   flash-wc [-l] [-w] [-c] [FILE...]      FILE "-", or none: standard input

#include <flash/flash.hpp>
#include <flash/ops/buffer_pool.hpp>
#include <flash/ops/stream.hpp>
#include <flash/ui/progress.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <clocale>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <cwctype>
#include <fcntl.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

struct counts {
  std::uint64_t lines = 0, words = 0, bytes = 0;
};

// What a byte is to the word count in the C locale: a separator (isspace), part of a word
// (isprint), or nothing at all (other bytes neither start nor end a word, as in GNU wc).
enum class byte_class : unsigned char { none, word, space };

constexpr std::array<byte_class, 256> byte_classes = [] {
  std::array<byte_class, 256> table{};
  for (int c = 0x21; c < 0x7f; ++c) table[c] = byte_class::word;
  for (int c : {' ', '\t', '\n', '\v', '\f', '\r'}) table[c] = byte_class::space;
  return table;
}();

// Counts like GNU wc 9.1 in the current locale: in a multibyte one (UTF-8), characters are
// decoded, a printable wide character that is a space (or a no-break space) separates words
// and any other printable one is part of a word; invalid bytes count for nothing.
class counter {
 public:
  counter(bool count_words, bool multibyte) : count_words_(count_words), multibyte_(multibyte) {}

  void feed(std::string_view chunk) {
    result_.bytes += chunk.size();
    result_.lines += count_newlines(chunk);
    if (!count_words_) return;
    const auto* p = reinterpret_cast<const unsigned char*>(chunk.data());
    const auto* end = p + chunk.size();
    // Locals, not members: the bytes read may alias *this as far as the compiler knows.
    std::uint64_t words = 0;
    bool in_word = in_word_;
    while (p < end) {
      if (multibyte_ && (*p >= 0x80 || partial_)) {
        in_word_ = in_word;
        p = decode(p, end, words);
        in_word = in_word_;
        continue;
      }
      // Without branches: a space ends a word, a printable character is in one, others change nothing.
      const byte_class kind = byte_classes[*p++];
      words += in_word & (kind == byte_class::space);
      in_word = (kind == byte_class::word) | (in_word & (kind == byte_class::none));
    }
    in_word_ = in_word;
    result_.words += words;
  }

  /// Bytes known without reading them.
  void skip(std::uint64_t bytes) { result_.bytes += bytes; }

  counts finish() {
    if (in_word_) ++result_.words;
    in_word_ = false;
    return result_;
  }

 private:
  // Counts '\n' in blocks whose count fits a byte, so the compiler vectorizes the inner loop.
  static std::uint64_t count_newlines(std::string_view text) {
    std::uint64_t total = 0;
    while (!text.empty()) {
      const std::size_t block = std::min<std::size_t>(text.size(), 255);
      unsigned char in_block = 0;
      for (std::size_t i = 0; i < block; ++i) in_block += text[i] == '\n';
      total += in_block;
      text.remove_prefix(block);
    }
    return total;
  }

  const unsigned char* decode(const unsigned char* p, const unsigned char* end, std::uint64_t& words) {
    wchar_t wide = 0;
    const std::size_t n = std::mbrtowc(&wide, reinterpret_cast<const char*>(p), static_cast<std::size_t>(end - p), &state_);
    if (n == static_cast<std::size_t>(-2)) {  // continues in the next chunk; the state holds it
      partial_ = true;
      return end;
    }
    const bool was_partial = std::exchange(partial_, false);
    if (n == static_cast<std::size_t>(-1)) {
      state_ = std::mbstate_t{};
      // An invalid byte counts for nothing. When the sequence began in the last chunk, those
      // bytes were the invalid ones: this byte is decoded afresh.
      return was_partial ? p : p + 1;
    }
    if (n == 0) return p + 1;  // a NUL
    if (std::iswprint(static_cast<wint_t>(wide))) {
      if (std::iswspace(static_cast<wint_t>(wide)) || is_no_break_space(wide)) {
        words += in_word_;
        in_word_ = false;
      } else {
        in_word_ = true;
      }
    }
    return p + n;
  }

  static bool is_no_break_space(wchar_t c) { return c == 0x00A0 || c == 0x2007 || c == 0x202F || c == 0x2060; }

  bool count_words_;
  bool multibyte_;
  bool in_word_ = false;
  bool partial_ = false;
  std::mbstate_t state_{};
  counts result_;
};

struct input {
  std::string name;  // as given; empty for standard input without a name
  bool is_stdin = false;
};

struct outcome {
  counts values;
  std::string error;         // the message for stderr, if any
  bool print_counts = true;  // false when the file could not be opened
};

struct selection {
  bool lines, words, bytes;
  int how_many() const { return lines + words + bytes; }
};

// GNU wc's column width: 1 for a single count of a single input; else wide enough for the sum of
// the sizes of the regular files, and at least 7 when an input is not a regular file (its size
// is unknown). Inputs that cannot be examined are left out.
int column_width(const std::vector<input>& inputs, const selection& shown) {
  if (inputs.size() == 1 && shown.how_many() == 1) return 1;
  int minimum = 1;
  std::uint64_t total = 0;
  for (const auto& in : inputs) {
    struct stat status {};
    const int failed = in.is_stdin ? ::fstat(STDIN_FILENO, &status) : ::stat(in.name.c_str(), &status);
    if (failed) continue;
    if (S_ISREG(status.st_mode))
      total += static_cast<std::uint64_t>(status.st_size);
    else
      minimum = 7;
  }
  int width = 1;
  for (; total >= 10; total /= 10) ++width;
  return std::max(width, minimum);
}

std::string format_counts(const counts& c, const selection& shown, int width, std::string_view name) {
  std::string line;
  auto add = [&](std::uint64_t value) {
    if (!line.empty()) line += ' ';
    line += fmt::format("{:>{}}", value, width);
  };
  if (shown.lines) add(c.lines);
  if (shown.words) add(c.words);
  if (shown.bytes) add(c.bytes);
  if (!name.empty()) {
    line += ' ';
    line += name;
  }
  line += '\n';
  return line;
}

// The bytes from a regular file's offset to its end, without reading them (nor moving the
// offset: a second "-" finds them too, as with wc).
std::optional<std::uint64_t> size_left(int fd) {
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) return std::nullopt;
  const off_t at = ::lseek(fd, 0, SEEK_CUR);
  if (at < 0) return std::nullopt;
  return at < status.st_size ? static_cast<std::uint64_t>(status.st_size - at) : 0;
}

std::string reason_of(const flash::error& e) { return e.cause() ? e.cause().message() : e.what(); }

flash::awaitable<int> count(flash::context& ctx) {
  selection shown{ctx.get<bool>("lines"), ctx.get<bool>("words"), ctx.get<bool>("bytes")};
  if (shown.how_many() == 0) shown = {true, true, true};

  std::vector<input> inputs;
  for (const auto& name : ctx.get_many<std::string>("FILE")) inputs.push_back({name, name == "-"});
  const bool named = !inputs.empty();
  if (!named) inputs.push_back({"", true});

  const int width = column_width(inputs, shown);
  const bool multibyte = MB_CUR_MAX > 1;

  // The bytes to read, for the progress bar; unknown (a spinner) with a pipe among the inputs.
  std::uint64_t to_read = 0;
  for (const auto& in : inputs) {
    struct stat status {};
    const int failed = in.is_stdin ? ::fstat(STDIN_FILENO, &status) : ::stat(in.name.c_str(), &status);
    if (failed) continue;
    if (!S_ISREG(status.st_mode)) {
      to_read = 0;
      break;
    }
    to_read += static_cast<std::uint64_t>(status.st_size);
  }
  flash::progress_bar bar(to_read, "counting");

  // Each input holds one buffer while it is read: memory stays the same whatever the sizes.
  const std::size_t concurrency = std::max<std::size_t>(1, ctx.max_concurrency());
  flash::buffer_pool buffers(256 * 1024, concurrency, &ctx.metrics());
  flash::stream_processor processor(ctx, buffers);

  std::vector<std::optional<outcome>> outcomes(inputs.size());
  std::size_t printed = 0;
  counts total;
  bool failed = false;
  auto print_ready = [&] {
    for (; printed < outcomes.size() && outcomes[printed]; ++printed) {
      const outcome& done = *outcomes[printed];
      if (!done.error.empty()) {
        std::fflush(stdout);
        fmt::print(stderr, "flash-wc: {}\n", done.error);
        failed = true;
      }
      if (!done.print_counts) continue;
      fmt::print("{}", format_counts(done.values, shown, width, inputs[printed].name));
      total.lines += done.values.lines;
      total.words += done.values.words;
      total.bytes += done.values.bytes;
    }
  };

  // Reads one input; the standard input only once at a time, in the order it is named.
  auto count_one = [&](std::size_t index) -> flash::awaitable<void> {
    const input& in = inputs[index];
    outcome result;
    counter tally(shown.words, multibyte);
    auto on_chunk = [&](std::string_view chunk) {
      tally.feed(chunk);
      bar.advance(chunk.size());
    };
    int fd = STDIN_FILENO;
    // Without blocking: a FIFO with no writer yet would hold the I/O thread in open(2), out of
    // Ctrl-C's reach; opened so, it is waited for like any pipe.
    if (!in.is_stdin) fd = ::open(in.name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      result.error = fmt::format("{}: {}", in.name, std::strerror(errno));
      result.print_counts = false;
    } else if (const auto size = size_left(fd); size && !shown.lines && !shown.words) {
      tally.skip(*size);  // bytes alone: a regular file's size says it, as wc does
      bar.advance(*size);
      if (!in.is_stdin) ::close(fd);
    } else {
      const std::string name = in.is_stdin ? std::string("-") : in.name;
      try {
        co_await processor.process(fd, on_chunk, name);
      } catch (const flash::error& e) {
        if (e.code() == flash::errc::cancelled) throw;
        result.error = fmt::format("{}: {}", name, reason_of(e));
      }
      if (!in.is_stdin) ::close(fd);
    }
    result.values = tally.finish();
    outcomes[index] = std::move(result);
    bar.above(print_ready);
  };

  // Inputs naming standard input are read one after the other (the first one reads it all).
  std::vector<std::size_t> order;
  std::optional<std::size_t> first_stdin;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].is_stdin) {
      if (first_stdin) continue;
      first_stdin = i;
    }
    order.push_back(i);
  }
  auto item = [&](std::size_t k) -> flash::awaitable<void> {
    const std::size_t index = order[k];
    co_await count_one(index);
    if (index != first_stdin)
      co_return;
    for (std::size_t i = index + 1; i < inputs.size(); ++i)
      if (inputs[i].is_stdin) co_await count_one(i);
  };
  // At most ctx.max_concurrency() inputs are read at once; each is a task in the metrics.
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (std::size_t k = 0; k < order.size(); ++k) group.spawn(item(k));
    co_return;
  };
  co_await ctx.with_task_group(body);
  bar.finish();
  print_ready();
  if (inputs.size() > 1) fmt::print("{}", format_counts(total, shown, width, "total"));
  std::fflush(stdout);
  co_return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setlocale(LC_ALL, "");
  return flash::cli("flash-wc")
      .version(flash::version_string)
      .root_command(flash::cmd<"wc">("Print newline, word, and byte counts for each FILE, and a total line if more "
                                     "than one FILE is specified. A word is a non-zero-length sequence of printable "
                                     "characters delimited by white space. With no FILE, or when FILE is -, read "
                                     "standard input. Files are read concurrently, in constant memory.")
                        .flag("-l,--lines", "print the newline counts")
                        .flag("-w,--words", "print the word counts")
                        .flag("-c,--bytes", "print the byte counts")
                        .args<std::string>("FILE", "the files to count (- is standard input)", {.optional = true})
                        .run(count))
      .run(argc, argv);
}
