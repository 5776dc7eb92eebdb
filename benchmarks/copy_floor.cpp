// The floor for copying a tree of small files on this machine: the system calls flash-cp makes
// for each file (open, fstat, create, copy_file_range, two closes) on THREADS threads, with no
// program around them: no event loop, no pool, no progress. compare.sh runs it beside `cp -r`
// and `flash-cp -r`, so that a ratio can be read against what the kernel allows.
//
//   copy_floor SRC DST [THREADS]      DST must not exist; THREADS defaults to the core count
//
// It is timed from outside, as cp is: listing SRC, making the directories and copying the files.
// Regular files and directories only; files keep their modes, nothing keeps its times.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  std::fprintf(stderr, "copy_floor: %s '%s': %s\n", what.c_str(), path.c_str(), std::strerror(errno));
  std::exit(1);
}

struct tree {
  std::vector<fs::path> directories;  // relative to the root, parents first
  std::vector<fs::path> files;
};

tree list(const fs::path& root) {
  tree found;
  try {
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_symlink()) continue;
      if (entry.is_directory())
        found.directories.push_back(entry.path().lexically_relative(root));
      else if (entry.is_regular_file())
        found.files.push_back(entry.path().lexically_relative(root));
    }
  } catch (const fs::filesystem_error& e) {
    std::fprintf(stderr, "copy_floor: cannot list '%s': %s\n", e.path1().c_str(), e.code().message().c_str());
    std::exit(1);
  }
  return found;
}

void copy_one(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("cannot open", from);
  struct stat status {};
  if (::fstat(in, &status) != 0) fail("cannot stat", from);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, status.st_mode & 07777);
  if (out < 0) fail("cannot create", to);
  auto give_up = [&](const char* what) {
    const int cause = errno;
    ::unlink(to.c_str());  // no half-written file left behind
    errno = cause;
    fail(what, to);
  };
  for (off_t left = status.st_size; left > 0;) {
    const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<std::size_t>(left), 0);
    if (n < 0) give_up("cannot copy to");
    if (n == 0) break;  // the file shrank
    left -= n;
  }
  if (::close(out) != 0) give_up("cannot write");
  ::close(in);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: copy_floor SRC DST [THREADS]\n");
    return 2;
  }
  const fs::path source = argv[1], destination = argv[2];
  const unsigned threads = argc == 4 ? static_cast<unsigned>(std::atoi(argv[3])) : std::thread::hardware_concurrency();
  if (threads == 0) {
    std::fprintf(stderr, "copy_floor: THREADS must be a positive number, not '%s'\n", argv[3]);
    return 2;
  }
  std::error_code ec;
  if (fs::exists(destination, ec)) {
    std::fprintf(stderr, "copy_floor: '%s' exists already\n", destination.c_str());
    return 1;
  }
  const tree work = list(source);

  if (::mkdir(destination.c_str(), 0755) != 0) fail("cannot create", destination);
  for (const auto& directory : work.directories)
    if (::mkdir((destination / directory).c_str(), 0755) != 0) fail("cannot create", destination / directory);
  // Each thread copies a stretch of the list of its own, so that two threads seldom create
  // files in one directory at once (a create locks its directory).
  std::vector<std::thread> copiers;
  const std::size_t files = work.files.size();
  for (unsigned t = 0; t < threads; ++t)
    copiers.emplace_back([&, t] {
      for (std::size_t i = files * t / threads; i < files * (t + 1) / threads; ++i)
        copy_one((source / work.files[i]).string(), (destination / work.files[i]).string());
    });
  for (auto& copier : copiers) copier.join();
}
