#pragma once
// Which execution model a command runs on: its handler's shape gives the default, an explicit
// choice in the declaration overrides it, and FLASH_MODEL in the environment overrides both.

#include <flash/dispatch/handler_shape.hpp>
#include <flash/exec/model.hpp>

#include <fmt/format.h>

#include <optional>
#include <stdexcept>
#include <string_view>

namespace flash {

/// The environment variable that forces every command onto one model, for diagnosis.
inline constexpr const char* model_environment_variable = "FLASH_MODEL";

/// The handler's hints: the shape of its signature, and whether it was marked CPU-bound.
struct handler_traits {
  handler_shape shape = handler_shape::sync;
  bool cpu_bound = false;
};

constexpr execution_model default_model(handler_traits traits) noexcept {
  if (traits.cpu_bound) return execution_model::thread_pool;
  switch (traits.shape) {
    case handler_shape::sync: return execution_model::blocking;
    case handler_shape::stackless: return execution_model::stackless;
    case handler_shape::green_thread: return execution_model::green_thread;
  }
  return execution_model::blocking;
}

/// Thrown when FLASH_MODEL names no model.
class model_selection_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// `environment` is FLASH_MODEL's value, or null when it is not set (an empty value counts as unset).
inline execution_model select_model(handler_traits traits, std::optional<execution_model> declared,
                                    const char* environment) {
  if (environment && *environment) {
    if (auto forced = parse_execution_model(environment)) return *forced;
    throw model_selection_error(fmt::format(
        "{}={} is not an execution model; use one of blocking, stackless, green_thread, thread_pool",
        model_environment_variable, environment));
  }
  return declared.value_or(default_model(traits));
}

}  // namespace flash
