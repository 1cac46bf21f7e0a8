# docs/acme.md: obtaining a certificate in a few lines.
add_executable(example_acme_obtain ${CMAKE_CURRENT_LIST_DIR}/acme_obtain.cpp)
target_link_libraries(example_acme_obtain PRIVATE moat::acme moat_build_flags)

# docs/acme.md, "Storage": a lock around work, and a backup.
add_executable(example_acme_storage ${CMAKE_CURRENT_LIST_DIR}/acme_storage.cpp)
target_link_libraries(example_acme_storage PRIVATE moat::acme moat_build_flags)

# docs/acme.md: an in-process ACME CA and a certificate from it.
add_executable(example_acme_ca ${CMAKE_CURRENT_LIST_DIR}/acme_ca.cpp)
target_link_libraries(example_acme_ca PRIVATE moat::acme moat_build_flags)

# docs/acme.md, "Certificates that manage themselves": a TLS server certified by acme::manager.
add_executable(example_acme_manager ${CMAKE_CURRENT_LIST_DIR}/acme_manager.cpp)
target_link_libraries(example_acme_manager PRIVATE moat::acme moat_build_flags)
