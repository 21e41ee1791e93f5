//===- ModelFile.h - reading ONNX protobufs and tensor bytes ----*- C++ -*-===//
//
// Private to lib/ONNX. Reads a ModelProto (binary or text format) and turns
// a TensorProto into packed little-endian bytes: raw_data, the typed fields
// (float_data, int32_data, ...) or external data (mapped files relative to
// the model's directory). Every error is an ImportError whose message names
// the file or tensor; nothing here trusts a size or offset it has not
// checked against the data actually present.
//
// The bytes returned by tensorBytes() live as long as the Storage: they point
// into the ModelProto (raw_data, typed fields), into a mapped external file,
// or into a buffer the Storage owns (converted or realigned data).
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_ONNX_MODELFILE_H
#define INGOT_LIB_ONNX_MODELFILE_H

#include "ingot/runtime/dtype.h"

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ingot::onnximport {

struct ImportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void fail(const std::string &msg);

// A read-only mapping of a whole file (size 0 allowed: data() is null).
class MappedFile {
public:
  // Throws ImportError naming `path` and `what` (why it was opened).
  static std::shared_ptr<MappedFile> open(const std::string &path,
                                          const std::string &what);
  ~MappedFile();
  const uint8_t *data() const { return data_; }
  uint64_t size() const { return size_; }

private:
  MappedFile() = default;
  const uint8_t *data_ = nullptr;
  uint64_t size_ = 0;
};

// Everything tensor bytes may point into; becomes the Checkpoint's keepAlive.
struct Storage {
  std::unique_ptr<onnx::ModelProto> model;
  std::map<std::string, std::shared_ptr<MappedFile>> externalFiles; // by path
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
};

// .onnx.txt / .textproto / .pbtxt are text format, anything else binary.
std::unique_ptr<onnx::ModelProto> loadModel(const std::string &path, bool text);

// Maps an ONNX TensorProto.DataType to the runtime's DType; false for types
// Ingot does not support (string, complex, float8, 4-bit, ...).
bool onnxElemType(int32_t onnxType, ::ingot::DType &out);
// "FLOAT", "STRING", "FLOAT8E4M3FN", ... or "type <n>".
std::string onnxTypeName(int32_t onnxType);

struct TensorBytes {
  ::ingot::DType dtype;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  const uint8_t *data = nullptr; // packed little-endian; bool = 1 byte
  size_t nbytes = 0;
};

// Resolves `t`'s bytes. `what` names the tensor in errors (e.g.
// "initializer 'w'", "attribute 'value' of node 'c' (Constant)").
// `modelDir` is the directory external data is relative to.
TensorBytes tensorBytes(const onnx::TensorProto &t, const std::string &what,
                        const std::string &modelDir, Storage &st);

// The string stored under `field` among a message's unknown fields (fields
// newer than Debian's ONNX 1.12 schema, e.g. NodeProto.overload = 8), or "".
std::string unknownStringField(const google::protobuf::Message &m, int field);
// The length-delimited payloads of an unknown repeated message field.
std::vector<std::string> unknownMessageFields(const google::protobuf::Message &m,
                                              int field);

} // namespace ingot::onnximport

#endif
