# moat_part(NAME SOURCES... [DEPS targets...] [PRIVATE_DEPS targets...])
# Declares the library of one part (src/<name>/) as target moat_<name> with alias moat::<name>,
# installed and exported under that name (cmake/install.cmake). Public headers live in
# include/moat/<name>/; internals stay in src/.
function(moat_part name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(moat_${name} ${ARG_SOURCES})
  add_library(moat::${name} ALIAS moat_${name})
  set_target_properties(moat_${name} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(moat_${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  # The warning flags are the build's own, not something an installed library hands on.
  target_link_libraries(moat_${name} PUBLIC ${ARG_DEPS}
    PRIVATE $<BUILD_INTERFACE:moat_build_flags> ${ARG_PRIVATE_DEPS})
  set_property(GLOBAL APPEND PROPERTY MOAT_PART_TARGETS moat_${name})
endfunction()

# moat_test(NAME SOURCES... [DEPS targets...]): one GoogleTest executable, registered with CTest.
# moat_test(NAME SOURCES ... [DEPS ...] [TIMEOUT s] [LABEL label] [FIXTURE name]): a GoogleTest
# program whose tests CTest runs one by one; LABEL and FIXTURE (FIXTURES_REQUIRED) go on each.
function(moat_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;LABEL;FIXTURE" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} moat_build_flags GTest::gtest GTest::gmock GTest::gtest_main)
  # The tests' shared precompiled header (tests/CMakeLists.txt), where its dependencies are;
  # -Winvalid-pch: a header the compiler would quietly not use is an error.
  if(TARGET moat_test_pch AND "moat_test_support" IN_LIST ARG_DEPS)
    target_precompile_headers(${name} REUSE_FROM moat_test_pch)
    target_compile_options(${name} PRIVATE -Winvalid-pch)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(extra)
  if(ARG_LABEL)
    list(APPEND extra LABELS ${ARG_LABEL})
  endif()
  if(ARG_FIXTURE)
    list(APPEND extra FIXTURES_REQUIRED ${ARG_FIXTURE})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} ENVIRONMENT "MOAT_SOURCE_DIR=${PROJECT_SOURCE_DIR}" ${extra})
endfunction()
