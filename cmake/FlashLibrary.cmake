# flash_add_library(<name> [STATIC|SHARED]): a library holding Flash's non-template code,
# compiled once with FLASH_SEPARATE_COMPILATION (see flash/core/config.hpp). Programs that link
# <name> instead of flash::flash compile about twice as fast; linked to a SHARED one, they carry
# none of Flash's own code, which several programs then share.
function(flash_add_library name)
  set(source ${CMAKE_CURRENT_BINARY_DIR}/${name}_flash_src.cpp)
  file(CONFIGURE OUTPUT ${source} CONTENT "#include <flash/src.hpp>\n")
  add_library(${name} ${ARGN} ${source})
  target_link_libraries(${name} PUBLIC flash::flash)
  target_compile_definitions(${name} PUBLIC FLASH_SEPARATE_COMPILATION)
  # Programs call the library's definitions, so they stay exported under a hidden preset.
  set_target_properties(${name} PROPERTIES CXX_VISIBILITY_PRESET default VISIBILITY_INLINES_HIDDEN OFF)
  # A shared one calls its own functions directly rather than through symbols the program could
  # replace: fewer relocations for the loader at every start. Data (static locals, Asio's
  # per-thread call stacks) stays interposable, so program and library still share one copy.
  get_target_property(type ${name} TYPE)
  if(type STREQUAL "SHARED_LIBRARY" AND NOT APPLE)
    target_link_options(${name} PRIVATE LINKER:-Bsymbolic-functions)
  endif()
endfunction()
