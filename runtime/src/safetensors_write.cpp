// Writing safetensors files (used by `ingot exec` and the kernel test tools).
// Invariant: the file is complete or absent: data goes to a temporary file in
// the same directory that is renamed over `path` only after a successful
// flush, so a failed write never destroys what the user had at `path`.
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/error.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

namespace ingot {

static const char *safetensorsDType(DType t) {
  switch (t) {
  case DType::F32: return "F32";
  case DType::F16: return "F16";
  case DType::BF16: return "BF16";
  case DType::I32: return "I32";
  case DType::I64: return "I64";
  case DType::U8: return "U8";
  case DType::F64: return "F64";
  case DType::I8: return "I8";
  case DType::I16: return "I16";
  case DType::U16: return "U16";
  case DType::U32: return "U32";
  case DType::U64: return "U64";
  case DType::Bool: return "BOOL";
  }
  throw Error("writeSafetensors: invalid dtype " + std::to_string(int(t)));
}

void writeSafetensors(const std::string &path, const std::vector<TensorView> &tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorView &t : tensors) {
    INGOT_CHECK(names.insert(t.name).second,
                path + ": tensor '" + t.name + "' is written twice");
    size_t want = size_t(t.numel()) * dtypeSize(t.dtype);
    INGOT_CHECK(t.nbytes == want, path + ": tensor '" + t.name + "' has " +
                                      std::to_string(t.nbytes) + " bytes, expected " +
                                      std::to_string(want));
    header[t.name] = {{"dtype", safetensorsDType(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string h = header.dump();
  while (h.size() % 8)
    h.push_back(' ');
  std::string tmp = path + ".tmp-ingot";
  FILE *f = std::fopen(tmp.c_str(), "wb");
  INGOT_CHECK(f, "cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = true;
  uint64_t n = h.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = uint8_t(n >> (8 * i));
  ok &= std::fwrite(len, 1, 8, f) == 8;
  ok &= std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const TensorView &t : tensors)
    if (t.nbytes)
      ok &= std::fwrite(t.data, 1, t.nbytes, f) == t.nbytes;
  ok &= std::fflush(f) == 0;
  ok &= std::fclose(f) == 0;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error("cannot write " + path + ": " + why);
  }
}

} // namespace ingot
