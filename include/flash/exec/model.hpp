#pragma once
// The four execution models a command or task can run on.

#include <array>
#include <optional>
#include <string_view>

namespace flash {

enum class execution_model {
  blocking,      ///< a plain call on the calling thread
  stackless,     ///< a C++20 coroutine on the I/O context
  green_thread,  ///< a stackful coroutine (asio::spawn on Boost.Context)
  thread_pool,   ///< the work-stealing pool, for CPU-bound work
};

inline constexpr std::array<std::string_view, 4> execution_model_names{
    "blocking", "stackless", "green_thread", "thread_pool"};

constexpr std::string_view to_string(execution_model model) noexcept {
  return execution_model_names[static_cast<std::size_t>(model)];
}

/// Parses a model's name as written in FLASH_MODEL or a declaration; also takes "green" and "pool".
constexpr std::optional<execution_model> parse_execution_model(std::string_view name) noexcept {
  for (std::size_t i = 0; i < execution_model_names.size(); ++i)
    if (name == execution_model_names[i]) return static_cast<execution_model>(i);
  if (name == "green") return execution_model::green_thread;
  if (name == "pool") return execution_model::thread_pool;
  return std::nullopt;
}

}  // namespace flash
