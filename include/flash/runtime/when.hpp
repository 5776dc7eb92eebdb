#pragma once
// Combining tasks: when_all waits for every task and returns their results in order;
// when_any returns the first to finish and cancels the others.

#include <flash/exec/awaitable.hpp>
#include <flash/runtime/task_group.hpp>

#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace flash {

namespace detail {
template <class T>
awaitable<void> store_into(awaitable<T> task, std::optional<T>& slot) {
  slot.emplace(co_await std::move(task));
}
template <std::size_t I, class T, class Variant>
awaitable<void> race_one(awaitable<T> task, task_group& group, std::atomic<bool>& decided,
                         std::optional<Variant>& winner, std::exception_ptr& winner_error) {
  try {
    T value = co_await std::move(task);
    if (!decided.exchange(true)) {
      winner.emplace(std::in_place_index<I>, std::move(value));
      group.cancel();
    }
  } catch (...) {
    if (!decided.exchange(true)) {
      winner_error = std::current_exception();
      group.cancel();
    }
  }
}
}  // namespace detail

/// Runs the tasks concurrently; their results in the order given. The first failure cancels
/// the rest and is rethrown once all have stopped.
template <class... T>
awaitable<std::tuple<T...>> when_all(awaitable<T>... tasks) {
  std::tuple<std::optional<T>...> results;
  auto body = [&](task_group& group) -> awaitable<void> {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (group.spawn(detail::store_into(std::move(tasks), std::get<I>(results))), ...);
    }(std::index_sequence_for<T...>{});
    co_return;
  };
  co_await with_task_group(body);
  co_return std::apply([](auto&... slot) { return std::tuple<T...>(std::move(*slot)...); }, results);
}

/// The same for any number of tasks of one type.
template <class T>
awaitable<std::vector<T>> when_all(std::vector<awaitable<T>> tasks, task_group_options options = {}) {
  std::vector<std::optional<T>> results(tasks.size());
  auto body = [&](task_group& group) -> awaitable<void> {
    for (std::size_t i = 0; i < tasks.size(); ++i)
      group.spawn(detail::store_into(std::move(tasks[i]), results[i]));
    co_return;
  };
  co_await with_task_group(body, options);
  std::vector<T> values;
  values.reserve(results.size());
  for (auto& slot : results) values.push_back(std::move(*slot));
  co_return values;
}

/// Runs the tasks concurrently; the first to finish decides: its result (as the variant's
/// alternative at its position) or its exception. The others are cancelled and awaited.
template <class... T>
awaitable<std::variant<T...>> when_any(awaitable<T>... tasks) {
  std::optional<std::variant<T...>> winner;
  std::exception_ptr winner_error;
  std::atomic<bool> decided{false};
  auto body = [&](task_group& group) -> awaitable<void> {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (group.spawn(detail::race_one<I>(std::move(tasks), group, decided, winner, winner_error)), ...);
    }(std::index_sequence_for<T...>{});
    co_return;
  };
  try {
    co_await with_task_group(body, {.on_failure = failure_policy::keep_going});
  } catch (...) {
    if (!decided) throw;  // cancelled from outside before any task finished
  }
  if (winner_error) std::rethrow_exception(winner_error);
  co_return std::move(*winner);
}


}  // namespace flash
