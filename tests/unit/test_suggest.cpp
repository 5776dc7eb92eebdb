#include <flash/cli/suggest.hpp>

#include <catch2/catch.hpp>

using flash::detail::closest_match;
using flash::detail::edit_distance;

TEST_CASE("edit distance counts insertions, deletions, substitutions and swaps", "[suggest]") {
  CHECK(edit_distance("greet", "greet") == 0);
  CHECK(edit_distance("gret", "greet") == 1);
  CHECK(edit_distance("greeet", "greet") == 1);
  CHECK(edit_distance("grete", "greet") == 1);
  CHECK(edit_distance("gerte", "greet") == 2);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("the closest name is suggested only when it is close", "[suggest]") {
  std::vector<std::string> commands{"greet", "wait", "grep"};
  CHECK(closest_match("gret", commands) == "greet");
  CHECK(closest_match("wiat", commands) == "wait");
  CHECK(closest_match("--lod", {"--loud", "--count"}) == "--loud");
  CHECK_FALSE(closest_match("deploy", commands).has_value());
  CHECK_FALSE(closest_match("x", commands).has_value());
}
