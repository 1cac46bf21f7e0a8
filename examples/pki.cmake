# Examples of the pki part; included from examples/CMakeLists.txt.
add_executable(example_pki_self_signed ${CMAKE_CURRENT_LIST_DIR}/pki_self_signed.cpp)
target_link_libraries(example_pki_self_signed PRIVATE moat::pki moat_build_flags)
