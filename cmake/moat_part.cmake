# moat_part(NAME SOURCES... [DEPS targets...])
# Declares the library of one part (src/<name>/) as target moat_<name> with alias moat::<name>.
# Public headers live in include/moat/<name>/; internals stay in src/.
function(moat_part name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(moat_${name} ${ARG_SOURCES})
  add_library(moat::${name} ALIAS moat_${name})
  target_include_directories(moat_${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(moat_${name} PUBLIC ${ARG_DEPS} PRIVATE moat_build_flags ${ARG_PRIVATE_DEPS})
endfunction()

# moat_test(NAME SOURCES... [DEPS targets...]): one GoogleTest executable, registered with CTest.
function(moat_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} moat_build_flags GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} ENVIRONMENT "MOAT_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
