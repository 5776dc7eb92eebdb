#include <flash/core/error.hpp>

#include <catch2/catch.hpp>

TEST_CASE("flash::errc is an error code enum with its own category", "[errors]") {
  std::error_code code = flash::errc::timeout;
  CHECK(code.category().name() == std::string("flash"));
  CHECK(code.message() == "timed out");
  CHECK(code == flash::errc::timeout);
  CHECK(code != flash::errc::cancelled);
  CHECK(std::error_code(flash::errc::resource_exhausted).message() == "resource exhausted");
}

TEST_CASE("flash::error carries the code and what failed", "[errors]") {
  flash::error e(flash::errc::network_error, "connecting to example.org:443");
  CHECK(e.code() == flash::errc::network_error);
  CHECK(e.subject() == "connecting to example.org:443");
  CHECK(std::string(e.what()) == "connecting to example.org:443: network error");
}
