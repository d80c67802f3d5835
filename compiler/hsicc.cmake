# hsicc_add_trainer(NAME EXPERIMENT file.yaml [SET key=value ...] [ALL])
#
# Builds the standalone trainer of an experiment with `hsicc build` as part of a CMake project:
# the trainer is rebuilt when the experiment, its netdef or hsicc change. Inside the hsicc
# tree the `hsicc` target is used; with an installed hsicc, find_package(hsicc) defines this
# function on its imported hsicc::hsicc:
#     find_package(hsicc 0.1 REQUIRED)
#     hsicc_add_trainer(my-ssrn EXPERIMENT experiments/my-ssrn.yaml SET train.epochs=100 ALL)
# (or set HSICC_EXECUTABLE to an hsicc binary and include this file).
function(hsicc_add_trainer name)
  cmake_parse_arguments(T "ALL" "EXPERIMENT;NETDEF" "SET" ${ARGN})
  if(NOT T_EXPERIMENT)
    message(FATAL_ERROR "hsicc_add_trainer(${name}): EXPERIMENT file.yaml is required")
  endif()
  get_filename_component(exp ${T_EXPERIMENT} ABSOLUTE)
  if(TARGET hsicc)
    set(cc $<TARGET_FILE:hsicc>)
    set(deps hsicc hsirt)
  elseif(TARGET hsicc::hsicc)
    set(cc $<TARGET_FILE:hsicc::hsicc>)
    set(deps $<TARGET_FILE:hsicc::hsicc> $<TARGET_FILE:hsicc::hsirt>)
  elseif(HSICC_EXECUTABLE)
    set(cc ${HSICC_EXECUTABLE})
    set(deps ${HSICC_EXECUTABLE})
  else()
    message(FATAL_ERROR "hsicc_add_trainer(${name}): no hsicc: find_package(hsicc), or set "
                        "HSICC_EXECUTABLE to the hsicc binary")
  endif()
  set(sets "")
  foreach(s ${T_SET})
    list(APPEND sets --set ${s})
  endforeach()
  # the netdef named by the experiment, so editing it rebuilds the trainer
  file(STRINGS ${exp} netline REGEX "^net:")
  if(netline)
    string(REGEX REPLACE "^net:[ \t]*([^ \t#]+).*" "\\1" net "${netline}")
    get_filename_component(expdir ${exp} DIRECTORY)
    get_filename_component(net ${net} ABSOLUTE BASE_DIR ${expdir})
    list(APPEND deps ${net})
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name})
  set(rule ${out})
  set(extra "")
  if(CMAKE_CURRENT_BINARY_DIR STREQUAL CMAKE_BINARY_DIR)
    # In the top-level build folder the trainer's file has the target's own name, and the
    # Makefile generator then rebuilds it on every make: the rule's output is a stamp there.
    set(rule ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/${name}.hsicc-stamp)
    set(extra BYPRODUCTS ${out} COMMAND ${CMAKE_COMMAND} -E touch ${rule})
  endif()
  add_custom_command(OUTPUT ${rule}
    COMMAND ${cc} build ${exp} -o ${out} ${sets}
    ${extra}
    DEPENDS ${deps} ${exp}
    COMMENT "hsicc build ${T_EXPERIMENT} -> ${name}" VERBATIM)
  if(T_ALL)
    add_custom_target(${name} ALL DEPENDS ${rule})
  else()
    add_custom_target(${name} DEPENDS ${rule})
  endif()
endfunction()
