// The stream processor and the line splitter.

#include "run_async.hpp"

#include <flash/exec/thread_pool.hpp>
#include <flash/ops/buffer_pool.hpp>
#include <flash/ops/stream.hpp>
#include <flash/runtime/metrics.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct temp_file {
  fs::path path;
  explicit temp_file(const std::string& data) {
    std::string pattern = (fs::temp_directory_path() / "flash-ops-stream-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    path = pattern;
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  ~temp_file() { fs::remove(path); }
};

std::string text_with_lines(std::size_t lines, unsigned seed) {
  std::mt19937 random(seed);
  std::string text;
  for (std::size_t i = 0; i < lines; ++i) {
    text.append(random() % 90, static_cast<char>('a' + random() % 26));
    if (random() % 5 == 0) text += '\r';
    text += '\n';
  }
  return text;
}

// The lines of `text` the simple way.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> split_in_chunks(const std::string& text, std::size_t chunk) {
  flash::line_splitter splitter;
  std::vector<std::string> lines;
  auto on_line = [&](std::string_view line) { lines.emplace_back(line); };
  for (std::size_t at = 0; at < text.size(); at += chunk)
    splitter.feed(std::string_view(text).substr(at, chunk), on_line);
  splitter.finish(on_line);
  CHECK(splitter.lines() == lines.size());
  return lines;
}

struct stream_fixture {
  boost::asio::io_context io;  // outlives the pool, whose threads post completions into it
  flash::thread_pool pool{2};
  flash::metrics metrics;
  flash::buffer_pool buffers;
  flash::stream_processor processor;
  explicit stream_fixture(std::size_t buffer_size = 4096)
      : buffers(buffer_size, 2, &metrics), processor(pool.get_executor(), buffers) {}
  template <class T>
  T run(flash::awaitable<T> task) {
    return run_async(io, std::move(task));
  }
};

}  // namespace

// --- line splitter ---------------------------------------------------------------------------

TEST_CASE("the line splitter joins lines that cross chunk boundaries", "[ops][stream]") {
  std::vector<std::string> lines;
  flash::line_splitter splitter;
  auto on_line = [&](std::string_view line) { lines.emplace_back(line); };
  splitter.feed("ab", on_line);
  splitter.feed("c\nde", on_line);
  CHECK(splitter.pending() == 2);
  splitter.feed("f\n\ng", on_line);
  splitter.finish(on_line);
  CHECK(lines == std::vector<std::string>{"abc", "def", "", "g"});
}

TEST_CASE("the line splitter keeps CR, and gives a last line without newline", "[ops][stream]") {
  CHECK(split_in_chunks("a\r\nb\r\n", 3) == std::vector<std::string>{"a\r", "b\r"});
  CHECK(split_in_chunks("one\ntwo", 4) == std::vector<std::string>{"one", "two"});
  CHECK(split_in_chunks("\n", 1) == std::vector<std::string>{""});
  CHECK(split_in_chunks("", 1).empty());
}

TEST_CASE("the line splitter gives the same lines whatever the chunk size", "[ops][stream]") {
  const auto text = text_with_lines(300, 3) + "no newline at the end";
  const auto expected = lines_of(text);
  for (std::size_t chunk : {1, 2, 7, 64, 4096, 1 << 20}) {
    INFO("chunk " << chunk);
    CHECK(split_in_chunks(text, chunk) == expected);
  }
}

TEST_CASE("the line splitter refuses a line longer than its limit", "[ops][stream]") {
  flash::line_splitter splitter(8);
  auto ignore = [](std::string_view) {};
  splitter.feed("12345\n1234567", ignore);
  try {
    splitter.feed("89", ignore);
    FAIL("the line is too long");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::resource_exhausted);
  }
}

// --- stream processor ------------------------------------------------------------------------

TEST_CASE("a file is processed in chunks, in order, in one buffer", "[ops][stream]") {
  const auto text = text_with_lines(20000, 5);  // about 1 MB
  temp_file file(text);
  stream_fixture f(4096);
  std::string seen;
  std::size_t chunks = 0, largest = 0;
  auto on_chunk = [&](std::string_view chunk) {
    seen.append(chunk);
    ++chunks;
    largest = std::max(largest, chunk.size());
  };
  const auto bytes = f.run(f.processor.process(file.path, on_chunk));
  CHECK(bytes == text.size());
  CHECK(seen == text);
  CHECK(largest <= 4096);
  CHECK(chunks >= text.size() / 4096);
  // Constant memory: one buffer, lent and returned, whatever the size.
  CHECK(f.buffers.allocated() == 1);
  CHECK(f.buffers.in_use() == 0);
  CHECK(f.metrics.snapshot().memory_peak == 4096);
  CHECK(f.metrics.snapshot().memory_current == 0);
}

TEST_CASE("chunks may be taken as bytes", "[ops][stream]") {
  temp_file file(std::string("\0\1\2\3", 4));
  stream_fixture f(3);
  std::vector<std::byte> seen;
  auto on_bytes = [&](std::span<const std::byte> chunk) { seen.insert(seen.end(), chunk.begin(), chunk.end()); };
  CHECK(f.run(f.processor.process(file.path, on_bytes)) == 4);
  CHECK(seen == std::vector<std::byte>{std::byte{0}, std::byte{1}, std::byte{2}, std::byte{3}});
}

TEST_CASE("for_each_line reads the lines of a file with a chunk of one byte", "[ops][stream]") {
  const auto text = text_with_lines(200, 9) + "last";
  temp_file file(text);
  stream_fixture f(1);
  std::vector<std::string> lines;
  auto on_line = [&](std::string_view line) { lines.emplace_back(line); };
  const auto count = f.run(flash::for_each_line(f.processor, file.path, on_line));
  CHECK(count == 201);
  CHECK(lines == lines_of(text));
}

TEST_CASE("an empty file has no chunk and no line", "[ops][stream]") {
  temp_file file("");
  stream_fixture f;
  int calls = 0;
  auto on_line = [&](std::string_view) { ++calls; };
  CHECK(f.run(flash::for_each_line(f.processor, file.path, on_line)) == 0);
  CHECK(calls == 0);
}

TEST_CASE("a pipe is read without blocking a thread, and its flags are left as they were", "[ops][stream]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const int flags = ::fcntl(fds[0], F_GETFL);
  const auto text = text_with_lines(5000, 11);
  std::thread writer([&] {
    std::size_t at = 0;
    while (at < text.size()) {
      const auto n = ::write(fds[1], text.data() + at, std::min<std::size_t>(1000, text.size() - at));
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
  });
  stream_fixture f(512);
  std::string seen;
  auto on_chunk = [&](std::string_view chunk) { seen.append(chunk); };
  const auto bytes = f.run(f.processor.process(fds[0], on_chunk, "the pipe"));
  writer.join();
  CHECK(bytes == text.size());
  CHECK(seen == text);
  CHECK(::fcntl(fds[0], F_GETFL) == flags);
  ::close(fds[0]);
}

TEST_CASE("a device epoll refuses (/dev/null) is read on the pool", "[ops][stream]") {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  stream_fixture f;
  auto on_chunk = [](std::string_view) {};
  CHECK(f.run(f.processor.process(fd, on_chunk, "/dev/null")) == 0);
  ::close(fd);
}

TEST_CASE("a missing file or a directory fails naming it", "[ops][stream]") {
  stream_fixture f;
  auto on_chunk = [](std::string_view) {};
  try {
    f.run(f.processor.process(fs::path("/no/such/file"), on_chunk));
    FAIL("should fail");
  } catch (const flash::error& e) {
    CHECK(std::string(e.what()) == "opening /no/such/file: No such file or directory");
  }
  try {
    f.run(f.processor.process(fs::temp_directory_path(), on_chunk));
    FAIL("should fail");
  } catch (const flash::error& e) {
    CHECK(e.cause() == std::errc::is_a_directory);
  }
}

TEST_CASE("cancelling a stream waiting on a pipe ends it and closes what it opened", "[ops][stream]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const auto descriptors = open_descriptors();
  std::exception_ptr error;
  std::size_t buffers_in_use = 1;
  {
    stream_fixture f;
    boost::asio::cancellation_signal signal;
    auto on_chunk = [](std::string_view) {};
    boost::asio::co_spawn(f.io, f.processor.process(fds[0], on_chunk, "the pipe"),
                          boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, std::uint64_t) {
                            error = e;
                          }));
    // Nothing is ever written: only the cancellation can end the read.
    boost::asio::steady_timer timer(f.io, 20ms);
    timer.async_wait([&](boost::system::error_code) { signal.emit(boost::asio::cancellation_type::terminal); });
    f.io.run();
    buffers_in_use = f.buffers.in_use();
  }  // the I/O context's own descriptors (epoll, eventfd, timerfd) go with it
  REQUIRE(error);
  CHECK(flash::is_cancellation(error));
  CHECK(open_descriptors() == descriptors);
  CHECK(buffers_in_use == 0);
  ::close(fds[0]);
  ::close(fds[1]);
}
