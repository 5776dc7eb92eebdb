#pragma once
// Completing a stored Asio handler from any thread: on its own executor, with its cancellation
// slot cleared first (slots belong to the handler's executor and are not thread-safe).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>

#include <tuple>
#include <utility>

namespace flash::detail {

/// Where a handler wants to be completed, kept beside it once its type has been erased
/// (Boost 1.81 cannot post to an erased handler's own executor).
template <class Handler>
boost::asio::any_io_executor completion_executor(const Handler& handler) {
  return boost::asio::get_associated_executor(handler, boost::asio::system_executor());
}

template <class Handler, class... Args>
void post_completion(const boost::asio::any_io_executor& executor, Handler handler, Args... args) {
  boost::asio::post(executor, [handler = std::move(handler),
                               args = std::make_tuple(std::move(args)...)]() mutable {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.clear();
    std::apply(std::move(handler), std::move(args));
  });
}

template <class Handler, class... Args>
void post_completion(Handler handler, Args... args) {
  auto executor = completion_executor(handler);
  post_completion(executor, std::move(handler), std::move(args)...);
}

}  // namespace flash::detail
