#pragma once
// The coroutine types handlers are written with.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/spawn.hpp>

namespace flash {

/// A stackless coroutine's return type: `flash::awaitable<int> run(flash::context&)`.
template <class T = void>
using awaitable = boost::asio::awaitable<T>;

/// What a green-thread handler takes to suspend: `void run(flash::context&, flash::yield_context)`.
using yield_context = boost::asio::yield_context;

}  // namespace flash
