// flash-get: downloads URLs concurrently into a directory.
//
//   flash-get [-j N] [--timeout SECONDS] [--retries N] [-o DIR] URL...
//
// Each URL goes to DIR/<last segment of its path> (index.html for a path ending in '/'), written
// through a temporary and renamed into place once complete. One line per URL, in argument order:
//
//   200  12345 bytes  http://127.0.0.1:8080/a.txt -> out/a.txt
//   FAILED  http://127.0.0.1:8080/b.txt: 404 Not Found
//
// Exit status: 0 when every URL was downloaded, 1 when one failed, 2 for a usage error (a bad
// URL among them), 130 on Ctrl-C (which leaves no partial file).

#include <flash/flash.hpp>
#include <flash/ops/http.hpp>
#include <flash/ui/progress.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%20" and the like decoded; the text unchanged when that would give '/' or NUL.
std::string percent_decode(std::string_view text) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      const char c = static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      if (c == '/' || c == '\0') return std::string(text);
      decoded += c;
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

// The file a URL is saved as: the last segment of its path, or index.html.
std::string file_name_for(const flash::url& url) {
  const std::string path = url.path();
  std::string name = percent_decode(std::string_view(path).substr(path.rfind('/') + 1));
  if (name.empty() || name == "." || name == "..") return "index.html";
  return name;
}

std::string describe(const flash::fetch_result& result) {
  if (!result.ok()) return fmt::format("FAILED  {}: {}", result.url, result.failure());
  const auto& response = *result.response;
  return fmt::format("{}  {} bytes  {} -> {}", response.status, response.body_size, result.url,
                     response.file.string());
}

flash::awaitable<int> get(flash::context& ctx) {
  const auto& urls = ctx.get_many<std::string>("urls");
  const std::filesystem::path directory = ctx.get<std::string>("output-dir");
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) throw flash::error(flash::errc::filesystem_error, "creating " + directory.string(), ec);

  // Two URLs with the same last segment get a.txt, a.txt.1, a.txt.2 ... as wget names them.
  std::vector<flash::fetch_request> requests;
  std::set<std::string> taken;
  for (const auto& text : urls) {
    const std::string name = file_name_for(flash::parse_url(text));
    std::string unique = name;
    for (int n = 1; !taken.insert(unique).second; ++n) unique = fmt::format("{}.{}", name, n);
    requests.push_back({text, (directory / unique).lexically_normal()});
  }

  // Rounded up: a tiny timeout must not become 0, which means no limit.
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(std::ceil(ctx.get<double>("timeout") * 1000)));
  flash::http_client client({.timeout = timeout,
                             .retries = static_cast<std::size_t>(ctx.get<int>("retries")),
                             .resources = &ctx.resources(),
                             .sync_downloads = ctx.get<bool>("sync"),
                             .file_executor = ctx.pool().get_executor()});

  // One line for all the URLs, and one for each download under way (as many as fit). Result
  // lines go out above them in argument order, as soon as the ones before them are known.
  flash::multi_progress progress;
  auto& overall = progress.add("downloading", urls.size(), flash::progress_unit::items);
  std::vector<flash::progress_task*> downloading(urls.size(), nullptr);
  std::vector<std::optional<std::string>> lines(urls.size());
  std::size_t printed = 0;
  auto print_ready = [&] {
    for (; printed < lines.size() && lines[printed]; ++printed) fmt::print("{}\n", *lines[printed]);
    std::fflush(stdout);
  };
  flash::fetch_options options{
      .max_concurrency = static_cast<std::size_t>(ctx.get<int>("jobs")),
      .observer = &ctx.metrics(),
      .on_result =
          [&](std::size_t index, const flash::fetch_result& result) {
            if (downloading[index]) progress.remove(*std::exchange(downloading[index], nullptr));
            lines[index] = describe(result);
            overall.advance();
            progress.above(print_ready);
          },
      .on_progress =
          [&](std::size_t index, std::uint64_t received, std::uint64_t expected) {
            if (!downloading[index] && progress.enabled())
              downloading[index] = &progress.add(requests[index].destination.filename().string(), expected);
            if (!downloading[index]) return;
            downloading[index]->set_total(expected);
            downloading[index]->set(received);
          }};
  auto fetching = client.fetch_all(requests, std::move(options));
  const auto results = co_await std::move(fetching);
  progress.finish();
  print_ready();

  std::size_t failed = 0;
  for (const auto& result : results) failed += !result.ok();
  co_return failed == 0 ? flash::exit_code::success : flash::exit_code::failure;
}

const flash::validator http_url(
    [](std::string& text) -> std::string {
      try {
        flash::parse_url(text);
        return {};
      } catch (const flash::error& e) {
        return e.what();
      }
    },
    "URL");

}  // namespace

int main(int argc, char** argv) {
  return flash::cli("flash-get")
      .version(flash::version_string)
      .root_command(
          flash::cmd<"get">("Download URLs concurrently into a directory")
              .option<int>("-j,--jobs", "How many downloads run at once",
                           {.default_value = 8, .check = flash::range(1, 1000)})
              .option<double>("--timeout",
                              "Seconds to wait at any step (connecting, or between two pieces of data); 0 for no limit",
                              {.default_value = 30.0, .check = flash::range(0.0, 86400.0)})
              .option<int>("--retries", "Further attempts after a failure that may pass (refused, reset, timeout, 5xx)",
                           {.default_value = 2, .check = flash::range(0, 100)})
              .option<std::string>("-o,--output-dir", "Directory to save into (created if missing)",
                                   {.default_value = ".", .check = flash::not_empty})
              .flag("--sync", "Flush each file to disk before it takes its name (slower; curl does not)")
              .args<std::string>("urls", "The http:// URLs to download", {.check = http_url})
              .run(get))
      .run(argc, argv);
}
