# Unit tests: every tests/unit/test_*.c is a cmocka program linked with the
# daemon library. Integration tests: every tests/integration/*.sh runs with
# the build directory as its first argument and must bound its own waits.
if(CMOCKA_FOUND)
  file(GLOB SC_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
  foreach(src ${SC_UNIT_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    target_link_libraries(${name} sidecore scfront PkgConfig::CMOCKA)
    add_test(NAME unit/${name} COMMAND ${name})
    set_tests_properties(unit/${name} PROPERTIES TIMEOUT 120 LABELS unit)
  endforeach()
else()
  message(WARNING "cmocka not found: unit tests are not built (scripts/install-deps.sh test installs it)")
endif()

file(GLOB SC_INTEGRATION_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/*.sh)
foreach(script ${SC_INTEGRATION_TESTS})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME integration/${name} COMMAND bash ${script} ${CMAKE_BINARY_DIR})
  set_tests_properties(integration/${name} PROPERTIES TIMEOUT 600 LABELS integration
    RUN_SERIAL TRUE)
  # Tests that boot a Linux guest under QEMU (TCG, tens of seconds each) carry
  # the label "guest" so a quick pass can leave them out with `ctest -LE guest`.
  if(name MATCHES "^qemu_")
    set_tests_properties(integration/${name} PROPERTIES LABELS "integration;guest")
  endif()
endforeach()

# Helper programs for integration tests (raw protocol clients and the like);
# tests/tools/lib holds what several of them share.
file(GLOB SC_TEST_TOOL_LIB CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/tools/lib/*.c)
add_library(sctesttools STATIC ${SC_TEST_TOOL_LIB})
target_include_directories(sctesttools PUBLIC ${CMAKE_SOURCE_DIR}/tests/tools)
target_link_libraries(sctesttools PUBLIC sidecore)
file(GLOB SC_TEST_TOOLS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/tools/*.c)
foreach(src ${SC_TEST_TOOLS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} sctesttools sidecore scfront)
endforeach()

# libFuzzer harnesses (cmake -DSC_FUZZ=ON with clang; scripts/fuzz.sh builds
# and runs one): each feeds one layer's untrusted-input parser.
if(SC_FUZZ)
  file(GLOB SC_FUZZERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  foreach(src ${SC_FUZZERS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    target_link_libraries(${name} sidecore scfront)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endforeach()
endif()

# Corpus replay in make check (no clang needed): each harness that needs no
# UDP port, built with the project's compiler (and its sanitizers with
# SC_SANITIZE) and linked with a small driver main instead of libFuzzer,
# replays its committed seed corpus, tests/fuzz/corpus/NAME (crash
# reproducers included).
if(NOT SC_FUZZ)
  foreach(name virtq vhost blk net netdev config)
    add_executable(fuzz_${name}_replay ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c
                   ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
    set_target_properties(fuzz_${name}_replay PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                          ${CMAKE_BINARY_DIR}/tests)
    target_link_libraries(fuzz_${name}_replay sidecore scfront)
    add_test(NAME fuzz/${name} COMMAND fuzz_${name}_replay
             ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
    set_tests_properties(fuzz/${name} PROPERTIES TIMEOUT 60 LABELS fuzz)
  endforeach()
endif()
