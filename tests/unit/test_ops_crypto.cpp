// flash/ops/crypto.hpp: hashing (known answers, files of every size, many files in parallel with
// per-file failures and cancellation) and encryption (round trips, and every way a file can be
// wrong: passphrase, tampering, truncation), with nothing left open or half-written.

#include "run_async.hpp"
#include "run_cli.hpp"

#include <flash/ops/crypto.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using flash::hash_algorithm;

namespace {

std::string generated(std::size_t size, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(random() & 0xff);
  return data;
}

void write_file(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE(out.good());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string digest_of(std::string_view data, hash_algorithm algorithm) {
  flash::hasher h(algorithm);
  h.update(data);
  return h.finish_hex();
}

constexpr std::size_t mib = std::size_t{1} << 20;

// Fast enough for tests, and still the minimum the library accepts.
flash::crypt_options quick() { return {.kdf_iterations = flash::min_kdf_iterations}; }

template <class Function>
flash::error error_of(Function function) {
  try {
    function();
  } catch (const flash::error& e) {
    return e;
  }
  FAIL("no flash::error was thrown");
  throw std::logic_error("unreachable");
}

// A fifo in `dir` held open for writing, so that reading it opens at once, gets `written`, then
// waits for data forever. The writer is closed with the test.
struct silent_pipe {
  fs::path path;
  int writer = -1;
  explicit silent_pipe(const fs::path& dir, std::string_view written = {}) : path(dir / "fifo") {
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    writer = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(writer >= 0);
    if (!written.empty()) REQUIRE(::write(writer, written.data(), written.size()) == std::ssize(written));
  }
  silent_pipe(const silent_pipe&) = delete;
  silent_pipe& operator=(const silent_pipe&) = delete;
  ~silent_pipe() {
    if (writer >= 0) ::close(writer);
  }
};

// Runs an operation on a one-thread pool, awaited by a coroutine on `io` that is cancelled
// (terminally, from the I/O thread) at the operation's first progress report.
struct cancel_at_first_progress {
  boost::asio::io_context io;
  flash::thread_pool pool{1};
  boost::asio::cancellation_signal cancel;

  flash::progress_callback on_progress() {
    return [this](std::uint64_t) {
      boost::asio::post(io, [this] { cancel.emit(boost::asio::cancellation_type::terminal); });
    };
  }

  // Runs `operation` to its end and returns how it failed; CHECKs that it did end.
  template <class Operation>
  std::exception_ptr run(Operation operation) {
    std::exception_ptr failure;
    bool finished = false;
    boost::asio::co_spawn(io, std::move(operation),
                          boost::asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, auto&&...) {
                            failure = e;
                            finished = true;
                          }));
    io.run();
    CHECK(finished);
    return failure;
  }
};

}  // namespace

// --- hashing --------------------------------------------------------------------------------

TEST_CASE("hashers give the published digests of \"\" and \"abc\"", "[crypto][hash]") {
  struct published {
    hash_algorithm algorithm;
    std::string_view of_empty;  // the digest of ""
    std::string_view of_abc;    // the digest of "abc"
  };
  const published digests[] = {
      {hash_algorithm::sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {hash_algorithm::sha512,
       "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
       "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
       "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
      {hash_algorithm::blake2b512,
       "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419"
       "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce",
       "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
       "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"},
  };
  for (const auto& [algorithm, of_empty, of_abc] : digests) {
    INFO(flash::to_string(algorithm));
    CHECK(digest_of("", algorithm) == of_empty);
    CHECK(digest_of("abc", algorithm) == of_abc);
  }
}

TEST_CASE("a hasher streams in pieces and starts over after finishing", "[crypto][hash]") {
  flash::hasher h(hash_algorithm::sha256);
  h.update("a");
  h.update("");
  h.update("bc");
  CHECK(h.finish().size() == flash::digest_size(hash_algorithm::sha256));
  h.update("abc");
  CHECK(h.finish_hex() == digest_of("abc", hash_algorithm::sha256));
  CHECK(h.finish_hex() == digest_of("", hash_algorithm::sha256));
}

TEST_CASE("hash algorithms are parsed by their names", "[crypto][hash]") {
  CHECK(flash::parse_hash_algorithm("sha256") == hash_algorithm::sha256);
  CHECK(flash::parse_hash_algorithm("sha512") == hash_algorithm::sha512);
  CHECK(flash::parse_hash_algorithm("blake2b") == hash_algorithm::blake2b512);
  CHECK(flash::parse_hash_algorithm("blake2b512") == hash_algorithm::blake2b512);
  CHECK_FALSE(flash::parse_hash_algorithm("md5"));
  CHECK_FALSE(flash::parse_hash_algorithm("SHA256"));
  CHECK(flash::to_string(hash_algorithm::blake2b512) == "blake2b512");
  CHECK(flash::digest_size(hash_algorithm::sha512) == 64);
}

TEST_CASE("hash_file hashes files of every size, around the chunk size too", "[crypto][hash]") {
  temp_dir dir;
  const std::size_t sizes[] = {0, 1, 4095, mib - 1, mib, mib + 1, 3 * mib + 17};
  for (std::size_t size : sizes) {
    CAPTURE(size);
    const std::string data = generated(size, static_cast<std::uint32_t>(size));
    write_file(dir / "data", data);
    for (auto algorithm : {hash_algorithm::sha256, hash_algorithm::sha512, hash_algorithm::blake2b512}) {
      std::uint64_t reported = 0;
      auto count = [&](std::uint64_t bytes) { reported += bytes; };
      CHECK(flash::hash_file(dir / "data", algorithm, {}, count) == digest_of(data, algorithm));
      CHECK(reported == size);
    }
  }
}

TEST_CASE("hash_file names the file and the system's reason when it fails", "[crypto][hash]") {
  temp_dir dir;
  auto missing = error_of([&] { flash::hash_file(dir / "missing", hash_algorithm::sha256); });
  CHECK(missing.code() == flash::errc::filesystem_error);
  CHECK(missing.cause() == std::errc::no_such_file_or_directory);
  CHECK(std::string(missing.what()) == "opening " + (dir / "missing").string() + ": No such file or directory");

  auto directory = error_of([&] { flash::hash_file(dir.path, hash_algorithm::sha256); });
  CHECK(directory.cause() == std::errc::is_a_directory);
  CHECK(std::string(directory.what()) == "reading " + dir.path.string() + ": Is a directory");
}

TEST_CASE("SHA-256 in lanes gives OpenSSL's digest for every length and number of lanes", "[crypto][hash]") {
  CHECK(flash::hash_lanes(hash_algorithm::sha512) == 1);
  CHECK(flash::hash_lanes(hash_algorithm::blake2b512) == 1);
  CHECK(flash::hash_lanes(hash_algorithm::sha256) == (flash::sha256_lanes_supported() ? flash::sha256_max_lanes : 1));
  if (!flash::sha256_lanes_supported()) return;  // hash_files uses OpenSSL alone: tested below
  for (std::size_t lanes = 1; lanes <= flash::sha256_max_lanes; ++lanes) {
    for (std::size_t size : {0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 65'536 + 17}) {
      CAPTURE(lanes, size);
      std::vector<std::string> messages;
      messages.reserve(lanes);  // data_of points into them, short strings included
      std::vector<flash::sha256_state> states(lanes);
      std::vector<flash::sha256_state*> state_of;
      std::vector<const unsigned char*> data_of;
      for (std::size_t j = 0; j < lanes; ++j) {
        messages.push_back(generated(size, static_cast<std::uint32_t>(size * 7 + j)));
        state_of.push_back(&states[j]);
        data_of.push_back(reinterpret_cast<const unsigned char*>(messages[j].data()));
      }
      const std::size_t blocks = size / flash::sha256_block_size;
      flash::sha256_compress(state_of, data_of, blocks);
      for (std::size_t j = 0; j < lanes; ++j) {
        CHECK(states[j].bytes == blocks * flash::sha256_block_size);
        const auto tail = std::span(data_of[j] + blocks * flash::sha256_block_size, size % flash::sha256_block_size);
        CHECK(flash::detail::to_hex(flash::sha256_finish(states[j], tail)) ==
              digest_of(messages[j], hash_algorithm::sha256));
      }
    }
  }
}

TEST_CASE("hash_files spreads SHA-256 lanes over the threads first, within max_concurrency", "[crypto][hash]") {
  using flash::detail::plan_lanes;
  auto layout = plan_lanes(64, 8, 2);
  CHECK((layout.workers == 2 && layout.lanes == 4));
  layout = plan_lanes(64, 2, 2);  // -j 2: one file a thread
  CHECK((layout.workers == 2 && layout.lanes == 1));
  layout = plan_lanes(64, 5, 2);  // never more than 5 files at once
  CHECK((layout.workers == 2 && layout.lanes == 2));
  layout = plan_lanes(3, 0, 2);  // no limit: every thread has a file first
  CHECK((layout.workers == 2 && layout.lanes == 1));
  layout = plan_lanes(6, 0, 4);
  CHECK((layout.workers == 4 && layout.lanes == 1));
  layout = plan_lanes(64, 0, 2);
  CHECK((layout.workers == 2 && layout.lanes == 4));
  layout = plan_lanes(1, 8, 4);
  CHECK((layout.workers == 1 && layout.lanes == 1));
  CHECK(plan_lanes(0, 8, 2).workers == 0);
}

TEST_CASE("hash_files hashes the regular files while a FIFO beside them waits for data", "[crypto][hash]") {
  temp_dir dir;
  silent_pipe pipe(dir.path);
  std::vector<fs::path> paths{pipe.path};
  std::vector<std::string> expected{digest_of("abc", hash_algorithm::sha256)};
  for (int i = 0; i < 3; ++i) {
    const std::string data = generated(100'000 + static_cast<std::size_t>(i), static_cast<std::uint32_t>(i));
    paths.push_back(dir / ("file" + std::to_string(i)));
    write_file(paths.back(), data);
    expected.push_back(digest_of(data, hash_algorithm::sha256));
  }
  // With SHA-256 lanes, two threads take two files each: the FIFO must not hold its neighbour.
  flash::thread_pool pool(2);
  std::atomic<int> regular_done{0};
  flash::hash_files_options options{.max_concurrency = 8, .on_result = [&](std::size_t index, const flash::hash_result&) {
                                      if (index > 0) ++regular_done;
                                    }};
  bool all_before_the_writer = false;
  std::thread writer([&] {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (regular_done < 3 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    all_before_the_writer = regular_done == 3;
    const bool written = ::write(pipe.writer, "abc", 3) == 3;
    ::close(pipe.writer);
    pipe.writer = -1;
    (void)written;
  });
  auto hashing = flash::hash_files(pool.get_executor(), paths, hash_algorithm::sha256, std::move(options));
  auto results = run_async(std::move(hashing));
  writer.join();
  CHECK(all_before_the_writer);
  REQUIRE(results.size() == paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    CAPTURE(i);
    CHECK(results[i].digest == expected[i]);
  }
}

TEST_CASE("hash_files returns a result per file in argument order, failures included", "[crypto][hash]") {
  // SHA-256 goes through the lanes (four files a thread with max_concurrency 8), BLAKE2b through
  // OpenSSL a file at a time.
  const hash_algorithm algorithm = GENERATE(hash_algorithm::blake2b512, hash_algorithm::sha256);
  const std::size_t max_concurrency = GENERATE(3, 8);
  const bool map_files = GENERATE(true, false);
  CAPTURE(flash::to_string(algorithm), max_concurrency, map_files);
  temp_dir dir;
  flash::thread_pool pool(2);
  // Larger files first, so that they finish after the smaller ones that follow them; then sizes
  // around a SHA-256 block and a lane's read.
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < 12; ++i) sizes.push_back((12 - i) * 300'000);
  // Mapped, with pages given back behind the hashing (flash::detail::mapped_resident_limit).
  sizes.insert(sizes.begin(), 2 * flash::detail::mapped_resident_limit + 4097);
  const std::size_t lane_read = flash::detail::lane_chunk_size;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{65},
                           lane_read - 1, lane_read, lane_read + 1, 2 * lane_read + 65})
    sizes.push_back(size);
  std::vector<fs::path> paths;
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string data = generated(sizes[i], static_cast<std::uint32_t>(i));
    paths.push_back(dir / ("file" + std::to_string(i)));
    write_file(paths.back(), data);
    expected.push_back(digest_of(data, algorithm));
  }
  fs::create_directory(dir / "a directory");
  paths.insert(paths.begin() + 3, dir / "missing");
  expected.insert(expected.begin() + 3, "");
  paths.insert(paths.begin() + 7, dir / "a directory");
  expected.insert(expected.begin() + 7, "");

  const std::size_t descriptors_before = open_descriptors();
  std::vector<int> reported(paths.size(), 0);
  std::atomic<std::uint64_t> bytes{0};
  flash::hash_files_options options{.max_concurrency = max_concurrency,
                                    .on_progress = [&](std::uint64_t n) { bytes += n; },
                                    .on_result = [&](std::size_t index, const flash::hash_result&) {
                                      ++reported[index];
                                    },
                                    .map_files = map_files};
  auto hashing = flash::hash_files(pool.get_executor(), paths, algorithm, std::move(options));
  auto results = run_async(std::move(hashing));

  REQUIRE(results.size() == paths.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    CAPTURE(i);
    CHECK(results[i].path == paths[i]);
    CHECK(results[i].digest == expected[i]);
    CHECK(reported[i] == 1);
    if (!expected[i].empty()) total += fs::file_size(paths[i]);
  }
  CHECK(bytes == total);
  CHECK_FALSE(results[3].ok());
  CHECK(results[3].error == std::errc::no_such_file_or_directory);
  CHECK(results[3].reason == "No such file or directory");
  CHECK_FALSE(results[7].ok());
  CHECK(results[7].error == std::errc::is_a_directory);
  CHECK(results[7].reason == "Is a directory");
  CHECK(open_descriptors() == descriptors_before);
}

TEST_CASE("a mapped file refuses to populate, and SIGBUS is caught, where it was truncated", "[crypto][hash]") {
  temp_dir dir;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  write_file(dir / "file", generated(4 * page, 1));
  const int fd = ::open((dir / "file").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    flash::mapped_file mapping(fd, 4 * page);
    REQUIRE(mapping.valid());
    CHECK(mapping.populate(0, 4 * page));
    CHECK(mapping.contains(mapping.data() + 4 * page - 1));
    CHECK_FALSE(mapping.contains(mapping.data() + 4 * page));
    volatile unsigned char seen = 0;
    CHECK(flash::catching_sigbus([&] { seen = mapping.data()[3 * page]; }) == nullptr);
    REQUIRE(::truncate((dir / "file").c_str(), static_cast<off_t>(page)) == 0);
    CHECK(mapping.populate(0, page));
    CHECK_FALSE(mapping.populate(page, page));
    const void* fault = flash::catching_sigbus([&] { seen = mapping.data()[2 * page + 5]; });
    CHECK(fault == mapping.data() + 2 * page + 5);
    // Caught again: the jump out of the handler left SIGBUS unblocked.
    CHECK(flash::catching_sigbus([&] { seen = mapping.data()[3 * page]; }) == mapping.data() + 3 * page);
    CHECK(flash::catching_sigbus([&] { seen = mapping.data()[0]; }) == nullptr);
    (void)seen;
  }
  ::close(fd);
  CHECK(flash::mapped_file(-1, 100).valid() == false);

  // A SIGBUS sent by a process, not a fault, is not the catcher's: here it ends the process.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    flash::catching_sigbus([] { ::raise(SIGBUS); });
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("hash_files hashes what is left of a file truncated while it is hashed", "[crypto][hash]") {
  // The file is truncated when the progress reports reach `when`, i.e. just after a chunk was
  // mapped and populated. Reads take over in each case, as they would have without a mapping,
  // and the digest is that of what the file still holds.
  if (!flash::sha256_lanes_supported() || !flash::mapped_file::populate_supported()) return;  // nothing is mapped
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t chunk = flash::detail::lane_chunk_size;
  struct truncation {
    const char* what;
    std::size_t size, when, kept;
  };
  const truncation t = GENERATE_COPY(
      truncation{"the next chunk cannot be populated", 4 * chunk, chunk, 300'000},
      truncation{"lost pages inside the chunk being hashed (SIGBUS)", 4 * chunk, chunk, 25 * page},
      truncation{"to nothing (SIGBUS on the first page)", 4 * chunk, chunk, 0},
      truncation{"inside a page: zeros past the end, then hashed again by reads", 4 * chunk, chunk, chunk - 1},
      truncation{"below the last bytes, under a block, as they are copied (SIGBUS)", 4 * chunk + 30, 4 * chunk + 30,
                 4 * chunk});
  CAPTURE(t.what, t.size, t.kept);
  temp_dir dir;
  const std::string data = generated(t.size, 9);
  const fs::path path = dir / "shrinking";
  write_file(path, data);
  flash::thread_pool pool(1);
  std::uint64_t reported = 0;  // on the pool's one thread
  std::atomic<int> truncated{0};
  flash::hash_files_options options{.on_progress = [&](std::uint64_t bytes) {
    reported += bytes;
    if (reported == t.when) truncated = ::truncate(path.c_str(), static_cast<off_t>(t.kept)) == 0 ? 1 : -1;
  }};
  const std::size_t descriptors_before = open_descriptors();
  auto results = run_async(flash::hash_files(pool.get_executor(), {path}, hash_algorithm::sha256, options));
  REQUIRE(results.size() == 1);
  CHECK(truncated == 1);
  CHECK(results[0].digest == digest_of(std::string_view(data).substr(0, t.kept), hash_algorithm::sha256));
  CHECK(open_descriptors() == descriptors_before);
}

TEST_CASE("hash_files reports a file it may not read", "[crypto][hash]") {
  temp_dir dir;
  write_file(dir / "secret", "hidden");
  fs::permissions(dir / "secret", fs::perms::none);
  fs::permissions(dir.path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  // 0 when the file was reported as unreadable, with the system's reason.
  auto check = [&]() -> int {
    try {
      flash::thread_pool pool(1);
      std::vector<fs::path> paths{dir / "secret"};
      auto hashing = flash::hash_files(pool.get_executor(), paths, hash_algorithm::sha256);
      auto results = run_async(std::move(hashing));
      return results[0].error == std::errc::permission_denied && results[0].reason == "Permission denied" ? 0 : 1;
    } catch (...) {
      return 3;
    }
  };
  if (::geteuid() != 0) {
    CHECK(check() == 0);
    return;
  }
  // Root reads whatever the mode says (tests run as root here): check in a child that gave root up.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    ::_exit(check());
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("hash_files with fail_fast throws the first failure and stops the rest", "[crypto][hash]") {
  temp_dir dir;
  flash::thread_pool pool(2);
  std::vector<fs::path> paths{dir / "missing"};
  for (int i = 0; i < 6; ++i) {
    paths.push_back(dir / ("file" + std::to_string(i)));
    write_file(paths.back(), generated(mib, static_cast<std::uint32_t>(i)));
  }
  const std::size_t descriptors_before = open_descriptors();
  flash::hash_files_options options{.max_concurrency = 1, .fail_fast = true};
  auto hashing = flash::hash_files(pool.get_executor(), paths, hash_algorithm::sha256, std::move(options));
  auto failure = error_of([&] { run_async(std::move(hashing)); });
  CHECK(failure.code() == flash::errc::filesystem_error);
  CHECK(failure.cause() == std::errc::no_such_file_or_directory);
  CHECK(open_descriptors() == descriptors_before);
}

TEST_CASE("hash_files through a command's context is counted in its metrics", "[crypto][hash]") {
  temp_dir dir;
  std::vector<fs::path> paths;
  for (int i = 0; i < 5; ++i) {
    paths.push_back(dir / ("f" + std::to_string(i)));
    write_file(paths.back(), generated(1000 + i, static_cast<std::uint32_t>(i)));
  }
  std::vector<flash::hash_result> results;
  std::size_t open_after = 1;
  std::size_t threads = 0;
  auto app = flash::cli("app").command(
      flash::cmd<"sum">().max_concurrency(2).run([&](flash::context& ctx) -> flash::awaitable<int> {
        threads = ctx.pool().size();
        auto hashing = flash::hash_files(ctx, paths, hash_algorithm::sha256);
        results = co_await std::move(hashing);
        open_after = ctx.resources().total();
        co_return 0;
      }));
  auto outcome = run_cli(app, {"--metrics=json", "sum"});
  CHECK(outcome.status == 0);
  // A task a file, or with SHA-256 lanes a task a thread (at most max_concurrency(2)).
  const std::string tasks = flash::hash_lanes(hash_algorithm::sha256) > 1
                                ? std::to_string(flash::detail::plan_lanes(5, 2, threads).workers)
                                : "5";
  CHECK(outcome.err.find("\"tasks_spawned\":" + tasks + ",\"tasks_completed\":" + tasks) != std::string::npos);
  const auto peak_at = outcome.err.find("\"peak_concurrency\":");
  REQUIRE(peak_at != std::string::npos);
  const int peak = outcome.err[peak_at + 19] - '0';
  CHECK(peak >= 1);
  CHECK(peak <= 2);
  REQUIRE(results.size() == 5);
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(results[i].digest == digest_of(read_file(paths[i]), hash_algorithm::sha256));
  CHECK(open_after == 0);
}

TEST_CASE("cancelling hash_files stops a read waiting on a silent pipe and leaves no descriptor open",
          "[crypto][hash][cancel]") {
  temp_dir dir;
  const silent_pipe pipe(dir.path);
  write_file(dir / "big", generated(4 * mib, 1));
  const std::size_t descriptors_before = open_descriptors();

  flash::thread_pool pool(2);
  flash::cancellation_source stop;
  std::vector<fs::path> paths{pipe.path, dir / "big", dir / "big", dir / "big"};
  std::vector<int> reported(paths.size(), 0);
  // The big file's first chunk cancels the lot: the pipe is waiting by then, or soon will be.
  flash::hash_files_options options{
      .max_concurrency = 2,
      .on_progress = [&](std::uint64_t) { stop.request_cancel(); },
      .on_result = [&](std::size_t index, const flash::hash_result&) { ++reported[index]; },
      .token = stop.token()};
  auto hashing = flash::hash_files(pool.get_executor(), paths, hash_algorithm::sha256, std::move(options));
  std::exception_ptr failure;
  try {
    run_async(std::move(hashing));
  } catch (...) {
    failure = std::current_exception();
  }
  CHECK(flash::is_cancellation(failure));
  CHECK(reported[0] == 0);
  CHECK(open_descriptors() == descriptors_before);
}

TEST_CASE("hashing a FIFO waits for its writer, and a cancellation ends the wait", "[crypto][hash][cancel]") {
  temp_dir dir;
  const fs::path fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  flash::cancellation_source stop;
  // No writer ever: open(2) would wait for one for ever, out of the token's reach.
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.request_cancel();
  });
  auto waiting = error_of([&] { flash::hash_file(fifo, hash_algorithm::sha256, stop.token()); });
  canceller.join();
  CHECK(waiting.code() == flash::errc::cancelled);

  // A writer that comes later: its data, then the end when it closes.
  flash::cancellation_source never;
  bool written = false;  // Catch's assertions are for the test's own thread
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    written = fd >= 0 && ::write(fd, "abc", 3) == 3;
    if (fd >= 0) ::close(fd);
  });
  const std::string digest = flash::hash_file(fifo, hash_algorithm::sha256, never.token());
  writer.join();
  CHECK(written);
  CHECK(digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("cancelling the coroutine awaiting hash_files cancels the hashing", "[crypto][hash][cancel]") {
  temp_dir dir;
  const silent_pipe pipe(dir.path, "x");
  const std::size_t descriptors_before = open_descriptors();

  cancel_at_first_progress cancelling;  // at the first byte read from the pipe
  flash::hash_files_options options{.on_progress = cancelling.on_progress()};
  std::vector<fs::path> paths{pipe.path};
  const auto failure = cancelling.run(
      flash::hash_files(cancelling.pool.get_executor(), paths, hash_algorithm::sha256, std::move(options)));
  CHECK(flash::is_cancellation(failure));
  CHECK(open_descriptors() == descriptors_before);
}

TEST_CASE("cancelling hash_files stops a file hashed through its mapping at its next chunk", "[crypto][hash][cancel]") {
  temp_dir dir;
  const std::size_t size = 16 * flash::detail::lane_chunk_size;
  write_file(dir / "big", generated(size, 5));
  const std::size_t descriptors_before = open_descriptors();

  cancel_at_first_progress cancelling;
  std::atomic<bool> emitted{false};
  std::uint64_t reported = 0;  // on the pool's one thread
  flash::hash_files_options options{.on_progress = [&](std::uint64_t bytes) {
    if (reported == 0) {
      boost::asio::post(cancelling.io, [&] {
        cancelling.cancel.emit(boost::asio::cancellation_type::terminal);
        emitted = true;
      });
      // The first chunk's report waits for the cancellation, so that the rest of the file is
      // still to hash when it comes.
      for (int i = 0; i < 5000 && !emitted; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    reported += bytes;
  }};
  std::vector<fs::path> paths{dir / "big"};
  const auto failure = cancelling.run(
      flash::hash_files(cancelling.pool.get_executor(), paths, hash_algorithm::sha256, std::move(options)));
  CHECK(emitted);
  CHECK(flash::is_cancellation(failure));
  CHECK(reported < size);
  CHECK(open_descriptors() == descriptors_before);
}

// --- encryption -----------------------------------------------------------------------------

TEST_CASE("encrypt_file and decrypt_file round-trip empty, small and multi-chunk files", "[crypto][encrypt]") {
  temp_dir dir;
  for (std::size_t size : {std::size_t{0}, std::size_t{5}, 2 * mib + mib / 2 + 7}) {
    CAPTURE(size);
    const std::string data = generated(size, 7);
    write_file(dir / "plain", data);
    std::uint64_t encrypted_bytes = 0;
    auto options = quick();
    options.on_progress = [&](std::uint64_t n) { encrypted_bytes += n; };
    flash::encrypt_file(dir / "plain", dir / "sealed", "correct horse", options);
    CHECK(encrypted_bytes == size);
    const std::string sealed = read_file(dir / "sealed");
    CHECK(sealed.size() == size + flash::encryption_overhead);
    CHECK(sealed.substr(0, 8) == "FLASHENC");
    if (size > 0) CHECK(sealed.find(data) == std::string::npos);

    flash::decrypt_file(dir / "sealed", dir / "opened", "correct horse");
    CHECK(read_file(dir / "opened") == data);
    CHECK((fs::status(dir / "opened").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
    CHECK(dir.entries() == std::vector<std::string>{"opened", "plain", "sealed"});
    fs::remove(dir / "opened");
  }
}

TEST_CASE("encrypting twice gives different files: fresh salt and nonce", "[crypto][encrypt]") {
  temp_dir dir;
  write_file(dir / "plain", "the same words");
  flash::encrypt_file(dir / "plain", dir / "one", "pass", quick());
  flash::encrypt_file(dir / "plain", dir / "two", "pass", quick());
  CHECK(read_file(dir / "one") != read_file(dir / "two"));
}

TEST_CASE("a wrong passphrase, tampering or truncation is refused and writes nothing", "[crypto][encrypt]") {
  temp_dir dir;
  const std::string data = generated(mib + 100, 3);
  write_file(dir / "plain", data);
  flash::encrypt_file(dir / "plain", dir / "sealed", "right", quick());
  const std::string sealed = read_file(dir / "sealed");
  // A destination that exists already must come through a failure untouched.
  write_file(dir / "kept", "precious");

  auto refused = [&](const std::string& name, const std::string& content, const std::string& passphrase) {
    write_file(dir / name, content);
    auto failure = error_of([&] { flash::decrypt_file(dir / name, dir / "kept", passphrase); });
    CHECK(failure.code() == flash::errc::validation_error);
    CHECK(std::string(failure.what()).find((dir / name).string() + ": ") == 0);
    CHECK(read_file(dir / "kept") == "precious");
    fs::remove(dir / name);
    CHECK(dir.entries() == std::vector<std::string>{"kept", "plain", "sealed"});
    return std::string(failure.what());
  };
  auto flipped = [&](std::size_t at) {
    std::string copy = sealed;
    copy[at] = static_cast<char>(copy[at] ^ 0x01);
    return copy;
  };

  const std::string wrong = refused("attempt", sealed, "wrong");
  CHECK(wrong == (dir / "attempt").string() + ": wrong passphrase or corrupted file: validation error");
  SECTION("a flipped byte in the header's salt, nonce, iterations or reserved byte") {
    for (std::size_t at : {11u, 12u, 15u, 20u, 40u}) {
      CAPTURE(at);
      CHECK(refused("tampered", flipped(at), "right").find("wrong passphrase or corrupted file") != std::string::npos);
    }
  }
  SECTION("a flipped byte in the magic or the version") {
    CHECK(refused("tampered", flipped(0), "right").find("not an encrypted file") != std::string::npos);
    CHECK(refused("tampered", flipped(8), "right").find("format version 0") != std::string::npos);
  }
  SECTION("a flipped byte in the body") {
    refused("tampered", flipped(44), "right");
    refused("tampered", flipped(sealed.size() / 2), "right");
  }
  SECTION("a flipped byte in the tag") {
    refused("tampered", flipped(sealed.size() - 1), "right");
    refused("tampered", flipped(sealed.size() - 16), "right");
  }
  SECTION("truncated anywhere") {
    for (std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{30}, std::size_t{44}, std::size_t{59},
                             sealed.size() / 2, sealed.size() - 1}) {
      CAPTURE(size);
      refused("truncated", sealed.substr(0, size), "right");
    }
  }
  SECTION("bytes appended") { refused("longer", sealed + "x", "right"); }
}

TEST_CASE("encryption refuses what it must not do", "[crypto][encrypt]") {
  temp_dir dir;
  write_file(dir / "plain", "data");

  auto same = error_of([&] { flash::encrypt_file(dir / "plain", dir / "plain", "pass", quick()); });
  CHECK(same.code() == flash::errc::validation_error);
  CHECK(std::string(same.what()).find("refusing to overwrite it") != std::string::npos);
  fs::create_hard_link(dir / "plain", dir / "link");
  CHECK(error_of([&] { flash::decrypt_file(dir / "plain", dir / "link", "pass"); }).code() ==
        flash::errc::validation_error);
  CHECK(read_file(dir / "plain") == "data");

  CHECK(error_of([&] { flash::encrypt_file(dir / "plain", dir / "out", "", quick()); }).code() ==
        flash::errc::validation_error);
  auto weak = quick();
  weak.kdf_iterations = 1000;
  CHECK(error_of([&] { flash::encrypt_file(dir / "plain", dir / "out", "pass", weak); }).code() ==
        flash::errc::validation_error);

  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  auto special = error_of([&] { flash::encrypt_file(dir / "plain", dir / "fifo", "pass", quick()); });
  CHECK(special.code() == flash::errc::validation_error);
  CHECK(std::string(special.what()).find("not a regular file") != std::string::npos);
  CHECK(error_of([&] { flash::encrypt_file(dir / "plain", dir.path, "pass", quick()); }).cause() ==
        std::errc::is_a_directory);
  fs::remove(dir / "fifo");

  auto missing = error_of([&] { flash::encrypt_file(dir / "missing", dir / "out", "pass", quick()); });
  CHECK(missing.code() == flash::errc::filesystem_error);
  CHECK(missing.cause() == std::errc::no_such_file_or_directory);

  auto no_directory = error_of([&] { flash::encrypt_file(dir / "plain", dir / "no" / "out", "pass", quick()); });
  CHECK(no_directory.code() == flash::errc::filesystem_error);
  CHECK(dir.entries() == std::vector<std::string>{"link", "plain"});
}

TEST_CASE("the awaitable encryption runs on the pool and round-trips", "[crypto][encrypt]") {
  temp_dir dir;
  const std::string data = generated(3 * mib + 1, 11);
  write_file(dir / "plain", data);
  flash::thread_pool pool(2);
  auto sealing = flash::async_encrypt_file(pool.get_executor(), dir / "plain", dir / "sealed", "pass", quick());
  run_async(std::move(sealing));
  auto opening = flash::async_decrypt_file(pool.get_executor(), dir / "sealed", dir / "opened", "pass");
  run_async(std::move(opening));
  CHECK(read_file(dir / "opened") == data);

  auto wrong = flash::async_decrypt_file(pool.get_executor(), dir / "sealed", dir / "again", "nope");
  CHECK(error_of([&] { run_async(std::move(wrong)); }).code() == flash::errc::validation_error);
  CHECK(dir.entries() == std::vector<std::string>{"opened", "plain", "sealed"});
}

TEST_CASE("cancelling an encryption leaves no output, no temporary and no descriptor", "[crypto][encrypt][cancel]") {
  temp_dir dir;
  const silent_pipe pipe(dir.path, "some plaintext");
  const std::size_t descriptors_before = open_descriptors();

  cancel_at_first_progress cancelling;  // once the plaintext so far is encrypted, the input still open
  flash::resource_tracker tracker;
  auto options = quick();
  options.resources = &tracker;
  options.on_progress = cancelling.on_progress();
  const auto failure = cancelling.run(
      flash::async_encrypt_file(cancelling.pool.get_executor(), pipe.path, dir / "sealed", "pass", options));
  CHECK(flash::is_cancellation(failure));
  CHECK(dir.entries() == std::vector<std::string>{"fifo"});
  CHECK(tracker.total() == 0);
  CHECK(open_descriptors() == descriptors_before);
}
