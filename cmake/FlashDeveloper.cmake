# Settings for building Flash's own tests, examples and benchmarks (never for consumers).
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
endif()
