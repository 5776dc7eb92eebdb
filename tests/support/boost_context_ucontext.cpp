// Boost.Context as Debian builds it switches stacks with fcontext, which the sanitizers cannot
// follow. Flash's sanitizer builds define BOOST_USE_UCONTEXT with BOOST_USE_ASAN or BOOST_USE_TSAN,
// so that every fiber switch is announced to the sanitizer; that mode needs one out-of-line
// piece the installed library lacks, the per-thread record of the running fiber, defined here.
#if defined(BOOST_USE_UCONTEXT)

#include <boost/context/fiber.hpp>

#include <cstddef>

namespace boost::context::detail {

namespace {
thread_local fiber_activation_record* running_record = nullptr;
thread_local std::size_t initializer_count = 0;
}  // namespace

fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
  if (initializer_count++ == 0) running_record = new fiber_activation_record();
}

fiber_activation_record_initializer::~fiber_activation_record_initializer() {
  if (--initializer_count == 0) {
    delete running_record;
    running_record = nullptr;
  }
}

fiber_activation_record*& fiber_activation_record::current() noexcept {
  thread_local fiber_activation_record_initializer initializer;
  return running_record;
}

}  // namespace boost::context::detail

#endif
