# Settings for building Flash's own tests, examples and benchmarks (never for consumers).
set(CMAKE_CXX_EXTENSIONS OFF)
find_program(FLASH_CCACHE ccache)
if(FLASH_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${FLASH_CCACHE})
endif()

set(FLASH_SANITIZE "" CACHE STRING "Sanitizers for Flash's own targets, e.g. address,undefined or thread")
add_library(flash_developer INTERFACE)
target_compile_options(flash_developer INTERFACE -Wall -Wextra -Wpedantic)
if(FLASH_SANITIZE)
  target_compile_options(flash_developer INTERFACE
    -fsanitize=${FLASH_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(flash_developer INTERFACE -fsanitize=${FLASH_SANITIZE})
  # Green threads switch stacks; Boost.Context's ucontext fibers tell the sanitizers about it.
  if(FLASH_SANITIZE MATCHES "address")
    target_compile_definitions(flash_developer INTERFACE BOOST_USE_UCONTEXT BOOST_USE_ASAN)
  elseif(FLASH_SANITIZE MATCHES "thread")
    # ThreadSanitizer does not model std::atomic_thread_fence, which Asio's reference counts
    # use with std::atomic; without std::atomic Asio falls back to counts it can follow.
    target_compile_definitions(flash_developer INTERFACE BOOST_USE_UCONTEXT BOOST_USE_TSAN
                               BOOST_ASIO_DISABLE_STD_ATOMIC)
  endif()
  target_sources(flash_developer INTERFACE ${PROJECT_SOURCE_DIR}/tests/support/boost_context_ucontext.cpp)
endif()
