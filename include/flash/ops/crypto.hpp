#pragma once
// Cryptographic operations on files, with OpenSSL's EVP interface: hashing (SHA-256, SHA-512,
// BLAKE2b-512) of one file, or of many in parallel on the pool; and passphrase encryption with
// AES-256-GCM. Only programs that include this header need OpenSSL (link flash::crypto).
//
//   std::string hex = flash::hash_file("disk.img", flash::hash_algorithm::sha256);
//   auto hashing = flash::hash_files(ctx, paths, flash::hash_algorithm::blake2b512);
//   std::vector<flash::hash_result> results = co_await std::move(hashing);   // in argument order
//
//   flash::encrypt_file("notes.txt", "notes.txt.enc", passphrase);
//   auto decrypting = flash::async_decrypt_file(ctx, "notes.txt.enc", "notes.txt", passphrase);
//   co_await std::move(decrypting);                                          // on the pool
//
// An encrypted file is a 44-byte header (magic "FLASHENC", format version, cipher and KDF ids,
// PBKDF2 iterations, 16-byte salt, 12-byte nonce), the ciphertext (as long as the plaintext) and
// the 16-byte GCM tag. The header is authenticated as additional data. Outputs are written to a
// temporary file beside the destination, renamed into place only when everything succeeded (for
// decryption: once the tag has been verified).

#include <flash/cli/context.hpp>
#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/ops/cancellable_read.hpp>
#include <flash/ops/mapped_file.hpp>
#include <flash/ops/sha256_lanes.hpp>
#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/offload.hpp>
#include <flash/runtime/resource_scope.hpp>
#include <flash/runtime/task_group.hpp>

#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/occupancy.hpp>
#include <boost/asio/query.hpp>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace flash {

// --- hashing ---------------------------------------------------------------------------------

enum class hash_algorithm { sha256, sha512, blake2b512 };

/// "sha256", "sha512", "blake2b" or "blake2b512" (as b2sum, BLAKE2b with a 512-bit digest).
inline std::optional<hash_algorithm> parse_hash_algorithm(std::string_view name) noexcept {
  if (name == "sha256") return hash_algorithm::sha256;
  if (name == "sha512") return hash_algorithm::sha512;
  if (name == "blake2b" || name == "blake2b512") return hash_algorithm::blake2b512;
  return std::nullopt;
}

constexpr std::string_view to_string(hash_algorithm algorithm) noexcept {
  switch (algorithm) {
    case hash_algorithm::sha256: return "sha256";
    case hash_algorithm::sha512: return "sha512";
    case hash_algorithm::blake2b512: return "blake2b512";
  }
  return "unknown";
}

/// Bytes in a digest (its hex form is twice as long).
constexpr std::size_t digest_size(hash_algorithm algorithm) noexcept {
  return algorithm == hash_algorithm::sha256 ? 32 : 64;
}

/// Told how many more bytes were processed; hash_files calls it from the pool's threads at once.
using progress_callback = std::function<void(std::uint64_t bytes)>;

namespace detail {

inline constexpr std::size_t crypto_chunk_size = std::size_t{1} << 20;

// Failures inside OpenSSL other than a wrong passphrase: out of memory, no randomness, or an
// algorithm the provider lacks.
[[noreturn]] inline void throw_openssl_error(std::string what) {
  char text[256] = "unknown OpenSSL error";
  if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  throw error(errc::resource_exhausted, fmt::format("{} ({})", what, text));
}

inline const EVP_MD* message_digest(hash_algorithm algorithm) noexcept {
  switch (algorithm) {
    case hash_algorithm::sha256: return EVP_sha256();
    case hash_algorithm::sha512: return EVP_sha512();
    case hash_algorithm::blake2b512: return EVP_blake2b512();
  }
  return nullptr;
}

struct md_context_deleter {
  void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};

struct cipher_context_deleter {
  void operator()(EVP_CIPHER_CTX* context) const noexcept { EVP_CIPHER_CTX_free(context); }
};

inline std::string to_hex(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = digits[bytes[i] >> 4];
    hex[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return hex;
}

}  // namespace detail

/// A streaming hash over an EVP_MD_CTX. finish() returns the digest and starts over, so one
/// hasher can hash many inputs. A moved-from hasher may only be destroyed or assigned to.
class hasher {
 public:
  explicit hasher(hash_algorithm algorithm) : algorithm_(algorithm), context_(EVP_MD_CTX_new()) {
    if (!context_) detail::throw_openssl_error("creating a hash context");
    start();
  }

  hash_algorithm algorithm() const noexcept { return algorithm_; }

  void update(std::span<const std::byte> data) {
    if (EVP_DigestUpdate(context_.get(), data.data(), data.size()) != 1)
      detail::throw_openssl_error(fmt::format("hashing with {}", to_string(algorithm_)));
  }
  void update(std::string_view data) { update(std::as_bytes(std::span(data.data(), data.size()))); }

  /// The digest of everything given since the start; the hasher then starts over.
  std::vector<unsigned char> finish() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(context_.get(), digest, &size) != 1)
      detail::throw_openssl_error(fmt::format("finishing {}", to_string(algorithm_)));
    start();
    return {digest, digest + size};
  }

  /// The digest as lowercase hex, as sha256sum prints it.
  std::string finish_hex() { return detail::to_hex(finish()); }

 private:
  void start() {
    if (EVP_DigestInit_ex(context_.get(), detail::message_digest(algorithm_), nullptr) != 1)
      detail::throw_openssl_error(fmt::format("starting {}", to_string(algorithm_)));
  }

  hash_algorithm algorithm_;
  std::unique_ptr<EVP_MD_CTX, detail::md_context_deleter> context_;
};

namespace detail {

// A chunk buffer from a memory resource (the command's, so that it is counted); wiped before it
// is freed when it held secrets.
class scratch_buffer {
 public:
  scratch_buffer(std::size_t size, std::pmr::memory_resource* memory, bool wipe)
      : memory_(memory ? memory : std::pmr::new_delete_resource()),
        size_(size),
        wipe_(wipe),
        data_(static_cast<unsigned char*>(memory_->allocate(size))) {}
  scratch_buffer(const scratch_buffer&) = delete;
  scratch_buffer& operator=(const scratch_buffer&) = delete;
  ~scratch_buffer() {
    if (wipe_) OPENSSL_cleanse(data_, size_);
    memory_->deallocate(data_, size_);
  }

  unsigned char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  std::pmr::memory_resource* memory_;
  std::size_t size_;
  bool wipe_;
  unsigned char* data_;
};

[[noreturn]] inline void throw_system_error(int code, std::string what) {
  throw error(errc::filesystem_error, std::move(what), std::error_code(code, std::generic_category()));
}

// Opens `path` to be read by read_some. A FIFO that no process writes to yet would make open(2)
// wait for a writer, which a cancellation cannot interrupt: with a token that can be cancelled,
// it is opened without blocking and read_some waits instead (see cancellable_read.hpp). Without
// one, reads block, and a FIFO must then be opened blocking: a read from one with no writer yet
// would end at once.
inline int open_for_reading(resource_scope& scope, const std::filesystem::path& path, const cancellation_token& token) {
  return scope.open_file(path, O_RDONLY | (token.can_be_cancelled() ? O_NONBLOCK : 0)).native_handle();
}

// `doing` names the work for the cancellation error ("hashing", "encrypting").
inline void throw_if_cancelled(const cancellation_token& token, const std::filesystem::path& path,
                               std::string_view doing) {
  if (token.is_cancelled()) throw error(errc::cancelled, fmt::format("{} {}", doing, path.string()));
}

// Reads up to `size` bytes, 0 at the end of the input. An input that may block (may_wait_forever)
// is read in polls that see the token; a cancellation is thrown as throw_if_cancelled does.
inline std::size_t read_some(int fd, bool blocking_input, unsigned char* data, std::size_t size,
                             const cancellation_token& token, const std::filesystem::path& path,
                             std::string_view doing) {
  throw_if_cancelled(token, path, doing);
  ssize_t got = -1;
  if (blocking_input && token.can_be_cancelled()) {
    got = read_unless_cancelled(fd, data, size, token);
    if (got < 0 && errno == ECANCELED) throw error(errc::cancelled, fmt::format("{} {}", doing, path.string()));
  } else {
    do {
      got = ::read(fd, data, size);
    } while (got < 0 && errno == EINTR);
  }
  if (got < 0) throw_system_error(errno, "reading " + path.string());
  return static_cast<std::size_t>(got);
}

// Reads until `size` bytes or the end of the input; returns how many it got.
inline std::size_t read_full(int fd, bool blocking_input, unsigned char* data, std::size_t size,
                             const cancellation_token& token, const std::filesystem::path& path,
                             std::string_view doing) {
  std::size_t total = 0;
  while (total < size) {
    const std::size_t got = read_some(fd, blocking_input, data + total, size - total, token, path, doing);
    if (got == 0) break;
    total += got;
  }
  return total;
}

inline void write_all(int fd, const unsigned char* data, std::size_t size,
                      const std::filesystem::path& destination) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_system_error(errno, "writing " + destination.string());
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

inline std::string hash_path(const std::filesystem::path& path, hash_algorithm algorithm,
                             const cancellation_token& token, const progress_callback& on_progress,
                             std::pmr::memory_resource* memory, resource_tracker* resources) {
  resource_scope scope(resources);
  const int fd = open_for_reading(scope, path, token);
  const bool blocking_input = may_wait_forever(fd);
  if (!blocking_input) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  scratch_buffer buffer(crypto_chunk_size, memory, false);
  hasher digest(algorithm);
  for (;;) {
    const std::size_t got = read_some(fd, blocking_input, buffer.data(), buffer.size(), token, path, "hashing");
    if (got == 0) break;
    digest.update(std::as_bytes(std::span(buffer.data(), got)));
    if (on_progress) on_progress(got);
  }
  return digest.finish_hex();
}

}  // namespace detail

/// The digest of the file at `path` as lowercase hex, read in 1 MiB chunks. Throws
/// flash::error(filesystem_error) naming the path with the system's reason ("opening x: No such
/// file or directory", "reading d: Is a directory"), or errc::cancelled once `token` is.
inline std::string hash_file(const std::filesystem::path& path, hash_algorithm algorithm,
                             const cancellation_token& token = {},
                             const progress_callback& on_progress = {}) {
  return detail::hash_path(path, algorithm, token, on_progress, nullptr, nullptr);
}

/// One file's outcome in hash_files.
struct hash_result {
  std::filesystem::path path;
  std::string digest;      ///< lowercase hex; empty when the file could not be hashed
  std::error_code error;   ///< why not: the system's error (ENOENT, EISDIR, EACCES...) or a flash::errc
  std::string reason;      ///< the same, readable: "No such file or directory"

  bool ok() const noexcept { return !error; }
};

struct hash_files_options {
  /// Files hashed at once. 0: no limit but the pool's threads (with a context: its max_concurrency()).
  /// A thread hashes up to hash_lanes(algorithm) files at once, so a limit under that many times
  /// the threads leaves some of each thread's lanes unused.
  std::size_t max_concurrency = 0;
  /// The first failure cancels the other files and is thrown; otherwise every file gets its result.
  bool fail_fast = false;
  /// Bytes hashed, reported from the pool's threads: must be safe to call concurrently.
  progress_callback on_progress{};
  /// Each file's result as soon as it is known (in completion order), on the caller's executor.
  std::function<void(std::size_t index, const hash_result&)> on_result{};
  cancellation_token token{};                   ///< cancels the hashing, as cancelling the caller does
  task_observer* observer = nullptr;            ///< counts the tasks (a context's metrics)
  std::pmr::memory_resource* memory = nullptr;  ///< for the 1 MiB read buffers
  resource_tracker* resources = nullptr;        ///< counts the open files
  /// With SHA-256 in lanes, hash a file of 256 KiB or more through a read-only mapping of it
  /// (flash/ops/mapped_file.hpp) instead of copying it out of the page cache with read(2). Off:
  /// for a host where touching mapped pages costs more than the copy (docs/ops/crypto.md).
  bool map_files = true;
};

namespace detail {

inline void describe_failure(const std::exception_ptr& failure, hash_result& result) {
  try {
    std::rethrow_exception(failure);
  } catch (const error& e) {
    result.error = e.cause() ? e.cause() : e.code();
    result.reason = e.cause() ? e.cause().message() : e.what();
  } catch (const std::system_error& e) {
    result.error = e.code();
    result.reason = e.code().message();
  } catch (const std::exception& e) {
    result.error = make_error_code(errc::filesystem_error);
    result.reason = e.what();
  } catch (...) {
    result.error = make_error_code(errc::filesystem_error);
    result.reason = "unknown error";
  }
}

// Records how file `index` went and tells options.on_result.
inline void report(std::vector<hash_result>& results, std::size_t index, const std::exception_ptr& failure,
                   const hash_files_options& options) {
  if (failure) describe_failure(failure, results[index]);
  if (options.on_result) options.on_result(index, results[index]);
}

template <class PoolExecutor>
awaitable<void> hash_one(PoolExecutor pool, std::vector<hash_result>& results, std::size_t index,
                         hash_algorithm algorithm, const hash_files_options& options) {
  hash_result& result = results[index];
  std::exception_ptr failure;
  try {
    auto job = [path = result.path, algorithm, &options](const cancellation_token& token) {
      return hash_path(path, algorithm, token, options.on_progress, options.memory, options.resources);
    };
    result.digest = co_await offload(pool, std::move(job));
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure && is_cancellation(failure)) std::rethrow_exception(failure);
  report(results, index, failure, options);
  if (failure && options.fail_fast) std::rethrow_exception(failure);
}

// --- SHA-256 in lanes: a thread hashes up to four files at once (see sha256_lanes.hpp) ---------

inline constexpr std::size_t lane_chunk_size = std::size_t{256} << 10;
// How much of a mapped file a lane keeps in the process's resident memory behind it.
inline constexpr std::size_t mapped_resident_limit = std::size_t{4} << 20;
// read_some's blocking_input: a regular file's reads end at once, with data or at its end.
inline constexpr bool regular_file_reads_never_wait = false;

// How hash_files shares `files` out with SHA-256 lanes: threads first, then up to four files a
// thread, never more files at once than `max_concurrency` (0: no limit).
struct lane_layout {
  std::size_t workers = 0;
  std::size_t lanes = 1;
};

inline lane_layout plan_lanes(std::size_t files, std::size_t max_concurrency, std::size_t threads) {
  if (files == 0) return {};
  const std::size_t at_once = max_concurrency ? std::min(max_concurrency, files) : files;
  const std::size_t workers = std::max<std::size_t>(1, std::min(threads, at_once));
  // Rounded down: a worker fills its lanes before the next claims a file, so a rounded-up share
  // would leave the last threads without any.
  return {workers, std::clamp<std::size_t>(at_once / workers, 1, sha256_max_lanes)};
}

template <class Executor>
std::size_t threads_of(const Executor& executor) {
  if constexpr (boost::asio::can_query_v<const Executor&, boost::asio::execution::occupancy_t>)
    return std::max<std::size_t>(1, boost::asio::query(executor, boost::asio::execution::occupancy));
  else
    return std::max(1u, std::thread::hardware_concurrency());
}

// One regular file in a lane: its descriptor, the bytes at hand and not yet hashed, and the
// hash so far. A file of a chunk or more is hashed where the page cache holds it, through a
// mapping (data, begin and end are then offsets in the file), a chunk populated at a time;
// otherwise, or when the mapping fails, it is read into the lane's part of the worker's buffer.
struct lane_file {
  std::size_t index = 0;
  std::optional<resource_scope> scope;
  int fd = -1;
  unsigned char* buffer = nullptr;  // the lane's lane_chunk_size bytes of the worker's buffer
  std::optional<mapped_file> mapping;
  std::size_t released = 0;  // the mapping's pages before this were given back
  const unsigned char* data = nullptr;  // buffer, or the mapping's first byte
  std::size_t begin = 0, end = 0;
  sha256_state state;

  bool busy() const noexcept { return scope.has_value(); }
  std::size_t pending() const noexcept { return end - begin; }
  void release() noexcept {
    mapping.reset();
    scope.reset();
  }
};

// A finished file: its digest, or why it has none; or (alone) a file to hash on its own.
struct lane_outcome {
  std::size_t index;
  std::string digest;
  std::exception_ptr failure;
  bool alone = false;
};

// The state of one hash_files worker: its lanes, which outlive each turn on the pool. A turn
// (run) hashes until a file is finished, then returns it, so results are reported as they come;
// the files are taken in argument order from `next`, which the workers share. Lanes advance
// together, so a pipe or FIFO, whose data may be slow to come or never come, would hold back
// the files beside it: what is not a regular file is handed back to be hashed alone.
class sha256_lane_worker {
 public:
  sha256_lane_worker(const std::vector<hash_result>& files, std::atomic<std::size_t>& next, std::size_t lanes,
                     const hash_files_options& options)
      : files_(files),
        next_(next),
        options_(options),
        buffer_(lanes * lane_chunk_size, options.memory, false),
        lanes_(lanes) {
    for (std::size_t i = 0; i < lanes; ++i) lanes_[i].buffer = buffer_.data() + i * lane_chunk_size;
  }

  bool done() const noexcept { return done_; }

  std::vector<lane_outcome> run(const cancellation_token& token) {
    // A cancellation met after some files of the turn were finished is thrown at the next turn,
    // once they have been reported.
    if (interrupted_) std::rethrow_exception(std::exchange(interrupted_, nullptr));
    std::vector<lane_outcome> finished;
    try {
      while (finished.empty()) {
        fill_free_lanes(token, finished);
        if (std::none_of(lanes_.begin(), lanes_.end(), [](const lane_file& l) { return l.busy(); })) {
          done_ = true;  // every file is claimed: fill_free_lanes stops only then or with no lane free
          break;
        }
        if (!finished.empty()) break;
        for (lane_file& lane : lanes_)
          if (lane.busy() && lane.pending() < sha256_block_size) read_or_finish(lane, token, finished);
        compress_busy_lanes();
      }
    } catch (...) {
      if (finished.empty()) throw;
      interrupted_ = std::current_exception();
    }
    return finished;
  }

 private:
  void fill_free_lanes(const cancellation_token& token, std::vector<lane_outcome>& finished) {
    for (lane_file& lane : lanes_) {
      while (!lane.busy()) {
        const std::size_t index = next_.fetch_add(1, std::memory_order_relaxed);
        if (index >= files_.size()) return;
        struct stat status {};
        if (::stat(files_[index].path.c_str(), &status) == 0 && !S_ISREG(status.st_mode)) {
          finished.push_back({index, {}, nullptr, true});
          continue;
        }
        try {
          open(lane, index, static_cast<std::size_t>(status.st_size), token);
        } catch (...) {
          lane.release();
          finished.push_back({index, {}, std::current_exception()});
        }
      }
    }
  }

  // `size` is what stat said before the open: a mapping that turns out too long or too short
  // for the file hands over to reads, as for a file that changes while it is hashed.
  void open(lane_file& lane, std::size_t index, std::size_t size, const cancellation_token& token) {
    lane.index = index;
    lane.scope.emplace(options_.resources);
    lane.fd = open_for_reading(*lane.scope, files_[index].path, token);  // stat said: a regular file
    ::posix_fadvise(lane.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    lane.begin = lane.end = lane.released = 0;
    lane.state = {};
    lane.data = lane.buffer;
    if (options_.map_files && mapped_file::populate_supported() && size >= lane_chunk_size) {
      lane.mapping.emplace(lane.fd, size);
      if (lane.mapping->valid())
        lane.data = lane.mapping->data();
      else
        lane.mapping.reset();
    }
  }

  // Makes the next chunk of a mapped lane's file ready to hash; false at the end of the mapping,
  // or where the file has shrunk below it: reads take over from there.
  bool map_more(lane_file& lane, const cancellation_token& token) {
    throw_if_cancelled(token, files_[lane.index].path, "hashing");
    mapped_file& mapping = *lane.mapping;
    const std::size_t chunk = std::min(lane_chunk_size, mapping.size() - lane.end);
    if (chunk == 0 || !mapping.populate(lane.end, chunk)) return false;
    lane.end += chunk;
    if (lane.begin - lane.released >= mapped_resident_limit) {
      mapping.release(lane.released, lane.begin);
      lane.released = lane.begin;
    }
    if (options_.on_progress) options_.on_progress(chunk);
    return true;
  }

  // Leaves the mapping, with the `kept` bytes before lane.end, the rest of what it held, moved
  // to the front of the buffer; returns how many of them stay: reads go on at lane.end. A file
  // now shorter than that was truncated inside a page, whose bytes past the new end the mapping
  // showed as zeros: it is hashed again from its start, with reads.
  std::size_t stop_mapping(lane_file& lane, std::size_t kept) {
    const auto& path = files_[lane.index].path;
    if (catching_sigbus([&] { std::memcpy(lane.buffer, lane.data + lane.begin, kept); })) {
      lane.end = lane.begin;  // the rest was truncated away: reads find what is left of it
      kept = 0;
    }
    struct stat status {};
    if (::fstat(lane.fd, &status) != 0) throw_system_error(errno, "reading " + path.string());
    if (static_cast<std::size_t>(status.st_size) < lane.end) {
      lane.state = {};
      lane.end = kept = 0;
    }
    if (::lseek(lane.fd, static_cast<off_t>(lane.end), SEEK_SET) < 0) throw_system_error(errno, "reading " + path.string());
    lane.mapping.reset();
    lane.data = lane.buffer;
    return kept;
  }

  // Reads more of a lane's file, which has less than a block left to hash; at the end of the
  // file, that rest is padded, and the lane is free again.
  void read_or_finish(lane_file& lane, const cancellation_token& token, std::vector<lane_outcome>& finished) {
    try {
      if (lane.mapping && map_more(lane, token)) return;
      // What is left is under a block (a read ends at the end of the file or of the buffer, or
      // short if a signal cut it): moved to the front, the read appends to it.
      std::size_t kept = lane.pending();
      if (lane.mapping)
        kept = stop_mapping(lane, kept);
      else
        std::memmove(lane.buffer, lane.buffer + lane.begin, kept);
      const std::size_t got = read_some(lane.fd, regular_file_reads_never_wait, lane.buffer + kept,
                                        lane_chunk_size - kept, token, files_[lane.index].path, "hashing");
      lane.begin = 0;
      lane.end = kept + got;
      if (got && options_.on_progress) options_.on_progress(got);
      if (got == 0) {
        const auto digest = sha256_finish(lane.state, std::span(lane.data + lane.begin, lane.pending()));
        finished.push_back({lane.index, to_hex(digest), nullptr});
        lane.release();
      }
    } catch (...) {
      std::exception_ptr failure = std::current_exception();
      if (is_cancellation(failure)) throw;
      finished.push_back({lane.index, {}, std::move(failure)});
      lane.release();
    }
  }

  // A file truncated by another process while it is hashed through its mapping raises SIGBUS
  // where the lost pages are touched: the compression, of copies of the states, is then dropped,
  // and the lanes whose mapping was touched go on with reads from where they were.
  void compress_busy_lanes() noexcept {
    sha256_state* states[sha256_max_lanes];
    const unsigned char* data[sha256_max_lanes];
    std::size_t count = 0, blocks = SIZE_MAX;
    bool mapped = false;
    for (lane_file& lane : lanes_) {
      if (!lane.busy()) continue;
      states[count] = &lane.state;
      data[count++] = lane.data + lane.begin;
      blocks = std::min(blocks, lane.pending() / sha256_block_size);
      mapped = mapped || lane.mapping;
    }
    if (count == 0 || blocks == 0) return;
    if (!mapped) {
      sha256_compress(std::span(states, count), std::span(data, count), blocks);
    } else {
      sha256_state copies[sha256_max_lanes];
      sha256_state* copy_of[sha256_max_lanes];
      for (std::size_t i = 0; i < count; ++i) copies[i] = *states[i], copy_of[i] = &copies[i];
      const void* fault = catching_sigbus(
          [&] { sha256_compress(std::span(copy_of, count), std::span(data, count), blocks); });
      if (fault) {
        for (lane_file& lane : lanes_)
          if (lane.busy() && lane.mapping && lane.mapping->contains(fault)) lane.end = lane.begin;
        return;
      }
      for (std::size_t i = 0; i < count; ++i) *states[i] = copies[i];
    }
    for (lane_file& lane : lanes_)
      if (lane.busy()) lane.begin += blocks * sha256_block_size;
  }

  const std::vector<hash_result>& files_;
  std::atomic<std::size_t>& next_;
  const hash_files_options& options_;
  scratch_buffer buffer_;
  std::vector<lane_file> lanes_;
  std::exception_ptr interrupted_;
  bool done_ = false;
};

// One worker of hash_files: its turns on the pool, and what they finished reported here (all of
// a turn's, before its first failure is thrown with fail_fast). A file that is not a regular
// file becomes a child of the group of its own.
template <class PoolExecutor>
awaitable<void> hash_in_lanes(PoolExecutor pool, task_group& group, std::vector<hash_result>& results,
                              std::atomic<std::size_t>& next, std::size_t lanes, const hash_files_options& options) {
  sha256_lane_worker worker(results, next, lanes, options);
  while (!worker.done()) {
    auto turn = [&worker](const cancellation_token& token) { return worker.run(token); };
    std::vector<lane_outcome> outcomes = co_await offload(pool, std::move(turn));
    std::exception_ptr first_failure;
    for (lane_outcome& outcome : outcomes) {
      if (outcome.alone) {
        group.spawn(hash_one(pool, results, outcome.index, hash_algorithm::sha256, options));
        continue;
      }
      if (!outcome.failure) results[outcome.index].digest = std::move(outcome.digest);
      report(results, outcome.index, outcome.failure, options);
      if (!first_failure) first_failure = outcome.failure;
    }
    if (first_failure && options.fail_fast) std::rethrow_exception(first_failure);
  }
}

}  // namespace detail

/// How many files one thread hashes at once with `algorithm` on this CPU: sha256_max_lanes for
/// SHA-256 where the CPU has the SHA extensions (sha256_lanes.hpp), else 1. hash_files with
/// max_concurrency = threads * hash_lanes(algorithm) keeps every thread's lanes full.
inline std::size_t hash_lanes(hash_algorithm algorithm) noexcept {
  return algorithm == hash_algorithm::sha256 && sha256_lanes_supported() ? sha256_max_lanes : 1;
}

/// Hashes the files in parallel on `pool` (flash::offload), at most options.max_concurrency at
/// once, and returns a result per file in the order of `paths`: the digest, or why the file could
/// not be hashed; one bad file does not stop the others unless options.fail_fast. Cancelling the
/// caller (or options.token) stops the work still queued or running, waits for it, and throws.
template <class PoolExecutor>
  requires boost::asio::execution::is_executor<PoolExecutor>::value
awaitable<std::vector<hash_result>> hash_files(PoolExecutor pool, std::vector<std::filesystem::path> paths,
                                               hash_algorithm algorithm, hash_files_options options = {}) {
  std::vector<hash_result> results(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) results[i].path = std::move(paths[i]);
  const bool in_lanes = hash_lanes(algorithm) > 1;
  const detail::lane_layout layout = detail::plan_lanes(results.size(), options.max_concurrency, detail::threads_of(pool));
  std::atomic<std::size_t> next_file{0};
  auto body = [&](task_group& group) -> awaitable<void> {
    if (in_lanes) {
      for (std::size_t i = 0; i < layout.workers; ++i)
        group.spawn(detail::hash_in_lanes(pool, group, results, next_file, layout.lanes, options));
    } else {
      for (std::size_t i = 0; i < results.size(); ++i)
        group.spawn(detail::hash_one(pool, results, i, algorithm, options));
    }
    co_return;
  };
  const task_group_options group_options{
      .on_failure = options.fail_fast ? failure_policy::cancel_siblings : failure_policy::keep_going,
      .max_concurrency = in_lanes ? 0 : options.max_concurrency};
  co_await with_task_group(body, group_options, options.observer, options.token);
  co_return results;
}

/// The same on the command's pool, counted in its metrics, memory and resources, cancelled with
/// the command, and by default at most ctx.max_concurrency() files at once.
inline awaitable<std::vector<hash_result>> hash_files(context& ctx, std::vector<std::filesystem::path> paths,
                                                      hash_algorithm algorithm, hash_files_options options = {}) {
  if (options.max_concurrency == 0) options.max_concurrency = ctx.max_concurrency();
  if (!options.token.can_be_cancelled()) options.token = ctx.token();
  if (!options.observer) options.observer = &ctx.metrics();
  if (!options.memory) options.memory = ctx.memory();
  if (!options.resources) options.resources = &ctx.resources();
  return hash_files(ctx.pool().get_executor(), std::move(paths), algorithm, std::move(options));
}

// --- encryption ------------------------------------------------------------------------------

/// PBKDF2-HMAC-SHA256 rounds used when encrypting (OWASP's 2023 advice), and the fewest accepted.
inline constexpr std::uint32_t default_kdf_iterations = 600'000;
inline constexpr std::uint32_t min_kdf_iterations = 200'000;

/// Bytes an encrypted file has beyond its plaintext: the header and the tag.
inline constexpr std::size_t encryption_overhead = 44 + 16;

struct crypt_options {
  std::uint32_t kdf_iterations = default_kdf_iterations;  ///< when encrypting; decrypting reads the header's
  cancellation_token token{};
  progress_callback on_progress{};  ///< bytes of input processed
  resource_tracker* resources = nullptr;
  std::pmr::memory_resource* memory = nullptr;  ///< for the chunk buffers
};

namespace detail {

inline constexpr unsigned char encrypted_magic[8] = {'F', 'L', 'A', 'S', 'H', 'E', 'N', 'C'};
inline constexpr unsigned char encrypted_format_version = 1;
inline constexpr unsigned char cipher_aes_256_gcm = 1;
inline constexpr unsigned char kdf_pbkdf2_hmac_sha256 = 1;
inline constexpr std::size_t salt_size = 16;
inline constexpr std::size_t nonce_size = 12;
inline constexpr std::size_t tag_size = 16;
inline constexpr std::size_t key_size = 32;
inline constexpr std::size_t header_size = sizeof encrypted_magic + 4 + 4 + salt_size + nonce_size;
static_assert(header_size + tag_size == encryption_overhead);
// A tampered header could ask for hours of key derivation before the tag fails; refuse that.
inline constexpr std::uint32_t max_kdf_iterations = 10'000'000;

struct encrypted_header {
  std::uint32_t iterations = 0;
  std::array<unsigned char, salt_size> salt{};
  std::array<unsigned char, nonce_size> nonce{};

  // magic | version | cipher | kdf | 0 | iterations (big-endian u32) | salt | nonce
  std::array<unsigned char, header_size> serialize() const {
    std::array<unsigned char, header_size> bytes{};
    std::memcpy(bytes.data(), encrypted_magic, sizeof encrypted_magic);
    bytes[8] = encrypted_format_version;
    bytes[9] = cipher_aes_256_gcm;
    bytes[10] = kdf_pbkdf2_hmac_sha256;
    bytes[11] = 0;
    for (int i = 0; i < 4; ++i) bytes[12 + i] = static_cast<unsigned char>(iterations >> (24 - 8 * i));
    std::memcpy(bytes.data() + 16, salt.data(), salt_size);
    std::memcpy(bytes.data() + 16 + salt_size, nonce.data(), nonce_size);
    return bytes;
  }
};

[[noreturn]] inline void throw_corrupted(const std::filesystem::path& source) {
  throw error(errc::validation_error, source.string() + ": wrong passphrase or corrupted file");
}

inline encrypted_header parse_header(const std::array<unsigned char, header_size>& bytes, std::size_t got,
                                     const std::filesystem::path& source) {
  if (got < sizeof encrypted_magic || std::memcmp(bytes.data(), encrypted_magic, sizeof encrypted_magic) != 0)
    throw error(errc::validation_error, source.string() + ": not an encrypted file (no FLASHENC header)");
  if (got < header_size)
    throw error(errc::validation_error,
                fmt::format("{}: truncated: {} bytes, shorter than the {}-byte header of an encrypted file",
                            source.string(), got, header_size));
  if (bytes[8] != encrypted_format_version)
    throw error(errc::validation_error,
                fmt::format("{}: encrypted in format version {}, which this version cannot read",
                            source.string(), bytes[8]));
  encrypted_header header;
  for (int i = 0; i < 4; ++i) header.iterations = (header.iterations << 8) | bytes[12 + i];
  if (bytes[9] != cipher_aes_256_gcm || bytes[10] != kdf_pbkdf2_hmac_sha256 || bytes[11] != 0 ||
      header.iterations == 0 || header.iterations > max_kdf_iterations)
    throw_corrupted(source);
  std::memcpy(header.salt.data(), bytes.data() + 16, salt_size);
  std::memcpy(header.nonce.data(), bytes.data() + 16 + salt_size, nonce_size);
  return header;
}

// 256 bits derived from the passphrase; wiped when it goes.
struct secret_key {
  std::array<unsigned char, key_size> bytes{};
  secret_key() = default;
  secret_key(const secret_key&) = delete;
  secret_key& operator=(const secret_key&) = delete;
  ~secret_key() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

inline void derive_key(std::string_view passphrase, const encrypted_header& header, secret_key& key) {
  if (passphrase.size() > INT_MAX ||
      PKCS5_PBKDF2_HMAC(passphrase.data(), static_cast<int>(passphrase.size()), header.salt.data(),
                        static_cast<int>(salt_size), static_cast<int>(header.iterations), EVP_sha256(),
                        static_cast<int>(key_size), key.bytes.data()) != 1)
    throw_openssl_error("deriving the key from the passphrase");
}

inline void random_bytes(std::span<unsigned char> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) throw_openssl_error("generating random bytes");
}

using cipher_context = std::unique_ptr<EVP_CIPHER_CTX, cipher_context_deleter>;

// AES-256-GCM keyed and with the header fed in as additional authenticated data.
inline cipher_context start_gcm(bool encrypting, const secret_key& key, const encrypted_header& header,
                                const std::array<unsigned char, header_size>& header_bytes) {
  cipher_context context(EVP_CIPHER_CTX_new());
  const int enc = encrypting ? 1 : 0;
  int ignored = 0;
  if (!context || EVP_CipherInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_size), nullptr) != 1 ||
      EVP_CipherInit_ex(context.get(), nullptr, nullptr, key.bytes.data(), header.nonce.data(), enc) != 1 ||
      EVP_CipherUpdate(context.get(), nullptr, &ignored, header_bytes.data(), static_cast<int>(header_size)) != 1)
    throw_openssl_error("starting AES-256-GCM");
  return context;
}

inline void cipher_update(EVP_CIPHER_CTX* context, const unsigned char* in, std::size_t size, unsigned char* out,
                          int& produced) {
  if (EVP_CipherUpdate(context, out, &produced, in, static_cast<int>(size)) != 1)
    throw_openssl_error("running AES-256-GCM");
}

// Refuses to write over the source (the same file under any name), into a directory, or over
// anything but a regular file: renaming the temporary onto a device or a pipe (/dev/stdout)
// would replace it rather than write to it.
inline void check_destination(int source_fd, const std::filesystem::path& destination) {
  struct stat source {};
  struct stat target {};
  if (::stat(destination.c_str(), &target) != 0) return;
  if (::fstat(source_fd, &source) == 0 && source.st_dev == target.st_dev && source.st_ino == target.st_ino)
    throw error(errc::validation_error,
                destination.string() + ": is the source file; refusing to overwrite it");
  check_writable_destination(destination);
}

inline void check_passphrase(std::string_view passphrase) {
  if (passphrase.empty()) throw error(errc::validation_error, "the passphrase is empty");
}

}  // namespace detail

/// Encrypts `source` into `destination` with AES-256-GCM under a key derived from `passphrase`
/// (PBKDF2-HMAC-SHA256, random salt and nonce), streaming in 1 MiB chunks. The output is written
/// beside the destination with mode 0600 and renamed into place at the end; on any failure,
/// including cancellation, nothing is left behind. Throws flash::error: filesystem_error naming
/// the path; validation_error for an empty passphrase, too few iterations, or a destination that
/// is the source itself or exists and is not a regular file (a device, a pipe).
inline void encrypt_file(const std::filesystem::path& source, const std::filesystem::path& destination,
                         std::string_view passphrase, const crypt_options& options = {}) {
  detail::check_passphrase(passphrase);
  if (options.kdf_iterations < min_kdf_iterations || options.kdf_iterations > detail::max_kdf_iterations)
    throw error(errc::validation_error,
                fmt::format("{} PBKDF2 iterations: between {} and {} are needed", options.kdf_iterations,
                            min_kdf_iterations, detail::max_kdf_iterations));
  resource_scope scope(options.resources);
  const int in = detail::open_for_reading(scope, source, options.token);
  detail::check_destination(in, destination);
  const bool blocking_input = may_wait_forever(in);

  detail::encrypted_header header;
  header.iterations = options.kdf_iterations;
  detail::random_bytes(header.salt);
  detail::random_bytes(header.nonce);
  const auto header_bytes = header.serialize();
  temporary_file& out = scope.create_temporary(destination, 0600);
  detail::secret_key key;
  detail::derive_key(passphrase, header, key);
  auto cipher = detail::start_gcm(true, key, header, header_bytes);
  detail::write_all(out.native_handle(), header_bytes.data(), header_bytes.size(), destination);
  detail::scratch_buffer plain(detail::crypto_chunk_size, options.memory, true);
  detail::scratch_buffer sealed(detail::crypto_chunk_size, options.memory, true);
  for (;;) {
    const std::size_t got = detail::read_some(in, blocking_input, plain.data(), plain.size(), options.token,
                                              source, "encrypting");
    if (got == 0) break;
    int produced = 0;
    detail::cipher_update(cipher.get(), plain.data(), got, sealed.data(), produced);
    detail::write_all(out.native_handle(), sealed.data(), static_cast<std::size_t>(produced), destination);
    if (options.on_progress) options.on_progress(got);
  }
  int produced = 0;
  std::array<unsigned char, detail::tag_size> tag{};
  if (EVP_CipherFinal_ex(cipher.get(), sealed.data(), &produced) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()) != 1)
    detail::throw_openssl_error("finishing AES-256-GCM");
  detail::write_all(out.native_handle(), sealed.data(), static_cast<std::size_t>(produced), destination);
  detail::write_all(out.native_handle(), tag.data(), tag.size(), destination);
  out.commit({.sync = true});
}

/// Decrypts a file written by encrypt_file. The plaintext goes to a temporary file (mode 0600)
/// beside the destination, renamed into place only once the tag has been verified: a wrong
/// passphrase, or a file tampered with or truncated anywhere, throws
/// flash::error(validation_error, "<source>: wrong passphrase or corrupted file") and leaves the
/// destination as it was.
inline void decrypt_file(const std::filesystem::path& source, const std::filesystem::path& destination,
                         std::string_view passphrase, const crypt_options& options = {}) {
  detail::check_passphrase(passphrase);
  resource_scope scope(options.resources);
  const int in = detail::open_for_reading(scope, source, options.token);
  detail::check_destination(in, destination);
  const bool blocking_input = may_wait_forever(in);

  std::array<unsigned char, detail::header_size> header_bytes{};
  const std::size_t got = detail::read_full(in, blocking_input, header_bytes.data(), header_bytes.size(),
                                            options.token, source, "decrypting");
  const auto header = detail::parse_header(header_bytes, got, source);
  temporary_file& out = scope.create_temporary(destination, 0600);
  detail::secret_key key;
  detail::derive_key(passphrase, header, key);
  auto cipher = detail::start_gcm(false, key, header, header_bytes);
  // The last tag_size bytes read so far may be the tag: they stay at the front of `sealed`.
  detail::scratch_buffer sealed(detail::crypto_chunk_size + detail::tag_size, options.memory, true);
  detail::scratch_buffer plain(detail::crypto_chunk_size, options.memory, true);
  std::size_t held = 0;
  for (;;) {
    const std::size_t read = detail::read_some(in, blocking_input, sealed.data() + held, detail::crypto_chunk_size,
                                               options.token, source, "decrypting");
    if (read == 0) break;
    held += read;
    if (held <= detail::tag_size) continue;
    const std::size_t ready = held - detail::tag_size;
    int produced = 0;
    detail::cipher_update(cipher.get(), sealed.data(), ready, plain.data(), produced);
    detail::write_all(out.native_handle(), plain.data(), static_cast<std::size_t>(produced), destination);
    std::memmove(sealed.data(), sealed.data() + ready, detail::tag_size);
    held = detail::tag_size;
    if (options.on_progress) options.on_progress(ready);
  }
  if (held < detail::tag_size) detail::throw_corrupted(source);
  int produced = 0;
  if (EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(detail::tag_size), sealed.data()) != 1)
    detail::throw_openssl_error("starting AES-256-GCM");
  if (EVP_CipherFinal_ex(cipher.get(), plain.data(), &produced) != 1) {
    ERR_clear_error();
    detail::throw_corrupted(source);
  }
  detail::write_all(out.native_handle(), plain.data(), static_cast<std::size_t>(produced), destination);
  out.commit({.sync = true});
}

namespace detail {

enum class crypt_direction { encrypt, decrypt };

template <class PoolExecutor>
awaitable<void> crypt_on_pool(PoolExecutor pool, crypt_direction direction, std::filesystem::path source,
                              std::filesystem::path destination, std::string passphrase, crypt_options options) {
  // The work stops when the caller is cancelled (offload's token) or options.token is.
  auto job = [&](const cancellation_token& caller) {
    auto either = std::make_shared<cancellation_source>(options.token);
    auto forward = caller.on_cancel([weak = std::weak_ptr(either)] {
      if (auto source = weak.lock()) source->request_cancel();
    });
    crypt_options run = options;
    run.token = either->token();
    if (direction == crypt_direction::encrypt)
      encrypt_file(source, destination, passphrase, run);
    else
      decrypt_file(source, destination, passphrase, run);
  };
  std::exception_ptr failure;
  try {
    co_await offload(pool, std::move(job));
  } catch (...) {
    failure = std::current_exception();
  }
  OPENSSL_cleanse(passphrase.data(), passphrase.size());
  if (failure) std::rethrow_exception(failure);
}

inline crypt_options with_context(context& ctx, crypt_options options) {
  if (!options.token.can_be_cancelled()) options.token = ctx.token();
  if (!options.resources) options.resources = &ctx.resources();
  if (!options.memory) options.memory = ctx.memory();
  return options;
}

}  // namespace detail

/// encrypt_file on `pool`; the caller resumes on its own executor. Cancelling the caller stops the
/// work (no output is left) and throws.
template <class PoolExecutor>
  requires boost::asio::execution::is_executor<PoolExecutor>::value
awaitable<void> async_encrypt_file(PoolExecutor pool, std::filesystem::path source, std::filesystem::path destination,
                                   std::string passphrase, crypt_options options = {}) {
  return detail::crypt_on_pool(std::move(pool), detail::crypt_direction::encrypt, std::move(source),
                               std::move(destination), std::move(passphrase), std::move(options));
}

/// decrypt_file on `pool`, in the same way.
template <class PoolExecutor>
  requires boost::asio::execution::is_executor<PoolExecutor>::value
awaitable<void> async_decrypt_file(PoolExecutor pool, std::filesystem::path source, std::filesystem::path destination,
                                   std::string passphrase, crypt_options options = {}) {
  return detail::crypt_on_pool(std::move(pool), detail::crypt_direction::decrypt, std::move(source),
                               std::move(destination), std::move(passphrase), std::move(options));
}

/// On the command's pool, cancelled with the command, counted in its resources and memory.
inline awaitable<void> async_encrypt_file(context& ctx, std::filesystem::path source,
                                          std::filesystem::path destination, std::string passphrase,
                                          crypt_options options = {}) {
  return async_encrypt_file(ctx.pool().get_executor(), std::move(source), std::move(destination),
                            std::move(passphrase), detail::with_context(ctx, std::move(options)));
}

inline awaitable<void> async_decrypt_file(context& ctx, std::filesystem::path source,
                                          std::filesystem::path destination, std::string passphrase,
                                          crypt_options options = {}) {
  return async_decrypt_file(ctx.pool().get_executor(), std::move(source), std::move(destination),
                            std::move(passphrase), detail::with_context(ctx, std::move(options)));
}

}  // namespace flash
