# Included after project() (CMAKE_PROJECT_INCLUDE) by scripts/device/prepare.sh
# when it builds the runtime for the device machine: prefer static archives for
# every library found from here on (pcre2, xxhash, utf8proc, OpenBLAS, libgomp),
# falling back to shared objects where Debian ships none (cpp-httplib and its
# OpenSSL/zlib/brotli), which prepare.sh copies into device-bundle/lib.
# Nothing here changes the normal build.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a .so)
set(BLA_STATIC ON)
# OpenBLAS (Debian's pthread build) is partly Fortran: its static archive needs
# libgfortran and libquadmath, linked statically too.
execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libgfortran.a
                OUTPUT_VARIABLE _ingot_gfortran OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libquadmath.a
                OUTPUT_VARIABLE _ingot_quadmath OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT EXISTS "${_ingot_gfortran}" OR NOT EXISTS "${_ingot_quadmath}")
  message(FATAL_ERROR "static-deps.cmake: libgfortran.a / libquadmath.a not found "
                      "(${_ingot_gfortran}, ${_ingot_quadmath}); install gfortran-12's libgcc-12-dev")
endif()
set(BLA_LINKER_FLAGS "${_ingot_gfortran};${_ingot_quadmath};-lm")
set(CMAKE_C_STANDARD_LIBRARIES "${_ingot_gfortran} ${_ingot_quadmath} -lm")
set(CMAKE_CXX_STANDARD_LIBRARIES "${_ingot_gfortran} ${_ingot_quadmath} -lm")
# The bundle keeps those shared objects in lib/ beside bin/: an rpath of $ORIGIN/../lib, written as
# DT_RPATH (--disable-new-dtags) so that it also applies to the libraries' own dependencies.
set(CMAKE_BUILD_RPATH "\$ORIGIN/../lib")
