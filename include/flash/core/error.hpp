#pragma once
// Flash's typed errors: an error code per kind of failure and an exception that says what failed.

#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

namespace flash {

enum class errc {
  timeout = 1,
  cancelled,
  resource_exhausted,
  network_error,
  filesystem_error,
  validation_error,
};

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "flash"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::timeout: return "timed out";
      case errc::cancelled: return "cancelled";
      case errc::resource_exhausted: return "resource exhausted";
      case errc::network_error: return "network error";
      case errc::filesystem_error: return "filesystem error";
      case errc::validation_error: return "validation error";
    }
    return "unknown flash error";
  }
};
}  // namespace detail

inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl category;
  return category;
}

inline std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

/// A failure with its kind and what failed: "connecting to example.org:443: timed out".
/// `cause()` keeps the underlying system error, if any ("No such file or directory").
class error : public std::system_error {
 public:
  error(errc code, std::string what_failed, std::error_code cause = {})
      : std::system_error(make_error_code(code), what_failed),
        subject_(std::move(what_failed)),
        cause_(cause),
        message_(subject_ + ": " + (cause ? cause.message() : code_message(code))) {}

  /// The path, host or command the error is about.
  const std::string& subject() const noexcept { return subject_; }
  const std::error_code& cause() const noexcept { return cause_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  static std::string code_message(errc code) { return make_error_code(code).message(); }

  std::string subject_;
  std::error_code cause_;
  std::string message_;
};

}  // namespace flash

template <>
struct std::is_error_code_enum<flash::errc> : std::true_type {};
