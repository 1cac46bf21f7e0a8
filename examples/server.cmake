# Examples of the server part (docs/server.md); included from examples/CMakeLists.txt.
add_executable(example_server_echo ${CMAKE_CURRENT_LIST_DIR}/server_echo.cpp)
target_link_libraries(example_server_echo PRIVATE moat::server moat_build_flags)
add_test(NAME example_server_echo_runs COMMAND example_server_echo)
set_tests_properties(example_server_echo_runs PROPERTIES
  PASS_REGULAR_EXPRESSION "coroutine: hello\nevents: HELLO" TIMEOUT 30)
