//===- ModelFile.cpp - reading ONNX protobufs and tensor bytes ------------===//
//
// See ModelFile.h. Binary models are parsed from a read-only mapping with the
// protobuf total-bytes limit raised to INT_MAX (the 64 MiB default refuses
// ordinary exports); files of 2 GiB and more cannot be one protobuf message,
// so such models must keep their weights in external data, which is mapped
// and never copied. Assumes a little-endian host, as ONNX's raw_data does.
//
//===----------------------------------------------------------------------===//
#include "ModelFile.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/unknown_field_set.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX importer assumes a little-endian host (ONNX raw_data is little-endian)"
#endif

namespace ingot::onnximport {

void fail(const std::string &msg) { throw ImportError(msg); }

//===----------------------------------------------------------------------===//
// MappedFile
//===----------------------------------------------------------------------===//

std::shared_ptr<MappedFile> MappedFile::open(const std::string &path,
                                             const std::string &what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(what + " '" + path + "' is not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->size_ = uint64_t(st.st_size);
  if (f->size_ > 0) {
    void *p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail("cannot map " + what + " '" + path + "': " + std::strerror(e));
    }
    f->data_ = static_cast<const uint8_t *>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_)
    ::munmap(const_cast<uint8_t *>(data_), size_);
}

//===----------------------------------------------------------------------===//
// Loading the ModelProto
//===----------------------------------------------------------------------===//

namespace {
// Keeps the first text-format error (line/column are zero-based).
struct FirstError : google::protobuf::io::ErrorCollector {
  std::string msg;
  void AddError(int line, google::protobuf::io::ColumnNumber col,
                const std::string &m) override {
    if (msg.empty())
      msg = "line " + std::to_string(line + 1) + ", column " +
            std::to_string(col + 1) + ": " + m;
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string &) override {}
};
} // namespace

std::unique_ptr<onnx::ModelProto> loadModel(const std::string &path, bool text) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path, "model file");
  if (file->size() == 0)
    fail("the model file is empty");
  if (file->size() > uint64_t(INT_MAX))
    fail("the model file is " + std::to_string(file->size()) +
         " bytes; a protobuf message cannot exceed 2 GiB, so a model this "
         "big must keep its weights in external data (onnx.save_model(..., "
         "save_as_external_data=True))");
  auto model = std::make_unique<onnx::ModelProto>();
  google::protobuf::io::ArrayInputStream in(file->data(), int(file->size()));
  if (text) {
    google::protobuf::TextFormat::Parser parser;
    FirstError errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.Parse(&in, model.get()))
      fail("not a valid ONNX model in protobuf text format: " +
           (errors.msg.empty() ? std::string("parse error") : errors.msg));
    return model;
  }
  google::protobuf::io::CodedInputStream coded(&in);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    fail("not a valid ONNX model (the protobuf does not parse; is the file "
         "truncated or not an .onnx file?)");
  return model;
}

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

bool onnxElemType(int32_t t, ::ingot::DType &out) {
  using P = onnx::TensorProto;
  using ::ingot::DType;
  switch (t) {
  case P::FLOAT: out = DType::F32; return true;
  case P::DOUBLE: out = DType::F64; return true;
  case P::FLOAT16: out = DType::F16; return true;
  case P::BFLOAT16: out = DType::BF16; return true;
  case P::INT8: out = DType::I8; return true;
  case P::INT16: out = DType::I16; return true;
  case P::INT32: out = DType::I32; return true;
  case P::INT64: out = DType::I64; return true;
  case P::UINT8: out = DType::U8; return true;
  case P::UINT16: out = DType::U16; return true;
  case P::UINT32: out = DType::U32; return true;
  case P::UINT64: out = DType::U64; return true;
  case P::BOOL: out = DType::Bool; return true;
  default: return false;
  }
}

std::string onnxTypeName(int32_t t) {
  // Includes the types newer than ONNX 1.12 so that errors name them.
  static const char *names[] = {
      "UNDEFINED", "FLOAT",         "UINT8",         "INT8",
      "UINT16",    "INT16",         "INT32",         "INT64",
      "STRING",    "BOOL",          "FLOAT16",       "DOUBLE",
      "UINT32",    "UINT64",        "COMPLEX64",     "COMPLEX128",
      "BFLOAT16",  "FLOAT8E4M3FN",  "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
      "FLOAT8E5M2FNUZ", "UINT4",    "INT4",          "FLOAT4E2M1",
      "FLOAT8E8M0", "UINT2",        "INT2"};
  if (t >= 0 && size_t(t) < sizeof(names) / sizeof(names[0]))
    return names[t];
  return "type " + std::to_string(t);
}

//===----------------------------------------------------------------------===//
// Tensor bytes
//===----------------------------------------------------------------------===//

namespace {

uint8_t *newBuffer(Storage &st, size_t n) {
  st.buffers.emplace_back(new uint8_t[n ? n : 1]);
  return st.buffers.back().get();
}

// Parses a non-negative decimal (external data offset/length).
bool parseU64(const std::string &s, uint64_t &out) {
  if (s.empty() || s.size() > 19)
    return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + uint64_t(c - '0');
  }
  out = v;
  return true;
}

// Refuses absolute locations and any that climb out of the model directory
// (the location comes from the file, so it is not trusted).
std::string resolveLocation(const std::string &loc, const std::string &modelDir,
                            const std::string &what) {
  if (loc.empty())
    fail(what + ": external data has an empty 'location'");
  if (loc[0] == '/' || loc.find('\\') != std::string::npos ||
      loc.find('\0') != std::string::npos)
    fail(what + ": external data location '" + loc +
         "' must be a relative path inside the model's directory");
  int depth = 0;
  size_t pos = 0;
  while (pos <= loc.size()) {
    size_t next = loc.find('/', pos);
    if (next == std::string::npos)
      next = loc.size();
    std::string part = loc.substr(pos, next - pos);
    if (part == "..") {
      if (--depth < 0)
        fail(what + ": external data location '" + loc +
             "' points outside the model's directory");
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    pos = next + 1;
  }
  return modelDir.empty() ? loc : modelDir + "/" + loc;
}

TensorBytes externalBytes(const onnx::TensorProto &t, TensorBytes tb,
                          const std::string &what, const std::string &modelDir,
                          Storage &st) {
  std::string location;
  uint64_t offset = 0, length = 0;
  bool hasLength = false;
  for (const auto &kv : t.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      if (!parseU64(kv.value(), offset))
        fail(what + ": external data offset '" + kv.value() + "' is not a number");
    } else if (kv.key() == "length") {
      if (!parseU64(kv.value(), length))
        fail(what + ": external data length '" + kv.value() + "' is not a number");
      hasLength = true;
    }
    // "checksum" and unknown keys are informational.
  }
  std::string path = resolveLocation(location, modelDir, what);
  auto it = st.externalFiles.find(path);
  if (it == st.externalFiles.end())
    it = st.externalFiles
             .emplace(path, MappedFile::open(path, "external data file of " + what))
             .first;
  const MappedFile &f = *it->second;
  if (offset > f.size())
    fail(what + ": external data offset " + std::to_string(offset) +
         " is past the end of '" + path + "' (" + std::to_string(f.size()) +
         " bytes)");
  if (!hasLength)
    length = f.size() - offset;
  if (length > f.size() - offset)
    fail(what + ": external data [" + std::to_string(offset) + ", +" +
         std::to_string(length) + ") runs past the end of '" + path + "' (" +
         std::to_string(f.size()) + " bytes)");
  if (length != tb.nbytes)
    fail(what + ": external data in '" + path + "' has " + std::to_string(length) +
         " bytes, its type and shape need " + std::to_string(tb.nbytes));
  tb.data = f.data() ? f.data() + offset : nullptr;
  return tb;
}

// Copies `n` values of the typed field into `esize`-byte little-endian
// elements (truncating, as ONNX stores narrow types widened to int32).
template <typename Src>
const uint8_t *narrow(const Src *src, int64_t n, size_t esize, Storage &st) {
  uint8_t *dst = newBuffer(st, size_t(n) * esize);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t v = uint64_t(src[i]);
    std::memcpy(dst + size_t(i) * esize, &v, esize);
  }
  return dst;
}

} // namespace

TensorBytes tensorBytes(const onnx::TensorProto &t, const std::string &what,
                        const std::string &modelDir, Storage &st) {
  using P = onnx::TensorProto;
  TensorBytes tb;
  if (!onnxElemType(t.data_type(), tb.dtype))
    fail(what + " has element type " + onnxTypeName(t.data_type()) +
         ", which Ingot does not support (supported: FLOAT, DOUBLE, FLOAT16, "
         "BFLOAT16, INT8/16/32/64, UINT8/16/32/64, BOOL)");
  if (t.has_segment())
    fail(what + " is a segmented tensor, which is not supported");
  const size_t esize = ::ingot::dtypeSize(tb.dtype);
  uint64_t numel = 1;
  for (int64_t d : t.dims()) {
    if (d < 0)
      fail(what + " has a negative dimension " + std::to_string(d));
    tb.shape.push_back(d);
    if (d != 0 && numel > (uint64_t(1) << 62) / uint64_t(d))
      fail(what + " has too many elements");
    numel *= uint64_t(d);
  }
  if (numel > ((uint64_t(1) << 62) / esize))
    fail(what + " has too many elements");
  tb.numel = int64_t(numel);
  tb.nbytes = size_t(numel * esize);

  if (t.data_location() == P::EXTERNAL) {
    tb = externalBytes(t, std::move(tb), what, modelDir, st);
  } else if (t.has_raw_data()) {
    if (t.raw_data().size() != tb.nbytes)
      fail(what + " has " + std::to_string(t.raw_data().size()) +
           " bytes of raw_data, its type and shape need " + std::to_string(tb.nbytes));
    tb.data = reinterpret_cast<const uint8_t *>(t.raw_data().data());
  } else {
    // Typed fields: which one holds the values depends on the type.
    const char *field = nullptr;
    int64_t have = 0;
    const uint8_t *data = nullptr;
    int32_t dt = t.data_type();
    if (dt == P::FLOAT) {
      field = "float_data";
      have = t.float_data_size();
      data = reinterpret_cast<const uint8_t *>(t.float_data().data());
    } else if (dt == P::DOUBLE) {
      field = "double_data";
      have = t.double_data_size();
      data = reinterpret_cast<const uint8_t *>(t.double_data().data());
    } else if (dt == P::INT64) {
      field = "int64_data";
      have = t.int64_data_size();
      data = reinterpret_cast<const uint8_t *>(t.int64_data().data());
    } else if (dt == P::UINT64 || dt == P::UINT32) {
      field = "uint64_data";
      have = t.uint64_data_size();
      if (have == tb.numel && tb.numel > 0)
        data = dt == P::UINT64
                   ? reinterpret_cast<const uint8_t *>(t.uint64_data().data())
                   : narrow(t.uint64_data().data(), have, esize, st);
    } else {
      // INT32 as is; INT8/16, UINT8/16, BOOL, FLOAT16, BFLOAT16 (as bits)
      // widened to int32.
      field = "int32_data";
      have = t.int32_data_size();
      if (have == tb.numel && tb.numel > 0)
        data = dt == P::INT32
                   ? reinterpret_cast<const uint8_t *>(t.int32_data().data())
                   : narrow(t.int32_data().data(), have, esize, st);
    }
    if (have != tb.numel) {
      if (have == 0)
        fail(what + " has no data (needs " + std::to_string(tb.numel) +
             " values in raw_data or " + field + ")");
      fail(what + " has " + std::to_string(have) + " values in " + field +
           ", its shape needs " + std::to_string(tb.numel));
    }
    tb.data = tb.numel ? data : nullptr;
  }
  if (tb.nbytes == 0) {
    tb.data = nullptr;
  } else if (reinterpret_cast<uintptr_t>(tb.data) % esize != 0) {
    // Consumers read elements in place; keep them naturally aligned.
    uint8_t *copy = newBuffer(st, tb.nbytes);
    std::memcpy(copy, tb.data, tb.nbytes);
    tb.data = copy;
  }
  return tb;
}

//===----------------------------------------------------------------------===//
// Unknown fields
//===----------------------------------------------------------------------===//

std::vector<std::string> unknownMessageFields(const google::protobuf::Message &m,
                                              int field) {
  std::vector<std::string> out;
  const google::protobuf::UnknownFieldSet &u = m.GetReflection()->GetUnknownFields(m);
  for (int i = 0; i < u.field_count(); ++i)
    if (u.field(i).number() == field &&
        u.field(i).type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      out.push_back(u.field(i).length_delimited());
  return out;
}

std::string unknownStringField(const google::protobuf::Message &m, int field) {
  std::vector<std::string> all = unknownMessageFields(m, field);
  return all.empty() ? std::string() : all.back();
}

} // namespace ingot::onnximport
