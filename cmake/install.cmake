# Installing moat: headers, the part libraries, the `moat` command, a CMake package
# (`find_package(moat CONFIG)`: moat::<part> and moat::moat) and a pkg-config file (moat.pc).
# Included from the top CMakeLists.txt after src/; see docs/install.md.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(moat_part_targets GLOBAL PROPERTY MOAT_PART_TARGETS)
install(TARGETS ${moat_part_targets} moat_moat EXPORT moat-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS moat RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/moat DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(moat_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/moat)
install(EXPORT moat-targets NAMESPACE moat:: DESTINATION ${moat_cmake_dir}
  FILE moat-targets.cmake)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/moat-config.cmake.in
  ${PROJECT_BINARY_DIR}/moat-config.cmake INSTALL_DESTINATION ${moat_cmake_dir})
# Until 1.0 a minor version may change the API: only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/moat-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/moat-config.cmake ${PROJECT_BINARY_DIR}/moat-config-version.cmake
  DESTINATION ${moat_cmake_dir})

# pkg-config: the libraries in link order (a part before the parts it uses), the same
# definitions the CMake targets carry, and the packages behind them.
set(moat_pc_libs "")
foreach(part admin dist acme http server tls framing pki dist_term)
  string(APPEND moat_pc_libs " -lmoat_${part}")
endforeach()
# The prefix is found from the file's own place, so the tree can be installed anywhere
# (cmake --install --prefix, DESTDIR, a .deb).
file(RELATIVE_PATH moat_pc_to_prefix /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(${PROJECT_SOURCE_DIR}/cmake/moat.pc.in ${PROJECT_BINARY_DIR}/moat.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/moat.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
