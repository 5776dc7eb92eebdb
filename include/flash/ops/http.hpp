#pragma once
// An HTTP/1.1 client on Boost.Beast (http:// only; no TLS).
//
//   flash::http_client client({.timeout = 10s, .retries = 2, .resources = &ctx.resources()});
//   flash::http_response page = co_await client.get("http://127.0.0.1:8080/index.html");
//   co_await client.download("http://127.0.0.1:8080/big.iso", "out/big.iso");
//   auto results = co_await client.fetch_all(urls, options);   // bounded concurrency, in order
//
// GET follows redirects (301, 302, 303, 307, 308; absolute or relative Location) up to a limit,
// keeps connections alive per host:port and reuses them, retries with backoff what may succeed
// later (connection refused or reset, timeouts, 5xx responses) and never a 4xx. A download
// streams the body into a temporary beside the destination, renamed into place only when the
// whole body of a 2xx response has arrived. Failures are flash::error naming the URL or the host:
// validation_error for a bad URL, network_error, timeout, cancelled.

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/ops/net.hpp>
#include <flash/runtime/offload.hpp>
#include <flash/runtime/resource_scope.hpp>
#include <flash/runtime/retry.hpp>
#include <flash/runtime/task_group.hpp>
#include <flash/version.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

namespace flash {

// --- errors -----------------------------------------------------------------------------------

/// Why a URL or an HTTP exchange was refused: the cause of a flash::error.
enum class http_errc {
  invalid_url = 1,
  unsupported_scheme,
  invalid_host,
  invalid_port,
  too_many_redirects,
  redirect_without_location,
  body_too_large,
};

namespace detail {
class http_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "flash.http"; }
  std::string message(int code) const override {
    switch (static_cast<http_errc>(code)) {
      case http_errc::invalid_url: return "not a URL of the form http://host[:port]/path";
      case http_errc::unsupported_scheme: return "unsupported URL scheme (only http:// is supported; no TLS)";
      case http_errc::invalid_host: return "invalid host name in URL";
      case http_errc::invalid_port: return "invalid port in URL (1 to 65535)";
      case http_errc::too_many_redirects: return "too many redirects";
      case http_errc::redirect_without_location: return "redirect without a Location header";
      case http_errc::body_too_large: return "response body larger than the in-memory limit";
    }
    return "unknown HTTP error";
  }
};
}  // namespace detail

inline const std::error_category& http_category() noexcept {
  static const detail::http_category_impl category;
  return category;
}

inline std::error_code make_error_code(http_errc code) noexcept {
  return {static_cast<int>(code), http_category()};
}

}  // namespace flash

template <>
struct std::is_error_code_enum<flash::http_errc> : std::true_type {};

namespace flash {

// --- URLs -------------------------------------------------------------------------------------

/// An http:// URL, split into what a request needs.
struct url {
  std::string host;          ///< lower case; an IPv6 address without its brackets
  std::uint16_t port = 80;
  std::string target = "/";  ///< path and query, as sent in the request line

  /// "host:port", as connections and errors name the server.
  std::string authority() const { return detail::authority(host, std::to_string(port)); }

  /// The Host header: the host, with the port unless it is 80.
  std::string host_header() const {
    const std::string name = host.find(':') == std::string::npos ? host : "[" + host + "]";
    return port == 80 ? name : fmt::format("{}:{}", name, port);
  }

  /// The target without its query.
  std::string path() const { return target.substr(0, target.find('?')); }

  std::string str() const { return "http://" + host_header() + target; }
};

namespace detail {

[[noreturn]] inline void bad_url(std::string_view text, http_errc why) {
  throw error(errc::validation_error, std::string(text), why);
}

inline char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

/// RFC 3986 section 5.2.4: removes "." and ".." segments from an absolute path.
inline std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t at = 1;  // past the leading '/'
  bool trailing_slash = false;
  while (at <= path.size()) {
    const std::size_t end = std::min(path.find('/', at), path.size());
    const std::string_view segment = path.substr(at, end - at);
    trailing_slash = segment == "." || segment == "..";
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (segment != ".") {
      segments.push_back(segment);
    }
    at = end + 1;
  }
  std::string result;
  for (auto segment : segments) result.append("/").append(segment);
  if (result.empty() || trailing_slash) result += '/';
  return result;
}

}  // namespace detail

/// Parses "http://host[:port][/path][?query][#fragment]" (the fragment is dropped). Throws
/// flash::error(errc::validation_error) naming the text, its cause saying what is wrong.
inline url parse_url(std::string_view text) {
  using detail::bad_url;
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) bad_url(text, http_errc::invalid_url);
  const auto colon = text.find("://");
  if (colon == std::string_view::npos) bad_url(text, http_errc::invalid_url);
  const std::string_view scheme = text.substr(0, colon);
  if (scheme.empty() || scheme.find_first_of("/?#") != std::string_view::npos) bad_url(text, http_errc::invalid_url);
  if (!detail::iequals(scheme, "http")) bad_url(text, http_errc::unsupported_scheme);

  std::string_view rest = text.substr(colon + 3);
  rest = rest.substr(0, rest.find('#'));
  const auto authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) bad_url(text, http_errc::invalid_host);

  url result;
  std::string_view host;
  std::string_view port;
  if (authority.starts_with('[')) {  // [IPv6]
    const auto close = authority.find(']');
    if (close == std::string_view::npos || close == 1) bad_url(text, http_errc::invalid_host);
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) bad_url(text, http_errc::invalid_host);
    if (!after.empty()) port = after.substr(1);
    for (char c : host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') bad_url(text, http_errc::invalid_host);
  } else {
    const auto port_colon = authority.find(':');
    host = authority.substr(0, port_colon);
    if (port_colon != std::string_view::npos) port = authority.substr(port_colon + 1);
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
        bad_url(text, http_errc::invalid_host);
  }
  if (host.empty()) bad_url(text, http_errc::invalid_host);
  for (char c : host) result.host += detail::ascii_lower(c);

  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      bad_url(text, http_errc::invalid_port);
    const int number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) bad_url(text, http_errc::invalid_port);
    result.port = static_cast<std::uint16_t>(number);
  }

  result.target = target.empty() ? "/" : std::string(target);
  if (result.target.front() == '?') result.target.insert(0, "/");
  return result;
}

/// The URL a reference (a Location header) points to, relative to `base`: absolute
/// ("http://..."), scheme-relative ("//host/..."), absolute-path ("/a"), query ("?q") or
/// relative path ("b/c", "../d"). Throws like parse_url.
inline url resolve_url(const url& base, std::string_view reference) {
  reference = reference.substr(0, reference.find('#'));
  const auto scheme_end = reference.find("://");
  if (scheme_end != std::string_view::npos && reference.substr(0, scheme_end).find_first_of("/?") == std::string_view::npos)
    return parse_url(reference);
  if (reference.starts_with("//")) return parse_url("http:" + std::string(reference));
  for (char c : reference)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) detail::bad_url(reference, http_errc::invalid_url);

  url result = base;
  if (reference.empty()) return result;
  const std::string_view path = reference.substr(0, reference.find('?'));
  const std::string_view query = path.size() < reference.size() ? reference.substr(path.size()) : std::string_view{};
  std::string merged;
  if (path.empty()) {
    merged = base.path();
  } else if (path.starts_with('/')) {
    merged = std::string(path);
  } else {
    const std::string base_path = base.path();
    merged = base_path.substr(0, base_path.rfind('/') + 1) + std::string(path);
  }
  result.target = detail::remove_dot_segments(merged) + std::string(query);
  return result;
}

// --- requests and responses -------------------------------------------------------------------

struct http_response {
  unsigned status = 0;                                       ///< 200, 404 ...
  std::string reason;                                        ///< "OK", "Not Found" ...
  std::vector<std::pair<std::string, std::string>> headers;  ///< as received
  std::uint64_t body_size = 0;                               ///< bytes of body received
  std::string body;                 ///< the body, for get(); empty for download()
  std::filesystem::path file;       ///< where download() put the body (a 2xx response only)
  flash::url url;                   ///< the URL that answered, after redirects
  std::size_t redirects = 0;        ///< redirects followed
  std::size_t attempts = 0;         ///< tries it took (more than 1 after retries)

  bool ok() const noexcept { return status >= 200 && status < 300; }

  /// The value of header `name` (any case), if present.
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [field, value] : headers)
      if (detail::iequals(field, name)) return value;
    return std::nullopt;
  }
};

struct http_options {
  /// The longest wait at any step: connecting, sending, and between two pieces of the response
  /// (so a long download that keeps arriving never times out). Zero for no limit.
  std::chrono::milliseconds timeout{30'000};
  std::size_t retries = 2;                       ///< further attempts after a retryable failure
  std::chrono::milliseconds retry_delay{200};    ///< before the first retry; doubles each time
  std::size_t max_redirects = 10;
  std::size_t max_idle_per_host = 8;             ///< kept-alive connections kept per host:port
  std::size_t max_idle = 64;                     ///< kept-alive connections kept in all
  std::uint64_t max_body_in_memory = 64 << 20;   ///< for get(); a larger body is resource_exhausted
  std::string user_agent = std::string("flash/") + version_string;
  resource_tracker* resources = nullptr;         ///< counts open connections and temporaries
  /// Flush each download to disk (fsync) before it takes its name, so that after a power cut a
  /// name never holds less than the whole file. A disk round trip per file; curl and wget do not.
  bool sync_downloads = false;
  /// Where a finished download is flushed to disk and renamed into place when sync_downloads,
  /// which blocks: give the pool (ctx.pool().get_executor()) so the I/O thread goes on
  /// meanwhile. Unset: the caller's.
  std::optional<boost::asio::any_io_executor> file_executor{};
  std::function<void(std::size_t)> on_body_bytes{};  ///< called with each piece of body as it arrives
};

/// One download for fetch_all: an empty destination keeps the body in memory.
struct fetch_request {
  std::string url;
  std::filesystem::path destination;
};

/// What became of one URL of fetch_all.
struct fetch_result {
  std::string url;
  std::optional<http_response> response;  ///< empty when the request failed
  std::exception_ptr error;               ///< why it failed

  bool ok() const noexcept { return response && response->ok(); }

  /// Empty when ok(); else the error's message, or the status ("404 Not Found").
  std::string failure() const {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        return e.what();
      } catch (...) {
        return "unknown error";
      }
    }
    if (!response) return "no response";
    if (!response->ok()) return fmt::format("{} {}", response->status, response->reason);
    return {};
  }
};

struct fetch_options {
  std::size_t max_concurrency = 8;  ///< requests at once; 0 for no limit
  task_observer* observer = nullptr;  ///< counts the requests as tasks, e.g. &ctx.metrics()
  /// Called as each URL finishes (in completion order), with its position in the request list.
  std::function<void(std::size_t, const fetch_result&)> on_result{};
  /// Called as each URL's body arrives, with its position, the bytes received so far (from 0
  /// again when a retry starts over) and the size the server announced (0 when it did not).
  std::function<void(std::size_t, std::uint64_t, std::uint64_t)> on_progress{};
};

namespace detail {

/// A 5xx response, thrown so that flash::retry tries again; the last one is returned.
struct server_error_response {
  http_response response;
};

inline bool is_redirect(unsigned status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/// What is worth another try: timeouts, transport failures and 5xx responses; never a
/// cancellation, a bad URL, a redirect loop, a failure to write the file, or a 4xx.
inline bool is_retryable_http(const std::exception_ptr& failure) {
  if (is_cancellation(failure)) return false;
  try {
    std::rethrow_exception(failure);
  } catch (const server_error_response&) {
    return true;
  } catch (const flash::error& e) {
    if (e.code() == errc::timeout) return true;
    return e.code() == errc::network_error && e.cause().category() != http_category();
  } catch (...) {
  }
  return false;
}

inline void write_all(int fd, const char* data, std::size_t size, const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw error(errc::filesystem_error, "writing " + path.string(), std::error_code(errno, std::generic_category()));
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

}  // namespace detail

// --- the client -------------------------------------------------------------------------------

/// An HTTP/1.1 client with a pool of kept-alive connections. Use it from one executor (the I/O
/// context or a strand), and destroy it before that executor's context.
class http_client {
 public:
  explicit http_client(http_options options = {}) : options_(std::move(options)) {}
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// GETs `url` with its body in memory. Any final status is returned (a 5xx once the retries
  /// are spent); failures to get one throw.
  awaitable<http_response> get(std::string url) { return fetch(std::move(url), {}); }

  /// GETs `url` into `destination` through a temporary beside it, renamed into place once the
  /// whole body of a 2xx response has arrived. Another status leaves no file (see ok()).
  awaitable<http_response> download(std::string url, std::filesystem::path destination) {
    return fetch(std::move(url), std::move(destination));
  }

  /// Fetches every request, at most options.max_concurrency at once; one result per request, in
  /// their order. A failed URL does not stop the others; cancellation stops them all and throws.
  awaitable<std::vector<fetch_result>> fetch_all(std::vector<fetch_request> requests, fetch_options options = {}) {
    std::vector<fetch_result> results(requests.size());
    auto body = [&](task_group& group) -> awaitable<void> {
      for (std::size_t i = 0; i < requests.size(); ++i) group.spawn(fetch_one(requests[i], results[i], i, options));
      co_return;
    };
    const task_group_options group_options{.on_failure = failure_policy::keep_going,
                                           .max_concurrency = options.max_concurrency};
    co_await with_task_group(body, group_options, options.observer);
    co_return results;
  }

  /// The same, keeping each body in memory.
  awaitable<std::vector<fetch_result>> fetch_all(const std::vector<std::string>& urls, fetch_options options = {}) {
    std::vector<fetch_request> requests;
    requests.reserve(urls.size());
    for (const auto& text : urls) requests.push_back({text, {}});
    return fetch_all(std::move(requests), std::move(options));
  }

  /// Connections opened so far (a reused connection counts once).
  std::size_t connections_opened() const noexcept { return connections_opened_.load(std::memory_order_relaxed); }

  /// Kept-alive connections waiting for a request.
  std::size_t idle_connections() const {
    std::lock_guard lock(mutex_);
    return idle_count_;
  }

  /// Closes the kept-alive connections.
  void close_idle() {
    std::lock_guard lock(mutex_);
    idle_.clear();
    idle_count_ = 0;
  }

 private:
  struct connection {
    explicit connection(resource_tracker* tracker) : scope(std::make_unique<resource_scope>(tracker)) {
      buffer.reserve(64 * 1024);  // Beast reads at most the free capacity: 512 bytes of an empty buffer
    }
    std::unique_ptr<resource_scope> scope;  // owns the socket: closes it, counts it
    std::optional<tcp_connection> tcp;
    boost::beast::flat_buffer buffer;
    std::vector<char> chunk = std::vector<char>(64 * 1024);
  };

  // Bytes of the body received so far, and the size announced (or 0).
  using body_progress = std::function<void(std::uint64_t, std::uint64_t)>;

  // One request and its response on `conn`; says whether the connection may be kept.
  struct exchange_result {
    http_response response;
    bool keep_alive = false;
  };

  awaitable<http_response> fetch(std::string text, std::filesystem::path destination,
                                 const body_progress* progress = nullptr) {
    const url target = parse_url(text);
    std::size_t attempts = 0;
    auto attempt = [this, &target, &destination, &attempts, progress] {
      ++attempts;
      return follow_redirects(target, destination, progress);
    };
    retry_policy policy{.max_attempts = options_.retries + 1,
                        .base_delay = options_.retry_delay,
                        .max_delay = std::max(options_.retry_delay, std::chrono::milliseconds(10'000)),
                        .retryable = detail::is_retryable_http};
    std::optional<http_response> response;
    try {
      auto attempts_done = retry(attempt, std::move(policy));
      response.emplace(co_await std::move(attempts_done));
    } catch (detail::server_error_response& last) {
      response.emplace(std::move(last.response));
    }
    response->attempts = attempts;
    co_return std::move(*response);
  }

  awaitable<http_response> follow_redirects(url target, std::filesystem::path destination,
                                            const body_progress* progress) {
    const std::string first = target.str();
    for (std::size_t redirects = 0;; ++redirects) {
      auto exchanging = exchange(target, destination, progress);
      http_response response = co_await std::move(exchanging);
      response.redirects = redirects;
      if (detail::is_redirect(response.status)) {
        const auto location = response.header("Location");
        if (!location) throw error(errc::network_error, "GET " + target.str(), http_errc::redirect_without_location);
        if (redirects == options_.max_redirects)
          throw error(errc::network_error, fmt::format("GET {} ({} redirects allowed)", first, options_.max_redirects),
                      http_errc::too_many_redirects);
        target = redirect_target(target, *location);
        continue;
      }
      if (response.status >= 500) throw detail::server_error_response{std::move(response)};
      co_return response;
    }
  }

  static url redirect_target(const url& from, const std::string& location) {
    try {
      return resolve_url(from, location);
    } catch (const flash::error& e) {
      throw error(errc::validation_error, fmt::format("redirect from {} to {}", from.str(), location), e.cause());
    }
  }

  // A request on a kept-alive connection if there is one, else on a new one. A kept-alive
  // connection the server has closed meanwhile fails before any response: then once more on a
  // new connection.
  awaitable<http_response> exchange(url target, std::filesystem::path destination, const body_progress* progress) {
    const std::string key = target.authority();
    for (bool first_round = true;; first_round = false) {
      std::unique_ptr<connection> conn = first_round ? take_idle(key) : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        auto opening = open(target);
        conn = co_await std::move(opening);
      }
      bool response_started = false;
      try {
        auto exchanging = exchange_on(*conn, target, destination, progress, response_started);
        exchange_result result = co_await std::move(exchanging);
        if (result.keep_alive) give_back(key, std::move(conn));
        co_return std::move(result.response);
      } catch (const flash::error& e) {
        if (!reused || response_started || e.code() != errc::network_error) throw;
      }
    }
  }

  awaitable<std::unique_ptr<connection>> open(const url& target) {
    auto conn = std::make_unique<connection>(options_.resources);
    auto connecting = connect_tcp(*conn->scope, target.host, std::to_string(target.port), options_.timeout);
    conn->tcp.emplace(co_await std::move(connecting));
    ++connections_opened_;
    co_return conn;
  }

  awaitable<exchange_result> exchange_on(connection& conn, const url& target, const std::filesystem::path& destination,
                                         const body_progress* progress, bool& response_started) {
    namespace http = boost::beast::http;
    auto& socket = conn.tcp->socket();
    const std::string& peer = conn.tcp->peer();
    const net_timeout limit = options_.timeout;

    http::request<http::empty_body> request(http::verb::get, target.target, 11);
    request.set(http::field::host, target.host_header());
    request.set(http::field::user_agent, options_.user_agent);
    request.set(http::field::accept, "*/*");
    auto write_request = [&](auto token) { return http::async_write(socket, request, std::move(token)); };
    auto writing = detail::timed_io(socket, limit, write_request);
    const auto sent = co_await std::move(writing);
    if (sent.error) detail::throw_io_failure(sent, limit, "sending the request to " + peer);

    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    auto read_header = [&](auto token) { return http::async_read_header(socket, conn.buffer, parser, std::move(token)); };
    auto reading_header = detail::timed_io(socket, limit, read_header);
    const auto header = co_await std::move(reading_header);
    if (header.error) detail::throw_io_failure(header, limit, "reading the response from " + peer);
    response_started = true;

    exchange_result result;
    http_response& response = result.response;
    response.url = target;
    response.status = parser.get().result_int();
    response.reason = std::string(parser.get().reason());
    for (const auto& field : parser.get())
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));

    // A 2xx body for download() goes to a temporary; other download bodies are dropped.
    resource_scope files(options_.resources);
    temporary_file* file = nullptr;
    if (!destination.empty() && response.ok()) file = &files.create_temporary(destination);
    const bool in_memory = destination.empty();

    // One read at a time, so that the time limit applies between two pieces of the body.
    auto read_body = [&](auto token) { return http::async_read_some(socket, conn.buffer, parser, std::move(token)); };
    while (!parser.is_done()) {
      parser.get().body().data = conn.chunk.data();
      parser.get().body().size = conn.chunk.size();
      auto reading_body = detail::timed_io(socket, limit, read_body);
      auto piece = co_await std::move(reading_body);
      if (piece.error == http::error::need_buffer) piece.error = {};
      if (piece.error) detail::throw_io_failure(piece, limit, "reading the response from " + peer);
      const std::size_t size = conn.chunk.size() - parser.get().body().size;
      if (size == 0) continue;
      response.body_size += size;
      if (file) {
        detail::write_all(file->native_handle(), conn.chunk.data(), size, file->path());
      } else if (in_memory) {
        if (response.body.size() + size > options_.max_body_in_memory)
          throw error(errc::resource_exhausted, "GET " + target.str(), http_errc::body_too_large);
        response.body.append(conn.chunk.data(), size);
      }
      if (options_.on_body_bytes) options_.on_body_bytes(size);
      if (progress && *progress) (*progress)(response.body_size, parser.content_length().value_or(0));
    }
    if (file) {
      const commit_options commit{.sync = options_.sync_downloads};
      if (options_.file_executor && commit.sync) {
        auto committing = offload(*options_.file_executor, [file, commit] { file->commit(commit); });
        co_await std::move(committing);
      } else {
        file->commit(commit);  // a close and a rename: no need to leave this thread
      }
      response.file = destination;
    }
    result.keep_alive = parser.keep_alive();
    co_return result;
  }

  awaitable<void> fetch_one(const fetch_request& request, fetch_result& result, std::size_t index,
                            const fetch_options& options) {
    result.url = request.url;
    try {
      body_progress progress;
      if (options.on_progress)
        progress = [&options, index](std::uint64_t received, std::uint64_t expected) {
          options.on_progress(index, received, expected);
        };
      auto fetching = fetch(request.url, request.destination, &progress);
      result.response.emplace(co_await std::move(fetching));
    } catch (...) {
      if (is_cancellation(std::current_exception())) throw;
      result.error = std::current_exception();
    }
    if (options.on_result) options.on_result(index, result);
  }

  std::unique_ptr<connection> take_idle(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto found = idle_.find(key);
    if (found == idle_.end() || found->second.empty()) return nullptr;
    auto conn = std::move(found->second.back());
    found->second.pop_back();
    --idle_count_;
    return conn;
  }

  void give_back(const std::string& key, std::unique_ptr<connection> conn) {
    std::lock_guard lock(mutex_);
    auto& kept = idle_[key];
    if (kept.size() >= options_.max_idle_per_host || idle_count_ >= options_.max_idle) return;  // closes it
    kept.push_back(std::move(conn));
    ++idle_count_;
  }

  http_options options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::unique_ptr<connection>>> idle_;
  std::size_t idle_count_ = 0;
  std::atomic<std::size_t> connections_opened_{0};
};

}  // namespace flash
