#include "run_async.hpp"

#include <flash/flash.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fstream>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("metrics: exact counts after a known workload on several threads", "[metrics]") {
  flash::metrics metrics;
  constexpr int threads = 4, per_thread = 10'000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        metrics.task_spawned();
        metrics.task_started();
        metrics.task_finished(std::chrono::microseconds(10), i % 10 == 0, true);
        metrics.memory_allocated(64);
        metrics.memory_released(64);
      }
    });
  for (auto& worker : workers) worker.join();
  auto s = metrics.snapshot();
  CHECK(s.tasks_spawned == threads * per_thread);
  CHECK(s.tasks_cancelled == threads * per_thread / 10);
  CHECK(s.tasks_completed == threads * per_thread - s.tasks_cancelled);
  CHECK(s.average_task_ms == Approx(0.01));
  CHECK(s.peak_concurrency >= 1);
  CHECK(s.peak_concurrency <= threads);
  CHECK(s.memory_current == 0);
  CHECK(s.memory_peak >= 64);
  CHECK(s.memory_peak <= 64 * threads);
}

TEST_CASE("metrics: task groups report to them, in the report and JSON formats", "[metrics]") {
  flash::metrics metrics;
  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    for (int i = 0; i < 6; ++i) group.spawn(flash::sleep_for(1ms));
    co_return;
  };
  run_async(flash::with_task_group(body, {}, &metrics));
  auto s = metrics.snapshot();
  CHECK(s.tasks_spawned == 6);
  CHECK(s.tasks_completed == 6);
  CHECK(s.peak_concurrency == 6);
  CHECK_THAT(s.report(), Catch::StartsWith("Async Performance Report:\n  Tasks: 6 spawned, 6 completed, 0 cancelled\n"));
  CHECK_THAT(s.report(), Catch::Contains("  Peak Concurrency: 6\n"));
  CHECK_THAT(s.json(), Catch::StartsWith("{\"tasks_spawned\":6,\"tasks_completed\":6,\"tasks_cancelled\":0,"));
}

TEST_CASE("memory: the limit fails with resource_exhausted, and use is counted", "[memory]") {
  flash::metrics metrics;
  flash::counting_memory_resource memory(1024, &metrics);
  std::pmr::vector<char> small(512, 'x', &memory);
  CHECK(memory.in_use() >= 512);
  try {
    std::pmr::vector<char> big(4096, 'x', &memory);
    FAIL("allocated past the limit");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::resource_exhausted);
  }
  small = std::pmr::vector<char>(&memory);
  CHECK(memory.in_use() == 0);
  CHECK(metrics.snapshot().memory_peak >= 512);
  CHECK(metrics.snapshot().memory_current == 0);
}

TEST_CASE("resource scope: everything is released in reverse order, on success and on error", "[resources]") {
  flash::resource_tracker tracker;
  auto dir = fs::temp_directory_path() / "flash_scope_test";
  fs::create_directories(dir);
  std::ofstream(dir / "input.txt") << "hello";
  const auto descriptors = open_descriptors();
  std::vector<int> order;
  {
    flash::resource_scope scope(&tracker);
    scope.on_exit([&] { order.push_back(1); });
    auto& file = scope.open_file(dir / "input.txt");
    CHECK(file.native_handle() >= 0);
    scope.on_exit([&] { order.push_back(2); });
    CHECK(tracker.open_files() == 1);
    CHECK(tracker.pending_cleanups() == 2);
    CHECK(open_descriptors() == descriptors + 1);
  }
  CHECK(order == std::vector<int>{2, 1});
  CHECK(tracker.total() == 0);
  CHECK(open_descriptors() == descriptors);

  try {
    flash::resource_scope scope(&tracker);
    scope.open_file(dir / "input.txt");
    scope.open_file(dir / "missing.txt");
    FAIL("opened a missing file");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::filesystem_error);
    CHECK_THAT(e.what(), Catch::Contains("missing.txt") && Catch::Contains("No such file or directory"));
  }
  CHECK(tracker.total() == 0);
  CHECK(open_descriptors() == descriptors);
  fs::remove_all(dir);
}

namespace {
// Runs `create`, which must throw a flash::error of `cause` whose message names `path`.
template <class Create>
void check_refused(Create create, std::errc cause, const fs::path& path) {
  try {
    create();
    FAIL("creating " + path.string() + " should have been refused");
  } catch (const flash::error& e) {
    CHECK(e.cause() == cause);
    CHECK_THAT(e.what(), Catch::Contains(path.string()));
  }
}
}  // namespace

TEST_CASE("resource scope: a temporary file is removed unless committed", "[resources]") {
  flash::resource_tracker tracker;
  auto dir = fs::temp_directory_path() / "flash_temp_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto entries = [&] { return std::distance(fs::directory_iterator(dir), fs::directory_iterator()); };
  auto content = [](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  {
    flash::resource_scope scope(&tracker);
    auto& temp = scope.create_temporary(dir / "abandoned.txt");
    CHECK(::write(temp.native_handle(), "half", 4) == 4);
    CHECK(fs::exists(temp.path()));
    CHECK(tracker.temporary_files() == 1);
  }
  CHECK(fs::is_empty(dir));
  std::ofstream(dir / "kept.txt") << "old";
  {
    flash::resource_scope scope(&tracker);
    auto& temp = scope.create_temporary(dir / "kept.txt", 0640);
    CHECK(::write(temp.native_handle(), "whole", 5) == 5);
    CHECK(content(dir / "kept.txt") == "old");  // the destination is untouched until the commit
    CHECK(entries() == 2);
    temp.commit();
    CHECK(temp.committed());
  }
  CHECK(fs::file_size(dir / "kept.txt") == 5);
  CHECK(content(dir / "kept.txt") == "whole");
  CHECK((fs::status(dir / "kept.txt").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  CHECK(entries() == 1);
  CHECK(tracker.total() == 0);

  // Refused before anything is created, and nothing is counted: a destination that is not a
  // regular file, or a directory that does not exist.
  flash::resource_scope scope(&tracker);
  fs::create_directory(dir / "adir");
  check_refused([&] { scope.create_temporary(dir / "adir"); }, std::errc::is_a_directory, dir / "adir");
  try {
    scope.create_temporary("/dev/null");
    FAIL("a device as destination should be refused");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::validation_error);
    CHECK(e.cause() == flash::destination_errc::not_regular_file);
    CHECK(std::string(e.what()).starts_with("/dev/null: not a regular file"));
  }
  try {
    scope.create_temporary(dir / "missing" / "out.txt");
    FAIL("a temporary in a missing directory should fail");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::filesystem_error);
    CHECK(e.cause() == std::errc::no_such_file_or_directory);
    CHECK_THAT(e.what(), Catch::StartsWith("creating a temporary file for " + (dir / "missing" / "out.txt").string()));
  }
  CHECK(scope.size() == 0);
  CHECK(tracker.total() == 0);
  CHECK(entries() == 2);  // kept.txt and adir
  fs::remove_all(dir);
}

TEST_CASE("resource scope: a file created in place is removed unless committed, and replaces nothing",
          "[resources]") {
  flash::resource_tracker tracker;
  auto dir = fs::temp_directory_path() / "flash_in_place_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    flash::resource_scope scope(&tracker);
    auto& file = scope.create_in_place(dir / "abandoned.txt");
    CHECK(file.path() == dir / "abandoned.txt");
    CHECK(::write(file.native_handle(), "half", 4) == 4);
    CHECK(tracker.temporary_files() == 1);
  }
  CHECK(fs::is_empty(dir));
  {
    flash::resource_scope scope(&tracker);
    auto& file = scope.create_in_place(dir / "new.txt", 0604);
    CHECK(::write(file.native_handle(), "whole", 5) == 5);
    file.commit({.sync = false});
  }
  CHECK(fs::file_size(dir / "new.txt") == 5);
  // The mode is the one asked for, whatever the umask.
  CHECK((fs::status(dir / "new.txt").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read));
  {
    flash::resource_scope scope(&tracker);
    check_refused([&] { scope.create_in_place(dir / "new.txt"); }, std::errc::file_exists, dir / "new.txt");
    CHECK(scope.size() == 0);
  }
  CHECK(fs::file_size(dir / "new.txt") == 5);  // the existing file was left as it was
  {
    // Another writer takes the name before this one gives up: its file is not removed.
    flash::resource_scope scope(&tracker);
    scope.create_in_place(dir / "contended.txt");
    std::ofstream(dir / "other.txt") << "theirs";
    fs::rename(dir / "other.txt", dir / "contended.txt");
  }
  CHECK(fs::file_size(dir / "contended.txt") == 6);
  CHECK(tracker.total() == 0);
  fs::remove_all(dir);
}

TEST_CASE("resource scope: TCP connections close with the scope and a refusal names the host", "[resources][network]") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::address_v4::loopback(), 0});
  const auto port = std::to_string(acceptor.local_endpoint().port());
  flash::resource_tracker tracker;
  const auto descriptors = open_descriptors();
  auto task = [&]() -> flash::awaitable<void> {
    flash::resource_scope scope(&tracker);
    auto* socket = co_await scope.connect_tcp("127.0.0.1", port);
    CHECK(socket->is_open());
    CHECK(tracker.open_connections() == 1);
  };
  acceptor.async_accept([](boost::system::error_code, boost::asio::ip::tcp::socket) {});
  run_async(io, task());
  CHECK(tracker.total() == 0);
  acceptor.close();
  CHECK(open_descriptors() == descriptors - 1);

  auto refused = [&]() -> flash::awaitable<void> {
    flash::resource_scope scope(&tracker);
    co_await scope.connect_tcp("127.0.0.1", port);
  };
  try {
    run_async(io, refused());
    FAIL("connected to a closed port");
  } catch (const flash::error& e) {
    CHECK(e.code() == flash::errc::network_error);
    CHECK_THAT(e.what(), Catch::Contains("127.0.0.1:" + port));
  }
  CHECK(tracker.total() == 0);
}

TEST_CASE("cancellation reaches every kind of suspension, and nothing stays open", "[cancellation][resources]") {
  boost::asio::io_context io;
  flash::thread_pool pool(1);
  flash::metrics metrics;
  flash::resource_tracker tracker;
  flash::semaphore exhausted(0);
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::address_v4::loopback(), 0});
  const auto port = std::to_string(acceptor.local_endpoint().port());
  boost::asio::ip::tcp::socket accepted(io);
  acceptor.async_accept(accepted, [](boost::system::error_code) {});
  std::atomic<bool> pool_blocker_running{false};
  const auto descriptors = open_descriptors();

  auto timer_wait = [&]() -> flash::awaitable<void> {
    flash::resource_scope scope(&tracker);
    scope.create_temporary(fs::temp_directory_path() / "flash_cancel_test.txt");
    co_await flash::sleep_for(30s);
  };
  auto socket_read = [&]() -> flash::awaitable<void> {
    flash::resource_scope scope(&tracker);
    auto* socket = co_await scope.connect_tcp("127.0.0.1", port);
    char byte;
    co_await boost::asio::async_read(*socket, boost::asio::buffer(&byte, 1), boost::asio::use_awaitable);
  };
  auto semaphore_wait = [&]() -> flash::awaitable<void> { co_await exhausted.acquire(); };
  auto pool_blocker = [&]() -> flash::awaitable<void> {
    co_await flash::offload(pool.get_executor(), [&](const flash::cancellation_token& token) {
      pool_blocker_running = true;
      while (!token.is_cancelled()) std::this_thread::yield();
      token.throw_if_cancelled("the CPU loop");
    });
  };
  auto pool_queued = [&]() -> flash::awaitable<void> {
    co_await flash::offload(pool.get_executor(), [] { FAIL("cancelled queued work ran"); });
  };
  auto green = [&](flash::yield_context yield) { flash::sleep_for(30s, yield); };

  auto body = [&](flash::task_group& group) -> flash::awaitable<void> {
    group.spawn(timer_wait());
    group.spawn(socket_read());
    group.spawn(semaphore_wait());
    group.spawn(pool_blocker());
    group.spawn(pool_queued());
    group.spawn(flash::execution_model::green_thread, pool.get_executor(), green);
    while (!pool_blocker_running || tracker.open_connections() == 0 || tracker.temporary_files() == 0)
      co_await flash::sleep_for(1ms);
    co_await flash::sleep_for(5ms);
    group.cancel();
  };
  auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_MATCHES(run_async(io, flash::with_task_group(body, {}, &metrics)), std::exception,
                       Catch::Predicate<std::exception>([](const std::exception&) { return true; }));
  CHECK(std::chrono::steady_clock::now() - start < 10s);
  auto s = metrics.snapshot();
  CHECK(s.tasks_spawned == 6);
  CHECK(s.tasks_cancelled == 6);
  CHECK(tracker.total() == 0);
  accepted.close();
  acceptor.close();
  CHECK(open_descriptors() == descriptors - 1);
  CHECK_FALSE(fs::exists(fs::temp_directory_path() / "flash_cancel_test.txt"));
}
