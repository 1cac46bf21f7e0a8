# Examples of the framing part; included from examples/CMakeLists.txt.
add_executable(example_framing_decode ${CMAKE_CURRENT_LIST_DIR}/framing_decode.cpp)
target_link_libraries(example_framing_decode PRIVATE moat::framing moat_build_flags)
