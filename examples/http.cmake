# Examples of the http part (docs/http.md); included from examples/CMakeLists.txt.
add_executable(example_http_hello ${CMAKE_CURRENT_LIST_DIR}/http_hello.cpp)
target_link_libraries(example_http_hello PRIVATE moat::http moat_build_flags fmt::fmt)
add_test(NAME example_http_hello_runs COMMAND example_http_hello)
set_tests_properties(example_http_hello_runs PROPERTIES
  PASS_REGULAR_EXPRESSION "https: hello, world\nhttp: 301 https://127.0.0.1:[0-9]+/hello\\?lang=en" TIMEOUT 30)
