# Compiles SOURCE and checks the outcome: with EXPECTED empty it must compile; otherwise it must
# fail with EXPECTED in the compiler's message.
execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only -I${INCLUDE_DIR}
          -DBOOST_ASIO_DISABLE_BOOST_COROUTINE -DBOOST_ASIO_NO_DEPRECATED ${SOURCE}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)
if(EXPECTED STREQUAL "")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${SOURCE} should compile, but:\n${output}")
  endif()
  return()
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(FIND "${output}" "${EXPECTED}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed without saying \"${EXPECTED}\":\n${output}")
endif()
if(COMPILER_ID STREQUAL "GNU" AND NOT COMMAND_NAME STREQUAL "")
  string(FIND "${output}" "{\"${COMMAND_NAME}\"}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${SOURCE} failed without naming the command ${COMMAND_NAME}:\n${output}")
  endif()
endif()
message(STATUS "failed as it should, saying \"${EXPECTED}\"")
