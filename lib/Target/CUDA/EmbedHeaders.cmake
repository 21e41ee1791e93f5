# cmake -DDIR=<runtime/cuda/kernels> -DOUT=<KernelHeaders.cpp> -P EmbedHeaders.cmake
# Writes ingot::cuda::embeddedKernelHeaders(): (name, text) of every *.cuh
# and *.h in DIR, sorted by name, as byte arrays (no raw-string limits).
file(GLOB files ${DIR}/*.cuh ${DIR}/*.h)
list(SORT files)
set(arrays "")
set(entries "")
set(i 0)
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} hex HEX)
  string(LENGTH "${hex}" len)
  math(EXPR bytes "${len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND arrays "static const unsigned char h${i}[] = {${hex}0};\n")
  string(APPEND entries "      {\"${name}\", std::string(reinterpret_cast<const char *>(h${i}), ${bytes})},\n")
  math(EXPR i "${i} + 1")
endforeach()
set(text "// Generated from runtime/cuda/kernels by lib/Target/CUDA/EmbedHeaders.cmake.
#include <string>
#include <utility>
#include <vector>

namespace ingot::cuda {
namespace {
${arrays}} // namespace

const std::vector<std::pair<std::string, std::string>> &embeddedKernelHeaders() {
  static const std::vector<std::pair<std::string, std::string>> headers = {
${entries}  };
  return headers;
}
} // namespace ingot::cuda
")
file(WRITE ${OUT} "${text}")
