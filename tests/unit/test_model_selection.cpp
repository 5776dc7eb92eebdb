#include <flash/dispatch/model_selection.hpp>

#include <catch2/catch.hpp>

using flash::execution_model;
using flash::handler_shape;

TEST_CASE("each handler shape has its default model", "[dispatch][selection]") {
  CHECK(flash::default_model({handler_shape::sync, false}) == execution_model::blocking);
  CHECK(flash::default_model({handler_shape::stackless, false}) == execution_model::stackless);
  CHECK(flash::default_model({handler_shape::green_thread, false}) == execution_model::green_thread);
  CHECK(flash::default_model({handler_shape::sync, true}) == execution_model::thread_pool);
}

TEST_CASE("a declared model overrides the shape, FLASH_MODEL overrides both", "[dispatch][selection]") {
  flash::handler_traits sync{handler_shape::sync, false};
  CHECK(flash::select_model(sync, std::nullopt, nullptr) == execution_model::blocking);
  CHECK(flash::select_model(sync, execution_model::green_thread, nullptr) == execution_model::green_thread);
  CHECK(flash::select_model(sync, execution_model::green_thread, "thread_pool") == execution_model::thread_pool);
  CHECK(flash::select_model(sync, execution_model::green_thread, "pool") == execution_model::thread_pool);
  CHECK(flash::select_model(sync, std::nullopt, "") == execution_model::blocking);
  CHECK_THROWS_WITH(flash::select_model(sync, std::nullopt, "turbo"),
                    Catch::Contains("FLASH_MODEL=turbo is not an execution model"));
}

TEST_CASE("model names round-trip", "[dispatch][selection]") {
  for (auto model : {execution_model::blocking, execution_model::stackless, execution_model::green_thread,
                     execution_model::thread_pool})
    CHECK(flash::parse_execution_model(flash::to_string(model)) == model);
}
