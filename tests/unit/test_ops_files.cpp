// Buffer pools, for_each_file / read_files, copy_file and copy_tree.

#include "run_async.hpp"

#include <flash/exec/thread_pool.hpp>
#include <flash/ops/buffer_pool.hpp>
#include <flash/ops/cancellable_read.hpp>
#include <flash/ops/copy.hpp>
#include <flash/ops/file.hpp>
#include <flash/runtime/metrics.hpp>
#include <flash/runtime/timeout.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <random>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string make_data(std::size_t size, unsigned seed = 1) {
  std::mt19937 random(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(random() & 0xff);
  return data;
}

void write_file(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE(out.good());
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

mode_t mode_of(const fs::path& path) {
  struct stat status {};
  REQUIRE(::lstat(path.c_str(), &status) == 0);
  return status.st_mode & 07777;
}

// Entries of a directory whose name marks a Flash temporary.
std::vector<std::string> temporaries_in(const fs::path& directory) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(directory)) {
    const auto name = entry.path().filename().string();
    if (name.find(".flash-") != std::string::npos) found.push_back(name);
  }
  return found;
}

// Two trees are the same: same names, kinds, contents, modes and link targets.
void require_same_tree(const fs::path& a, const fs::path& b) {
  std::vector<fs::path> left, right;
  for (const auto& entry : fs::recursive_directory_iterator(a)) left.push_back(fs::relative(entry.path(), a));
  for (const auto& entry : fs::recursive_directory_iterator(b)) right.push_back(fs::relative(entry.path(), b));
  std::sort(left.begin(), left.end());
  std::sort(right.begin(), right.end());
  REQUIRE(left == right);
  for (const auto& relative : left) {
    INFO(relative.string());
    const auto x = a / relative, y = b / relative;
    const auto kind = fs::symlink_status(x).type();
    REQUIRE(kind == fs::symlink_status(y).type());
    if (kind == fs::file_type::symlink) {
      CHECK(fs::read_symlink(x) == fs::read_symlink(y));
      continue;
    }
    CHECK(mode_of(x) == mode_of(y));
    if (kind == fs::file_type::regular) CHECK(read_all(x) == read_all(y));
  }
}

// The I/O context outlives the pool, whose threads post completions into it.
struct pool_fixture {
  boost::asio::io_context io;
  flash::thread_pool pool{2};
  boost::asio::any_io_executor executor() { return pool.get_executor(); }
  template <class T>
  T run(flash::awaitable<T> task) {
    return run_async(io, std::move(task));
  }
};

}  // namespace

// --- buffer pool -----------------------------------------------------------------------------

TEST_CASE("a buffer pool reuses its buffers", "[ops][buffer_pool]") {
  flash::buffer_pool pool(4096, 2);
  std::byte* first = nullptr;
  {
    auto lease = pool.acquire();
    REQUIRE(lease);
    CHECK(lease.size() == 4096);
    CHECK(pool.in_use() == 1);
    first = lease.data();
  }
  CHECK(pool.in_use() == 0);
  auto again = pool.acquire();
  CHECK(again.data() == first);
  CHECK(pool.allocated() == 1);
}

TEST_CASE("a buffer pool lends at most max_buffers", "[ops][buffer_pool]") {
  flash::buffer_pool pool(512, 2);
  auto a = pool.acquire();
  auto b = pool.acquire();
  CHECK_FALSE(pool.try_acquire());
  try {
    (void)pool.acquire();
    FAIL("acquire past the limit should throw");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::resource_exhausted);
  }
  b.release();
  CHECK_FALSE(b);
  auto c = pool.try_acquire();
  REQUIRE(c);
  CHECK(pool.allocated() == 2);
}

TEST_CASE("async_acquire waits for a buffer to come back, and can be cancelled", "[ops][buffer_pool]") {
  flash::buffer_pool pool(256, 1);
  boost::asio::io_context io;
  auto held = pool.acquire();
  bool got = false;
  boost::asio::co_spawn(io, pool.async_acquire(), [&](std::exception_ptr e, flash::buffer_lease lease) {
    REQUIRE_FALSE(e);
    got = static_cast<bool>(lease);
  });
  io.poll();
  CHECK_FALSE(got);  // nothing free yet
  held.release();
  io.restart();
  io.run();
  CHECK(got);
  CHECK(pool.in_use() == 0);

  auto again = pool.acquire();
  try {
    run_async(io, flash::with_timeout(pool.async_acquire(), 1ms, "waiting for a buffer"));
    FAIL("the wait should have been cancelled");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::timeout);
  }
  again.release();
  CHECK(pool.try_acquire());  // the cancelled wait took nothing
}

TEST_CASE("a buffer pool reports the bytes lent out to the metrics", "[ops][buffer_pool]") {
  flash::metrics metrics;
  flash::buffer_pool pool(1000, 4, &metrics);
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    CHECK(metrics.snapshot().memory_current == 2000);
  }
  auto c = pool.acquire();
  auto snapshot = metrics.snapshot();
  CHECK(snapshot.memory_current == 1000);
  CHECK(snapshot.memory_peak == 2000);
}

TEST_CASE("a buffer pool is safe to use from several threads", "[ops][buffer_pool]") {
  flash::buffer_pool pool(64, 3);
  std::atomic<int> got{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i)
        if (auto lease = pool.try_acquire()) {
          (*lease).data()[0] = std::byte{1};
          ++got;
        }
    });
  for (auto& thread : threads) thread.join();
  CHECK(got > 0);
  CHECK(pool.in_use() == 0);
  CHECK(pool.allocated() <= 3);
}

// --- for_each_file ---------------------------------------------------------------------------

TEST_CASE("read_files returns each file's contents or why it failed, in order", "[ops][file]") {
  temp_dir dir;
  write_file(dir / "a", "alpha");
  write_file(dir / "b", "");
  fs::create_directory(dir / "sub");
  pool_fixture pool;
  std::vector<fs::path> paths{dir / "a", dir / "missing", dir / "sub", dir / "b"};
  auto results = pool.run(flash::read_files(pool.executor(), paths));
  REQUIRE(results.size() == 4);
  CHECK(results[0].ok());
  CHECK(results[0].value() == "alpha");
  CHECK(results[0].path() == dir / "a");
  CHECK_FALSE(results[1]);
  CHECK(results[1].reason() == "No such file or directory");
  CHECK(results[1].cause() == std::errc::no_such_file_or_directory);
  CHECK(results[1].path() == dir / "missing");
  CHECK_FALSE(results[2]);
  CHECK(results[2].reason() == "Is a directory");
  CHECK(results[3].ok());
  CHECK(results[3].value().empty());
  try {
    (void)results[1].value();
    FAIL("value() of a failure should throw");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::filesystem_error);
    CHECK(std::string(e.what()).find((dir / "missing").string()) != std::string::npos);
  }
}

TEST_CASE("read_files reports a file it may not read", "[ops][file]") {
  if (::geteuid() == 0) {
    WARN("running as root: permission checks do not apply, 'Permission denied' is not tested");
    return;
  }
  temp_dir dir;
  write_file(dir / "secret", "x");
  fs::permissions(dir / "secret", fs::perms::none);
  pool_fixture pool;
  auto results = pool.run(flash::read_files(pool.executor(), {dir / "secret"}));
  CHECK(results[0].reason() == "Permission denied");
}

TEST_CASE("for_each_file keeps to its concurrency limit and counts each file as a task", "[ops][file]") {
  temp_dir dir;
  std::vector<fs::path> paths;
  for (int i = 0; i < 40; ++i) {
    paths.push_back(dir / ("f" + std::to_string(i)));
    write_file(paths.back(), std::string(static_cast<std::size_t>(i), 'x'));
  }
  pool_fixture pool;
  flash::metrics metrics;
  std::atomic<int> running{0}, most{0};
  auto size_of = [&](const fs::path& path) {
    const int now = ++running;
    int seen = most.load();
    while (seen < now && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::yield();
    auto size = fs::file_size(path);
    --running;
    return size;
  };
  auto results = pool.run(flash::for_each_file(pool.executor(), paths, size_of,
                                                {.max_concurrency = 3, .observer = &metrics}));
  REQUIRE(results.size() == 40);
  for (std::size_t i = 0; i < results.size(); ++i) CHECK(results[i].value() == i);
  CHECK(most.load() <= 3);
  auto snapshot = metrics.snapshot();
  CHECK(snapshot.tasks_spawned == 40);
  CHECK(snapshot.tasks_completed == 40);
  CHECK(snapshot.peak_concurrency <= 3);
}

TEST_CASE("for_each_file with fail_fast throws the first failure, naming the file", "[ops][file]") {
  temp_dir dir;
  write_file(dir / "a", "a");
  pool_fixture pool;
  auto touch = [](const fs::path& path) {
    if (!fs::exists(path)) throw std::system_error(std::make_error_code(std::errc::no_such_file_or_directory));
  };
  try {
    pool.run(flash::for_each_file(pool.executor(), {dir / "a", dir / "gone"}, touch,
                                   {.max_concurrency = 1, .fail_fast = true}));
    FAIL("fail_fast should throw");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::filesystem_error);
    CHECK(std::string(e.what()) == (dir / "gone").string() + ": No such file or directory");
  }
  // Without it, a void function gives monostate values and the failure in its place.
  auto results = pool.run(flash::for_each_file(pool.executor(), {dir / "gone", dir / "a"}, touch));
  CHECK_FALSE(results[0]);
  CHECK(results[1]);
}

// --- copy_file -------------------------------------------------------------------------------

namespace {
constexpr std::size_t chunk = 64 * 1024;
}

TEST_CASE("copy_file copies every size exactly with every method", "[ops][copy]") {
  temp_dir dir;
  const std::vector<std::size_t> sizes{0, 1, chunk - 1, chunk, chunk + 1, 5 * 1024 * 1024 + 13};
  const std::vector<flash::copy_method> methods{flash::copy_method::automatic, flash::copy_method::copy_file_range,
                                                flash::copy_method::sendfile, flash::copy_method::read_write};
  flash::buffer_pool buffers(chunk, 1);
  for (std::size_t size : sizes) {
    const auto data = make_data(size, static_cast<unsigned>(size));
    write_file(dir / "source", data);
    for (auto method : methods) {
      INFO("size " << size << ", method " << flash::to_string(method));
      const auto destination = dir / ("copy-" + std::string(flash::to_string(method)));
      std::uint64_t reported = 0;
      auto result = flash::copy_file(dir / "source", destination,
                                     {.method = method, .chunk_size = chunk, .buffers = &buffers,
                                      .on_progress = [&](std::uint64_t n) { reported += n; }});
      CHECK(result.bytes == size);
      CHECK(reported == size);
      CHECK(read_all(destination) == data);
      if (method != flash::copy_method::automatic) CHECK(result.method == method);
      else if (size == 0) CHECK(result.method == flash::copy_method::read_write);  // nothing to ask the kernel
      CHECK(buffers.in_use() == 0);
    }
  }
  CHECK(temporaries_in(dir.path).empty());
}

TEST_CASE("copy_file keeps the mode bits and replaces an existing destination", "[ops][copy]") {
  temp_dir dir;
  for (mode_t mode : {0600, 0640, 0750, 0755, 0444}) {
    INFO("mode " << std::oct << mode);
    write_file(dir / "source", "short");
    REQUIRE(::chmod((dir / "source").c_str(), mode) == 0);
    fs::remove(dir / "destination");
    write_file(dir / "destination", "a much longer old content that must disappear");
    flash::copy_file(dir / "source", dir / "destination");
    CHECK(read_all(dir / "destination") == "short");
    CHECK(mode_of(dir / "destination") == mode);
    ::chmod((dir / "source").c_str(), 0600);
  }
  REQUIRE(::chmod((dir / "source").c_str(), 0644) == 0);
  flash::copy_file(dir / "source", dir / "masked", {.mode_mask = 0750});
  CHECK(mode_of(dir / "masked") == 0640);
}

TEST_CASE("copy_file fails naming both paths, and creates nothing", "[ops][copy]") {
  temp_dir dir;
  write_file(dir / "source", "data");
  try {
    flash::copy_file(dir / "source", dir / "no" / "such" / "file");
    FAIL("copying into a missing directory should fail");
  } catch (const flash::copy_error& e) {
    CHECK(e.code() == flash::errc::filesystem_error);
    CHECK(e.stage() == flash::copy_stage::creating_destination);
    CHECK(e.cause() == std::errc::no_such_file_or_directory);
    CHECK(std::string(e.what()) == "copying " + (dir / "source").string() + " to " +
                                       (dir / "no/such/file").string() + ": No such file or directory");
  }
  CHECK_FALSE(fs::exists(dir / "no"));

  try {
    flash::copy_file(dir / "missing", dir / "out");
    FAIL("copying a missing file should fail");
  } catch (const flash::copy_error& e) {
    CHECK(e.stage() == flash::copy_stage::reading_source);
    CHECK(e.cause() == std::errc::no_such_file_or_directory);
  }
  fs::create_directory(dir / "adir");
  CHECK_THROWS_AS(flash::copy_file(dir / "adir", dir / "out"), flash::copy_error);
  CHECK_THROWS_AS(flash::copy_file(dir / "source", dir / "adir"), flash::copy_error);
  CHECK_FALSE(fs::exists(dir / "out"));
  CHECK(temporaries_in(dir.path).empty());
}

TEST_CASE("read_unless_cancelled waits for data in polls that a cancellation ends", "[ops][cancel]") {
  int ends[2];
  REQUIRE(::pipe(ends) == 0);
  CHECK(flash::may_wait_forever(ends[0]));
  flash::cancellation_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    stop.request_cancel();
  });
  char byte = 0;
  const ssize_t cancelled = flash::read_unless_cancelled(ends[0], &byte, 1, stop.token());
  const int cancelled_errno = errno;
  canceller.join();
  CHECK(cancelled == -1);
  CHECK(cancelled_errno == ECANCELED);

  flash::cancellation_source never;
  REQUIRE(::write(ends[1], "x", 1) == 1);
  CHECK(flash::read_unless_cancelled(ends[0], &byte, 1, never.token()) == 1);
  CHECK(byte == 'x');
  ::close(ends[1]);
  CHECK(flash::read_unless_cancelled(ends[0], &byte, 1, never.token()) == 0);  // the end
  ::close(ends[0]);

  temp_dir dir;
  write_file(dir / "regular", "data");
  const int regular = ::open((dir / "regular").c_str(), O_RDONLY | O_CLOEXEC);
  CHECK_FALSE(flash::may_wait_forever(regular));
  ::close(regular);
}

TEST_CASE("copying from a FIFO waits for its writer, and a cancellation ends the wait", "[ops][copy][cancel]") {
  temp_dir dir;
  const fs::path fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto descriptors = open_descriptors();
  {
    // No writer ever: open(2) would wait for one for ever, out of the token's reach.
    flash::cancellation_source stop;
    std::thread canceller([&] {
      std::this_thread::sleep_for(100ms);
      stop.request_cancel();
    });
    std::error_code code;
    try {
      flash::copy_file(fifo, dir / "copy", {.token = stop.token()});
    } catch (const flash::copy_error& e) {
      code = e.code();
    }
    canceller.join();
    CHECK(code == flash::errc::cancelled);
    CHECK_FALSE(fs::exists(dir / "copy"));
    CHECK(temporaries_in(dir.path).empty());
    CHECK(open_descriptors() == descriptors);
  }

  // A writer that comes later: its data, then the end when it closes.
  flash::cancellation_source never;
  const std::string data = make_data(3 * chunk + 5);
  bool written = false;  // Catch's assertions are for the test's own thread
  std::thread writer([&] {
    std::this_thread::sleep_for(100ms);
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    written = fd >= 0 && ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    if (fd >= 0) ::close(fd);
  });
  const auto result = flash::copy_file(fifo, dir / "copy", {.token = never.token()});
  writer.join();
  CHECK(written);
  CHECK(result.method == flash::copy_method::read_write);
  CHECK(result.bytes == data.size());
  CHECK(read_all(dir / "copy") == data);
}

TEST_CASE("copy_file writes through a destination that is a symbolic link, as cp does", "[ops][copy]") {
  temp_dir dir;
  write_file(dir / "source", "new data");
  fs::create_directory(dir / "real");
  write_file(dir / "real" / "target", "old");
  fs::create_symlink("real/target", dir / "link");        // relative, from the link's directory
  fs::create_symlink(dir / "link", dir / "link-to-link");  // a chain
  fs::create_symlink("real/absent", dir / "dangling");

  flash::copy_file(dir / "source", dir / "link-to-link");
  CHECK(fs::is_symlink(dir / "link-to-link"));
  CHECK(fs::is_symlink(dir / "link"));
  CHECK(read_all(dir / "real" / "target") == "new data");
  CHECK(temporaries_in(dir.path).empty());

  flash::copy_file(dir / "source", dir / "dangling");  // creates what the link names, as > does
  CHECK(fs::is_symlink(dir / "dangling"));
  CHECK(read_all(dir / "real" / "absent") == "new data");

  // A link to something that is not a regular file is refused as that thing would be.
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  fs::create_symlink("fifo", dir / "to-fifo");
  try {
    flash::copy_file(dir / "source", dir / "to-fifo");
    FAIL("copying through a link to a fifo should fail");
  } catch (const flash::copy_error& e) {
    CHECK(e.cause() == flash::destination_errc::not_regular_file);
  }
  CHECK(fs::is_symlink(dir / "to-fifo"));
}

TEST_CASE("copy_file refuses a destination that is not a regular file, and can flush with sync", "[ops][copy]") {
  temp_dir dir;
  write_file(dir / "source", "data");
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  try {
    flash::copy_file(dir / "source", dir / "fifo");
    FAIL("copying over a fifo should fail");
  } catch (const flash::copy_error& e) {
    CHECK(e.stage() == flash::copy_stage::creating_destination);
    CHECK(e.cause() == flash::destination_errc::not_regular_file);
    CHECK_THAT(e.what(), Catch::Contains((dir / "fifo").string()) && Catch::Contains("not a regular file"));
  }
  CHECK(fs::is_fifo(dir / "fifo"));

  const auto data = make_data(3 * chunk + 5);
  write_file(dir / "source", data);
  const auto result = flash::copy_file(dir / "source", dir / "synced", {.sync = true});
  CHECK(result.bytes == data.size());
  CHECK(read_all(dir / "synced") == data);
  CHECK(temporaries_in(dir.path).empty());
}

TEST_CASE("copy_file on a full disk (RLIMIT_FSIZE) fails with no partial destination", "[ops][copy]") {
  temp_dir dir;
  write_file(dir / "source", make_data(1024 * 1024));
  // The limit and the ignored SIGXFSZ stay in a forked child; it reports through its exit code.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit {64 * 1024, 64 * 1024};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    int step = 20;
    for (auto method : {flash::copy_method::automatic, flash::copy_method::copy_file_range,
                        flash::copy_method::sendfile, flash::copy_method::read_write}) {
      ++step;
      try {
        flash::copy_file(dir / "source", dir / "destination", {.method = method, .chunk_size = 16 * 1024});
        ::_exit(step);  // should have failed
      } catch (const flash::copy_error& e) {
        if (e.cause() != std::errc::file_too_large) ::_exit(step + 10);
        if (e.stage() != flash::copy_stage::writing_destination) ::_exit(step + 20);
      }
      if (fs::exists(dir / "destination") || !temporaries_in(dir.path).empty()) ::_exit(step + 30);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(fs::exists(dir / "destination"));
}

TEST_CASE("a cancelled copy leaves no destination, no temporary and no descriptor", "[ops][copy]") {
  temp_dir dir;
  write_file(dir / "source", make_data(4 * 1024 * 1024));
  const auto descriptors = open_descriptors();
  flash::resource_tracker tracker;

  SECTION("through its token, for every method") {
    for (auto method : {flash::copy_method::copy_file_range, flash::copy_method::sendfile,
                        flash::copy_method::read_write}) {
      flash::cancellation_source source;
      try {
        flash::copy_file(dir / "source", dir / "destination",
                         {.method = method, .chunk_size = chunk, .token = source.token(), .resources = &tracker,
                          .on_progress = [&](std::uint64_t) { source.request_cancel(); }});
        FAIL("the copy should have been cancelled");
      } catch (const flash::copy_error& e) {
        CHECK(e.code() == flash::errc::cancelled);
      }
    }
  }

  SECTION("by cancelling the coroutine that awaits it") {
    pool_fixture pool;
    auto& io = pool.io;
    boost::asio::cancellation_signal signal;
    std::promise<void> emitted;
    auto emitted_future = emitted.get_future();
    bool once = false;
    auto on_progress = [&](std::uint64_t) {
      if (std::exchange(once, true)) return;
      // Cancel from the I/O thread, as Ctrl-C would, and wait until it is done.
      boost::asio::post(io, [&] {
        signal.emit(boost::asio::cancellation_type::terminal);
        emitted.set_value();
      });
      emitted_future.wait();
    };
    std::exception_ptr error;
    boost::asio::co_spawn(io,
                          flash::async_copy_file(pool.executor(), dir / "source", dir / "destination",
                                                 {.chunk_size = chunk, .resources = &tracker, .on_progress = on_progress}),
                          boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, flash::copy_result) {
                            error = e;
                          }));
    io.run();
    REQUIRE(error);
    CHECK(flash::is_cancellation(error));
  }

  CHECK_FALSE(fs::exists(dir / "destination"));
  CHECK(temporaries_in(dir.path).empty());
  CHECK(tracker.total() == 0);
  CHECK(open_descriptors() == descriptors);
}

// --- copy_tree -------------------------------------------------------------------------------

namespace {
void make_tree(const fs::path& root) {
  fs::create_directories(root / "a" / "b" / "c");
  fs::create_directories(root / "empty");
  fs::create_directories(root / "private");
  write_file(root / "top.txt", "top\n");
  write_file(root / "a" / "one", make_data(chunk + 1, 7));
  write_file(root / "a" / "b" / "two", make_data(3 * chunk, 8));
  write_file(root / "a" / "b" / "c" / "empty-file", "");
  write_file(root / "private" / "key", "secret");
  for (int i = 0; i < 30; ++i) write_file(root / "a" / ("small" + std::to_string(i)), std::to_string(i));
  fs::create_symlink("a/one", root / "link-to-one");
  fs::create_symlink("../top.txt", root / "a" / "up");
  fs::create_symlink("nowhere", root / "dangling");
  REQUIRE(::chmod((root / "private").c_str(), 0700) == 0);
  REQUIRE(::chmod((root / "private" / "key").c_str(), 0600) == 0);
  REQUIRE(::chmod((root / "a" / "one").c_str(), 0755) == 0);
  REQUIRE(::chmod((root / "empty").c_str(), 0555) == 0);
}
}  // namespace

TEST_CASE("copy_tree copies a tree: directories, files, modes and symbolic links", "[ops][copy]") {
  temp_dir dir;
  make_tree(dir / "source");
  pool_fixture pool;
  flash::metrics metrics;
  auto result = pool.run(flash::copy_tree(pool.executor(), dir / "source", dir / "copy",
                                           {.file = {.chunk_size = chunk}, .max_concurrency = 4, .observer = &metrics}));
  CHECK(result.ok());
  CHECK(result.files == 35);
  CHECK(result.symlinks == 3);
  CHECK(result.directories == 6);
  require_same_tree(dir / "source", dir / "copy");
  CHECK(metrics.snapshot().tasks_completed == 35);
  CHECK(metrics.snapshot().peak_concurrency <= 4);
  CHECK(temporaries_in(dir / "copy").empty());

  // Again over the copy: files and links are replaced, nothing is duplicated.
  write_file(dir / "copy" / "top.txt", "changed");
  auto again = pool.run(flash::copy_tree(pool.executor(), dir / "source", dir / "copy"));
  CHECK(again.ok());
  CHECK(again.directories == 0);
  require_same_tree(dir / "source", dir / "copy");
}

TEST_CASE("copy_tree copies many small files with a few workers, each file counted as a task", "[ops][copy]") {
  temp_dir dir;
  constexpr int files = 300;
  for (int d = 0; d < 7; ++d) fs::create_directories(dir / "source" / ("d" + std::to_string(d)));
  for (int i = 0; i < files; ++i)
    write_file(dir / "source" / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i)),
               make_data(100 + static_cast<std::size_t>(i), static_cast<unsigned>(i)));
  write_file(dir / "source" / "large", make_data(9 << 20, 1));
  boost::asio::io_context io;
  flash::thread_pool pool(4);  // more threads than workers, so that the limit is what holds
  flash::metrics metrics;
  auto result = run_async(io, flash::copy_tree(pool.get_executor(), dir / "source", dir / "copy",
                                               {.max_concurrency = 3, .observer = &metrics}));
  CHECK(result.ok());
  CHECK(result.files == files + 1);
  CHECK(result.bytes == fs::file_size(dir / "source" / "large") + files * 100 + files * (files - 1) / 2);
  CHECK(metrics.snapshot().tasks_completed == files + 1);
  CHECK(metrics.snapshot().peak_concurrency <= 3);
  require_same_tree(dir / "source", dir / "copy");
  CHECK(temporaries_in(dir / "copy").empty());
}

namespace {

// Copies `files` files of `bytes` each with one worker on a one-thread pool, queueing other work
// on the pool as the copy starts: returns what had been copied when that work ran.
std::uint64_t bytes_copied_before_queued_work_ran(int files, std::size_t bytes) {
  temp_dir dir;
  fs::create_directories(dir / "source");
  for (int i = 0; i < files; ++i) write_file(dir / "source" / ("f" + std::to_string(i)), std::string(bytes, 'x'));
  boost::asio::io_context io;
  flash::thread_pool pool(1);
  std::atomic<std::uint64_t> copied{0};
  std::atomic<std::uint64_t> copied_when_other_work_ran{0};
  std::atomic<bool> other_work_queued{false};
  auto on_progress = [&](std::uint64_t n) {
    copied += n;
    if (!other_work_queued.exchange(true))
      boost::asio::post(pool.get_executor(), [&] { copied_when_other_work_ran = copied.load(); });
  };
  auto result = run_async(io, flash::copy_tree(pool.get_executor(), dir / "source", dir / "copy",
                                               {.file = {.on_progress = on_progress}, .max_concurrency = 1}));
  CHECK(result.files == static_cast<std::size_t>(files));
  return copied_when_other_work_ran;
}

}  // namespace

TEST_CASE("copy_tree gives the pool's threads back between turns of its workers", "[ops][copy]") {
  // The work queued during the copy runs after the worker's first turn, not after the whole
  // copy: a turn ends after 64 files, or once 8 MiB are copied.
  const std::uint64_t small_files = bytes_copied_before_queued_work_ran(300, 1);
  CHECK(small_files > 0);
  CHECK(small_files <= 64);
  const std::uint64_t large_files = bytes_copied_before_queued_work_ran(12, 1 << 20);
  CHECK(large_files > 0);
  CHECK(large_files <= 8 << 20);
}

TEST_CASE("file_claims hands each file out once, each worker its own stretch first", "[ops][copy]") {
  flash::detail::file_claims claims(10, 3);  // stretches [0,3) [3,6) [6,10)
  CHECK(claims.next(1) == 3u);
  CHECK(claims.next(0) == 0u);
  CHECK(claims.next(1) == 4u);
  CHECK(claims.next(1) == 5u);
  CHECK(claims.next(1) == 9u);  // its own done: the end of the stretch with the most left
  CHECK(claims.next(1) == 8u);
  CHECK(claims.next(1) == 2u);  // worker 0 and 2 now have two left each; the first is taken
  std::vector<std::size_t> rest;
  while (auto claimed = claims.next(2)) rest.push_back(*claimed);
  CHECK(rest == std::vector<std::size_t>{6, 7, 1});
  CHECK_FALSE(claims.next(0));

  flash::detail::file_claims none(0, 4);
  CHECK_FALSE(none.next(3));
  flash::detail::file_claims fewer(2, 4);  // more workers than files
  std::vector<int> seen(2);
  for (std::size_t w = 0; w < 4; ++w)
    while (auto claimed = fewer.next(w)) ++seen.at(*claimed);
  CHECK(seen == std::vector<int>{1, 1});
}

TEST_CASE("parent_directory_cache answers as a lookup of each file's parent would", "[ops][copy]") {
  flash::detail::tree_directories directories;
  directories.made = {"out/new", "out/new/deeper", "/"};
  directories.failed = {"out/broken", ""};
  flash::detail::parent_directory_cache parents(directories);
  const std::vector<std::filesystem::path> files{
      "out/new/a", "out/new/b", "out/broken/c", "out/broken/d", "out/new/deeper/e", "out/new/f",
      "out/old/g", "out/new/", "out/new//h", "top", "/rooted", "/also"};
  for (const auto& file : files) {
    INFO(file);
    const auto answer = parents.of(file);
    const std::string parent = file.parent_path().string();
    CHECK(answer.made == directories.made.contains(parent));
    CHECK(answer.failed == directories.failed.contains(parent));
  }
  CHECK(parents.of("out/new/a").made);
  CHECK(parents.of("out/broken/c").failed);
  CHECK(parents.of("top").failed);  // no separator: the parent is ""
  CHECK(parents.of("/rooted").made);
  CHECK_FALSE(parents.of("out/old/g").made);
}

TEST_CASE("a plan made without sizes lists the same tree and copies it the same", "[ops][copy]") {
  temp_dir dir;
  make_tree(dir / "source");
  flash::copy_plan sized;
  sized.add_tree(dir / "source", dir / "copy");
  CHECK(sized.total_bytes() == 4 + (chunk + 1) + 3 * chunk + 6 + 50);  // 30 small files: "0".."29"

  flash::copy_plan unsized;
  unsized.sizes = false;
  pool_fixture pool;
  pool.run([&]() -> flash::awaitable<void> {
    co_await flash::add_tree(pool.executor(), unsized, dir / "source", dir / "copy");
  }());
  CHECK(unsized.total_bytes() == 0);
  REQUIRE(unsized.files.size() == sized.files.size());
  for (std::size_t i = 0; i < sized.files.size(); ++i) CHECK(unsized.files[i].source == sized.files[i].source);
  REQUIRE(unsized.directories.size() == sized.directories.size());
  for (std::size_t i = 0; i < sized.directories.size(); ++i)
    CHECK(unsized.directories[i].mode == sized.directories[i].mode);
  REQUIRE(unsized.symlinks.size() == sized.symlinks.size());
  for (std::size_t i = 0; i < sized.symlinks.size(); ++i) CHECK(unsized.symlinks[i].target == sized.symlinks[i].target);

  auto result = pool.run(flash::copy_tree(pool.executor(), std::move(unsized), {.max_concurrency = 2}));
  CHECK(result.ok());
  CHECK(result.bytes == sized.total_bytes());
  require_same_tree(dir / "source", dir / "copy");
}

TEST_CASE("add_tree on a pool plans what copy_plan::add_tree plans, in the same order", "[ops][copy]") {
  temp_dir dir;
  make_tree(dir / "source");
  for (int d = 0; d < 20; ++d) write_file(dir / "source" / "a" / ("more" + std::to_string(d)), "x");
  flash::copy_plan sequential;
  sequential.add_tree(dir / "source", dir / "copy");
  pool_fixture pool;
  flash::copy_plan concurrent;
  concurrent.add_file(dir / "top.txt", dir / "copy-of-top.txt", 4);  // what was planned before stays first
  pool.run([&]() -> flash::awaitable<void> {
    co_await flash::add_tree(pool.executor(), concurrent, dir / "source", dir / "copy");
  }());
  REQUIRE(concurrent.files.size() == sequential.files.size() + 1);
  CHECK(concurrent.files.front().destination == dir / "copy-of-top.txt");
  for (std::size_t i = 0; i < sequential.files.size(); ++i) CHECK(concurrent.files[i + 1].source == sequential.files[i].source);
  REQUIRE(concurrent.directories.size() == sequential.directories.size());
  for (std::size_t i = 0; i < sequential.directories.size(); ++i)
    CHECK(concurrent.directories[i].destination == sequential.directories[i].destination);
  CHECK(concurrent.symlinks.size() == sequential.symlinks.size());

  flash::copy_plan missing;
  pool.run([&]() -> flash::awaitable<void> {
    co_await flash::add_tree(pool.executor(), missing, dir / "nowhere", dir / "copy2");
  }());
  REQUIRE(missing.failures.size() == 1);
  CHECK(missing.failures.front().cause() == std::errc::no_such_file_or_directory);

  flash::cancellation_source cancel;
  cancel.request_cancel();
  flash::copy_plan cancelled;
  CHECK_THROWS_AS(pool.run([&]() -> flash::awaitable<void> {
    co_await flash::add_tree(pool.executor(), cancelled, dir / "source", dir / "copy3", cancel.token());
  }()),
                  flash::error);
}

TEST_CASE("copy_tree collects per-file failures and copies the rest", "[ops][copy]") {
  temp_dir dir;
  make_tree(dir / "source");
  fs::create_directories(dir / "copy");
  write_file(dir / "copy" / "a", "a file where the source has a directory");
  pool_fixture pool;
  auto result = pool.run(flash::copy_tree(pool.executor(), dir / "source", dir / "copy"));
  REQUIRE(result.failures.size() == 1);
  const auto& failure = result.failures.front();
  CHECK(failure.destination() == dir / "copy" / "a");
  CHECK(failure.stage() == flash::copy_stage::creating_destination);
  CHECK(read_all(dir / "copy" / "top.txt") == "top\n");
  CHECK(read_all(dir / "copy" / "private" / "key") == "secret");
  CHECK(fs::is_symlink(dir / "copy" / "link-to-one"));

  try {
    pool.run(flash::copy_tree(pool.executor(), dir / "source", dir / "copy2", {.fail_fast = true}));
    SUCCEED();
  } catch (...) {
    FAIL("a tree without failures should not throw");
  }
  CHECK_THROWS_AS(pool.run(flash::copy_tree(pool.executor(), dir / "source", dir / "copy", {.fail_fast = true})),
                  flash::copy_error);
}

TEST_CASE("a cancelled copy_tree leaves no partial file", "[ops][copy]") {
  temp_dir dir;
  make_tree(dir / "source");
  pool_fixture pool;
  flash::cancellation_source cancel;
  std::atomic<int> chunks{0};
  try {
    pool.run(flash::copy_tree(pool.executor(), dir / "source", dir / "copy",
                               {.file = {.chunk_size = 1024, .token = cancel.token(),
                                         .on_progress = [&](std::uint64_t) {
                                           if (++chunks == 3) cancel.request_cancel();
                                         }},
                                .max_concurrency = 2}));
    FAIL("the copy should have been cancelled");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::cancelled);
  }
  CHECK(temporaries_in(dir.path).empty());
  // Whatever was copied is whole.
  for (const auto& entry : fs::recursive_directory_iterator(dir / "copy"))
    if (entry.is_regular_file() && !entry.is_symlink())
      CHECK(read_all(entry.path()) == read_all(dir / "source" / fs::relative(entry.path(), dir / "copy")));
}
