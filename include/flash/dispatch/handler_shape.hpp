#pragma once
// What kind of function a command's handler is, as told from its signature.

namespace flash {

enum class handler_shape {
  sync,          ///< int or void (flash::context&)
  stackless,     ///< flash::awaitable<int or void> (flash::context&)
  green_thread,  ///< int or void (flash::context&, flash::yield_context)
};

}  // namespace flash
