# Run after each build of a test binary (see shmview_test_cases() in CMakeLists.txt): asks it
# for its cases (--list) and writes OUT, which registers each as the CTest test NAME.CASE, so
# that each passes, fails or is skipped (exit status 77, TH_SKIP in harness.h) on its own.
execute_process(COMMAND "${BINARY}" --list OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${BINARY} --list failed (${rc})")
endif()
string(REPLACE "\n" ";" cases "${out}")
set(text "")
foreach(c IN LISTS cases)
  if(c)
    string(APPEND text "add_test(${NAME}.${c} \"${BINARY}\" ${c})\n"
           "set_tests_properties(${NAME}.${c} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT ${TIMEOUT})\n")
  endif()
endforeach()
file(WRITE "${OUT}" "${text}")
