// flash-cp: copies files and directory trees like cp, with the kernel's zero-copy transfers
// (copy_file_range, sendfile), many files at once. A destination file appears whole or not at
// all: it is written beside its place and renamed there once complete, so a failure, a full disk
// or Ctrl-C never leaves half of one. Like cp, it leaves writing to the disk to the kernel;
// --sync flushes each file before its name appears.
//
//   flash-cp [-r] [-j N] [--sync] SOURCE DEST           copy SOURCE as DEST (or into DEST, a directory)
//   flash-cp [-r] [-j N] [--sync] SOURCE... DIRECTORY   copy each SOURCE into DIRECTORY

#include <flash/flash.hpp>
#include <flash/ops/copy.hpp>
#include <flash/ui/progress.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

template <class... Args>
void complain(fmt::format_string<Args...> format, Args&&... args) {
  std::fflush(stdout);
  fmt::print(stderr, "flash-cp: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

// The name a source takes inside a destination directory ("dir/" is "dir").
fs::path name_of(const std::string& source) {
  fs::path path(source);
  while (path.has_relative_path() && path.filename().empty()) path = path.parent_path();
  return path.filename();
}

// Whether `inner` is `outer` or lies under it, once both are resolved.
bool is_within(const fs::path& outer, const fs::path& inner) {
  std::error_code ec;
  const auto a = fs::weakly_canonical(outer, ec);
  if (ec) return false;
  const auto b = fs::weakly_canonical(inner, ec);
  if (ec) return false;
  auto [end, _] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return end == a.end();
}

// The message cp would print for a failure, by what failed.
void report(const flash::copy_error& e) {
  const std::string reason = e.cause() ? e.cause().message() : e.what();
  const auto& source = e.source().string();
  const auto& destination = e.destination().string();
  switch (e.stage()) {
    case flash::copy_stage::reading_source:
      return complain("cannot read '{}': {}", source, reason);
    case flash::copy_stage::creating_destination: {
      struct stat status {};
      const char* kind = "regular file";
      if (::lstat(source.c_str(), &status) == 0) {
        if (S_ISDIR(status.st_mode)) kind = "directory";
        if (S_ISLNK(status.st_mode)) kind = "symbolic link";
      }
      return complain("cannot create {} '{}': {}", kind, destination, reason);
    }
    case flash::copy_stage::writing_destination:
    case flash::copy_stage::committing:
      return complain("error writing '{}': {}", destination, reason);
  }
}

flash::awaitable<int> copy(flash::context& ctx) {
  const bool recursive = ctx.get<bool>("recursive");
  std::vector<std::string> sources = ctx.get_many<std::string>("FILE");
  if (sources.size() < 2) {
    complain("missing destination file operand after '{}'\nRun 'flash-cp --help' for more information.",
             sources.front());
    co_return 2;
  }
  const fs::path destination = sources.back();
  sources.pop_back();

  struct stat target_status {};
  const bool target_exists = ::stat(destination.c_str(), &target_status) == 0;
  const bool into_directory = target_exists && S_ISDIR(target_status.st_mode);
  if (sources.size() > 1 && !into_directory) {
    if (target_exists)
      complain("target '{}' is not a directory", destination.string());
    else
      complain("target '{}': {}", destination.string(), std::strerror(errno));
    co_return 1;
  }

  const mode_t umask_bits = ::umask(0);
  ::umask(umask_bits);

  bool failed = false;
  flash::copy_plan plan;
  plan.sizes = flash::multi_progress::is_terminal(stderr);  // only a bar that shows needs them
  for (const auto& source : sources) {
    struct stat status {};
    // Without -r a link is followed; with it, a link is copied as a link.
    if ((recursive ? ::lstat(source.c_str(), &status) : ::stat(source.c_str(), &status)) != 0) {
      complain("cannot stat '{}': {}", source, std::strerror(errno));
      failed = true;
      continue;
    }
    const fs::path target = into_directory ? destination / name_of(source) : destination;
    struct stat existing {};
    const bool target_there = ::stat(target.c_str(), &existing) == 0;
    if (S_ISDIR(status.st_mode)) {
      if (!recursive) {
        complain("-r not specified; omitting directory '{}'", source);
        failed = true;
      } else if (target_there && !S_ISDIR(existing.st_mode)) {
        complain("cannot overwrite non-directory '{}' with directory '{}'", target.string(), source);
        failed = true;
      } else if (is_within(source, target)) {
        complain("cannot copy a directory, '{}', into itself, '{}'", source, target.string());
        failed = true;
      } else {
        co_await flash::add_tree(ctx, plan, source, target);
      }
    } else if (target_there && existing.st_dev == status.st_dev && existing.st_ino == status.st_ino) {
      complain("'{}' and '{}' are the same file", source, target.string());
      failed = true;
    } else if (target_there && S_ISDIR(existing.st_mode)) {
      complain("cannot overwrite directory '{}' with non-directory", target.string());
      failed = true;
    } else if (S_ISLNK(status.st_mode)) {
      std::error_code ec;
      auto link = fs::read_symlink(source, ec);
      if (ec) {
        complain("cannot read symbolic link '{}': {}", source, ec.message());
        failed = true;
      } else {
        plan.add_symlink(source, target, std::move(link));
      }
    } else {
      plan.add_file(source, target, static_cast<std::uint64_t>(status.st_size));
    }
  }

  flash::progress_bar bar(plan.total_bytes(), "copying");
  flash::copy_tree_options options{
      .file = {.mode_mask = static_cast<mode_t>(0777 & ~umask_bits),
               .sync = ctx.get<bool>("sync"),
               .on_progress = [&bar](std::uint64_t bytes) { bar.advance(bytes); }},
      .max_concurrency = static_cast<std::size_t>(ctx.get<int>("jobs")),
  };
  auto result = co_await flash::copy_tree(ctx, std::move(plan), std::move(options));
  bar.finish();

  std::sort(result.failures.begin(), result.failures.end(),
            [](const auto& a, const auto& b) { return a.destination() < b.destination(); });
  for (const auto& failure : result.failures) report(failure);
  co_return failed || !result.ok() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Copying blocks in system calls (and, with --sync, in fsync for each file): more threads than
  // cores keep the disk busy.
  return flash::cli("flash-cp")
      .version(flash::version_string)
      .runtime_options({.pool_threads = 16})
      .root_command(flash::cmd<"cp">("Copy SOURCE to DEST, or each SOURCE into the directory DEST, with zero-copy "
                                     "transfers, many files at once. A failure or Ctrl-C leaves no partial file, and an existing file is "
                                     "replaced whole or not at all.")
                        .flag("-r,-R,--recursive", "copy directories recursively")
                        .flag("--sync", "flush each file to disk before it takes its name (slower; cp does not)")
                        .option<int>("-j,--jobs", "files copied at once",
                                     {.default_value = 16, .check = flash::range(1, 1024)})
                        .args<std::string>("FILE", "SOURCE... DEST: what to copy, then where to",
                                                   {.check = flash::not_empty})
                        .run(copy))
      .run(argc, argv);
}
