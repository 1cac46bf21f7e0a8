# Examples of the dist part; included from examples/CMakeLists.txt.
add_executable(example_dist_terms ${CMAKE_CURRENT_LIST_DIR}/dist_terms.cpp)
target_link_libraries(example_dist_terms PRIVATE moat::dist_term moat_build_flags)
add_executable(example_dist_gen_server ${CMAKE_CURRENT_LIST_DIR}/dist_gen_server.cpp)
target_link_libraries(example_dist_gen_server PRIVATE moat::dist moat_build_flags)
