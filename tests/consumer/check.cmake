# Installs the Flash build in BUILD_DIR to a fresh prefix, then builds the consumer project:
# against the installed package with find_package (header-only, and linked to a library made by
# flash_add_library), and from the sources with add_subdirectory.
file(REMOVE_RECURSE ${WORK_DIR})
find_program(ccache ccache)
set(launcher "")
if(ccache)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${ccache})
endif()
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}\n${output}")
  endif()
  set(last_output "${output}" PARENT_SCOPE)
endfunction()

function(check_consumer program)
  run(${program} add 2 40)
  if(NOT last_output STREQUAL "42\n")
    message(FATAL_ERROR "${program} add printed '${last_output}'")
  endif()
  execute_process(COMMAND ${program} nap RESULT_VARIABLE status)
  if(NOT status EQUAL 7)
    message(FATAL_ERROR "${program} nap exited with ${status}, not 7")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/lib/cmake/Flash/FlashConfigVersion.cmake OR NOT EXISTS ${prefix}/include/flash/flash.hpp)
  message(FATAL_ERROR "the install lacks FlashConfigVersion.cmake or the headers")
endif()

run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/installed -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} ${launcher} -DCMAKE_PREFIX_PATH=${prefix} -DCONSUMER_SEPARATE=ON)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/installed)
check_consumer(${WORK_DIR}/installed/consumer)
check_consumer(${WORK_DIR}/installed/consumer_separate)

run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/subdirectory -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DFLASH_SOURCE_DIR=${SOURCE_DIR})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/subdirectory)
check_consumer(${WORK_DIR}/subdirectory/consumer)
message(STATUS "find_package (header-only and with flash_add_library) and add_subdirectory consumers work")
