// A bounded, validating, mmap-based safetensors reader: one file, or a
// sharded checkpoint through model.safetensors.index.json. Every header field
// is checked against the file size before use; errors name file and tensor.
#pragma once
#include "ingot/runtime/dtype.h"
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ingot {

struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr; // inside the mapping
  size_t nbytes = 0;
  std::string file;              // which file holds it
  int64_t numel() const;
};

class SafetensorsFile {
public:
  static std::unique_ptr<SafetensorsFile> open(const std::string &path);
  ~SafetensorsFile();
  const std::map<std::string, TensorView> &tensors() const { return tensors_; }
  const TensorView *find(const std::string &name) const;
  const std::string &path() const { return path_; }
  uint64_t fileSize() const { return size_; }

private:
  SafetensorsFile() = default;
  std::string path_;
  void *map_ = nullptr;
  uint64_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
};

// A checkpoint directory: config.json + model.safetensors, or
// model.safetensors.index.json + shards. Also accepts a single .safetensors
// file path.
class Checkpoint {
public:
  static std::unique_ptr<Checkpoint> open(const std::string &dirOrFile);
  // An in-memory checkpoint (e.g. an ONNX model's initializers): the views'
  // data points into memory that `keepAlive` owns; names must be unique.
  // dir() and files() are empty.
  static std::unique_ptr<Checkpoint> fromMemory(std::vector<TensorView> tensors,
                                                std::shared_ptr<void> keepAlive);
  const TensorView &get(const std::string &name) const; // throws naming it
  const TensorView *find(const std::string &name) const;
  std::vector<std::string> tensorNames() const;
  const std::string &dir() const { return dir_; }
  // Files (relative to dir) and their sizes, in a stable order.
  std::vector<std::pair<std::string, uint64_t>> files() const;

private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView *> index_;
  std::vector<TensorView> memTensors_;   // fromMemory only (never resized after)
  std::shared_ptr<void> keepAlive_;
};

// Writes `tensors` (name, dtype, shape, data, nbytes) as one safetensors file,
// atomically (temporary file + rename). Throws ingot::Error naming the path.
// (runtime/src/safetensors_write.cpp)
void writeSafetensors(const std::string &path, const std::vector<TensorView> &tensors);

} // namespace ingot
