# Examples of the tls part (docs/tls.md); included from examples/CMakeLists.txt.
add_executable(example_tls_echo ${CMAKE_CURRENT_LIST_DIR}/tls_echo.cpp)
target_link_libraries(example_tls_echo PRIVATE moat::tls moat_build_flags)
add_test(NAME example_tls_echo_runs COMMAND example_tls_echo)
set_tests_properties(example_tls_echo_runs PROPERTIES PASS_REGULAR_EXPRESSION "echo: hello" TIMEOUT 30)
