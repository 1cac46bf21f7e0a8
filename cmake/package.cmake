# The Debian package (`cpack -G DEB` in the build directory; docs/install.md): everything
# `cmake --install` installs, under the configured prefix, plus a systemd unit for
# `moat serve` and the docs. Included from the top CMakeLists.txt after install.cmake.

# The unit names the command by its installed path, which is known only when installing
# (`cmake --install --prefix`, or CPack's /usr): it is written then.
install(CODE "
  set(moat_bindir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(moat_docdir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\")
  set(moat_unit \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/moat.service\")
  message(STATUS \"Installing: \${moat_unit}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/packaging/moat.service.in\" \"\${moat_unit}\" @ONLY)
")
# Stripping (`cmake --install --strip`, and the Debian package) covers the command only;
# the static libraries lose their debug information too -- three quarters of their size in a
# build with line tables -- and keep the symbols a link needs.
install(CODE "
  if(CMAKE_INSTALL_DO_STRIP)
    file(GLOB moat_archives
      \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libmoat_*.a\")
    foreach(moat_archive IN LISTS moat_archives)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug \"\${moat_archive}\"
        RESULT_VARIABLE moat_strip_status)
      if(NOT moat_strip_status EQUAL 0)
        message(FATAL_ERROR \"strip --strip-debug \${moat_archive} failed\")
      endif()
    endforeach()
  endif()
")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
  FILES_MATCHING PATTERN "*.md" PATTERN "*.png")
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME moat)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "moat developers <moat@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "TLS services the Erlang/OTP way: supervised servers, ACME, Erlang distribution")
set(CPACK_PACKAGE_DESCRIPTION
  "moat is a C++20 library and the moat command: an ssl-like TLS socket API with {packet,N}
framing, supervised servers (moat serve) with exact limits, drain and hot reload,
certificates that obtain and renew themselves through ACME, and Erlang distribution over
mutually authenticated TLS. This package holds the command, a systemd unit for moat serve,
the headers, static libraries, CMake package and pkg-config file.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)  # a Debian package lives under /usr
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Depends: from the command's shared libraries (dpkg-shlibdeps). What building against the
# headers and libraries needs is recommended, not required, for those who only run the command.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
  "libgnutls28-dev, libboost-dev (>= 1.81), libfmt-dev, libspdlog-dev, libtomlplusplus-dev, zlib1g-dev, pkg-config")
set(CPACK_STRIP_FILES ON)
include(CPack)
