#pragma once
// TCP for commands: connect (resolve + connect), read and write, each step under a time limit,
// as awaitables. A connection is opened through a resource_scope, which closes it when the scope
// ends; every step is cancellable (Ctrl-C), and fails with a flash::error naming the peer:
//
//   flash::resource_scope scope(&ctx.resources());
//   auto connection = co_await flash::connect_tcp(scope, "127.0.0.1", "8080", 5s);
//   co_await connection.write(boost::asio::buffer(request), 5s);
//   std::size_t n = co_await connection.read_some(boost::asio::buffer(reply), 5s);
//
// Failures: errc::network_error ("connecting to 127.0.0.1:8080: Connection refused"),
// errc::timeout ("reading from 127.0.0.1:8080 (after 5000 ms): timed out"), errc::cancelled.
// Like every Asio object, a connection is used from one executor (the I/O context, or a strand).

#include <flash/core/error.hpp>
#include <flash/exec/awaitable.hpp>
#include <flash/runtime/resource_scope.hpp>
#include <flash/runtime/timeout.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace flash {

/// How long a network step may take; zero (or less) for no limit.
using net_timeout = std::chrono::steady_clock::duration;

namespace detail {

/// "host:port", with an IPv6 address in brackets.
inline std::string authority(std::string_view host, std::string_view port) {
  if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

/// Calls `cancel()` once `limit` has passed unless destroyed first, and remembers that it did.
class io_deadline {
 public:
  template <class Executor, class Cancel>
  io_deadline(const Executor& executor, net_timeout limit, Cancel cancel) : timer_(executor) {
    if (limit <= net_timeout::zero()) return;
    timer_.expires_after(limit);
    // The timer may complete after this object is gone: the handler only touches the shared state.
    timer_.async_wait([state = state_, cancel = std::move(cancel)](boost::system::error_code ec) {
      if (ec || state->disarmed) return;
      state->expired = true;
      cancel();
    });
  }
  io_deadline(const io_deadline&) = delete;
  io_deadline& operator=(const io_deadline&) = delete;
  ~io_deadline() {
    state_->disarmed = true;
    timer_.cancel();
  }

  bool expired() const noexcept { return state_->expired; }

 private:
  struct state {
    bool expired = false;
    bool disarmed = false;
  };
  std::shared_ptr<state> state_ = std::make_shared<state>();
  boost::asio::steady_timer timer_;
};

/// How an I/O step ended.
struct io_outcome {
  boost::system::error_code error;
  std::size_t transferred = 0;
  bool timed_out = false;
};

/// Runs the Asio operation `start(token)` on `socket`, cancelling the socket's operations when
/// `limit` passes. Never throws for the operation's own failure: the outcome says what happened.
template <class Socket, class Start>
awaitable<io_outcome> timed_io(Socket& socket, net_timeout limit, Start start) {
  io_deadline deadline(socket.get_executor(), limit, [&socket] {
    boost::system::error_code ignored;
    socket.cancel(ignored);
  });
  io_outcome outcome;
  auto operation = start(boost::asio::redirect_error(boost::asio::use_awaitable, outcome.error));
  outcome.transferred = co_await std::move(operation);
  outcome.timed_out = outcome.error && deadline.expired();
  co_return outcome;
}

/// The typed error for a failed step `what` ("reading from 127.0.0.1:8080").
[[noreturn]] inline void throw_io_failure(const io_outcome& outcome, net_timeout limit, std::string what) {
  if (outcome.timed_out) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
    throw error(errc::timeout, fmt::format("{} (after {} ms)", what, ms));
  }
  if (outcome.error == boost::asio::error::operation_aborted) throw error(errc::cancelled, std::move(what));
  throw error(errc::network_error, std::move(what), outcome.error);
}

}  // namespace detail

/// A TCP connection whose socket belongs to a resource_scope (see connect_tcp).
class tcp_connection {
 public:
  using socket_type = boost::asio::ip::tcp::socket;

  tcp_connection(socket_type& socket, std::string host, std::string port)
      : socket_(&socket), host_(std::move(host)), port_(std::move(port)),
        peer_(detail::authority(host_, port_)) {}

  socket_type& socket() const noexcept { return *socket_; }
  const std::string& host() const noexcept { return host_; }
  const std::string& port() const noexcept { return port_; }
  /// "host:port", as errors name it.
  const std::string& peer() const noexcept { return peer_; }

  /// Reads what has arrived, at most `buffer.size()` bytes, waiting up to `timeout` for some;
  /// 0 when the peer has closed the connection.
  awaitable<std::size_t> read_some(boost::asio::mutable_buffer buffer, net_timeout timeout = {}) {
    auto start = [this, buffer](auto token) { return socket_->async_read_some(buffer, std::move(token)); };
    auto reading = detail::timed_io(*socket_, timeout, start);
    const auto outcome = co_await std::move(reading);
    if (outcome.error == boost::asio::error::eof) co_return 0;
    if (outcome.error) detail::throw_io_failure(outcome, timeout, "reading from " + peer_);
    co_return outcome.transferred;
  }

  /// Fills `buffer`, waiting up to `timeout` in all; the peer closing first is a network_error.
  awaitable<void> read(boost::asio::mutable_buffer buffer, net_timeout timeout = {}) {
    auto start = [this, buffer](auto token) { return boost::asio::async_read(*socket_, buffer, std::move(token)); };
    auto reading = detail::timed_io(*socket_, timeout, start);
    const auto outcome = co_await std::move(reading);
    if (outcome.error) detail::throw_io_failure(outcome, timeout, "reading from " + peer_);
  }

  /// Writes all of `buffer`, waiting up to `timeout` in all.
  awaitable<void> write(boost::asio::const_buffer buffer, net_timeout timeout = {}) {
    auto start = [this, buffer](auto token) { return boost::asio::async_write(*socket_, buffer, std::move(token)); };
    auto writing = detail::timed_io(*socket_, timeout, start);
    const auto outcome = co_await std::move(writing);
    if (outcome.error) detail::throw_io_failure(outcome, timeout, "writing to " + peer_);
  }

 private:
  socket_type* socket_;
  std::string host_;
  std::string port_;
  std::string peer_;
};

/// Resolves `host` and connects to `port` within `timeout`; the socket is closed when `scope`
/// ends. Throws flash::error: network_error or timeout naming "connecting to host:port", or
/// cancelled. A lookup of a host name already under way (getaddrinfo) runs to its end before a
/// timeout or cancellation is reported; numeric addresses need none.
inline awaitable<tcp_connection> connect_tcp(resource_scope& scope, std::string host, std::string port,
                                             net_timeout timeout = {}) {
  const std::string what = "connecting to " + detail::authority(host, port);
  boost::asio::ip::tcp::socket* socket = nullptr;
  try {
    auto connecting = scope.connect_tcp(host, port);
    if (timeout > net_timeout::zero()) {
      auto limited = with_timeout(std::move(connecting), timeout, what);
      socket = co_await std::move(limited);
    } else {
      socket = co_await std::move(connecting);
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() == boost::asio::error::operation_aborted) throw error(errc::cancelled, what);
    throw error(errc::network_error, what, e.code());
  }
  co_return tcp_connection(*socket, std::move(host), std::move(port));
}

}  // namespace flash
