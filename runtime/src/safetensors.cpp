// Safetensors reader: mmaps a file and validates its header completely before
// exposing any tensor. Format: [u64 LE header length N][N bytes of JSON]
// [data area]; each tensor's data_offsets are relative to the data area.
// Invariants after open(): every TensorView lies inside the mapping, its
// byte size equals numel * element size (no overflow), and its dtype is one
// Ingot supports. Tensor data is NOT necessarily aligned (the header length
// is arbitrary): consumers read it with memcpy (see convertToF32).
// Checkpoint adds sharded checkpoints (model.safetensors.index.json).
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ingot {
namespace {

// Same bound as the reference implementation: a header this large is a
// corrupted length field, not a real checkpoint.
constexpr uint64_t kMaxHeaderBytes = 100000000;

using json = nlohmann::json;

bool isDirectory(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool isFile(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::string joinPath(const std::string &dir, const std::string &name) {
  if (dir.empty())
    return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}
std::string parentDir(const std::string &p) {
  size_t slash = p.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return p.substr(0, slash);
}

// Maps a safetensors dtype string; throws for ones Ingot does not support.
DType parseSafetensorsDType(const std::string &s, const std::string &where) {
  static const std::pair<const char *, DType> supported[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I32", DType::I32}, {"I64", DType::I64}, {"U8", DType::U8},
      {"F64", DType::F64}, {"I8", DType::I8},   {"I16", DType::I16},
      {"U16", DType::U16}, {"U32", DType::U32}, {"U64", DType::U64},
      {"BOOL", DType::Bool}};
  for (const auto &p : supported)
    if (s == p.first)
      return p.second;
  static const char *known[] = {"F8_E4M3", "F8_E5M2"};
  for (const char *k : known)
    if (s == k)
      throw Error(where + " has dtype " + s +
                  ", which Ingot does not support (supported: F32, F16, BF16, "
                  "F64, I8, I16, I32, I64, U8, U16, U32, U64, BOOL)");
  throw Error(where + " has unknown dtype \"" + s + "\"");
}

// a * b with overflow detection (both non-negative).
bool mulOverflows(uint64_t a, uint64_t b, uint64_t &out) {
  if (a != 0 && b > UINT64_MAX / a)
    return true;
  out = a * b;
  return false;
}

} // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_)
    ::munmap(map_, size_t(size_));
}

std::unique_ptr<SafetensorsFile>
SafetensorsFile::open(const std::string &path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  const std::string where = "safetensors file '" + path + "'";

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot open safetensors file '" + path +
                "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(where + " is not a regular file");
  }
  const uint64_t size = uint64_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw Error(where + " is truncated: " + std::to_string(size) +
                " bytes, too small for the 8-byte header length");
  }
  void *m = ::mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
  int savedErrno = errno;
  ::close(fd);
  if (m == MAP_FAILED)
    throw Error("cannot mmap safetensors file '" + path +
                "': " + std::strerror(savedErrno));
  f->map_ = m;
  f->size_ = size;
  const uint8_t *base = static_cast<const uint8_t *>(m);

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) // little-endian u64, host-endianness agnostic
    n = (n << 8) | base[i];
  if (n > kMaxHeaderBytes)
    throw Error(where + " has a header length of " + std::to_string(n) +
                " bytes, over the " + std::to_string(kMaxHeaderBytes) +
                "-byte limit (not a safetensors file, or corrupted)");
  if (n > size - 8)
    throw Error(where + " is truncated: the header length says " +
                std::to_string(n) + " bytes but only " +
                std::to_string(size - 8) + " follow");
  const uint8_t *dataArea = base + 8 + n;
  const uint64_t dataSize = size - 8 - n;

  json header;
  try {
    header = json::parse(base + 8, base + 8 + n);
  } catch (const json::exception &e) {
    throw Error(where + " has a header that is not valid JSON: " + e.what());
  }
  if (!header.is_object())
    throw Error(where + " has a header that is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string &name = it.key();
    if (name == "__metadata__")
      continue;
    const std::string tw = where + ": tensor '" + name + "'";
    const json &t = it.value();
    if (!t.is_object())
      throw Error(tw + " is not a JSON object");
    auto dt = t.find("dtype");
    auto sh = t.find("shape");
    auto off = t.find("data_offsets");
    if (dt == t.end() || !dt->is_string())
      throw Error(tw + " has no string \"dtype\"");
    if (sh == t.end() || !sh->is_array())
      throw Error(tw + " has no array \"shape\"");
    if (off == t.end() || !off->is_array() || off->size() != 2)
      throw Error(tw + " has no two-element \"data_offsets\"");

    TensorView v;
    v.name = name;
    v.file = path;
    v.dtype = parseSafetensorsDType(dt->get<std::string>(), tw);
    uint64_t numel = 1;
    for (const json &d : *sh) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw Error(tw + " has an invalid shape " + sh->dump() +
                    " (dimensions must be non-negative integers)");
      uint64_t dim = d.get<uint64_t>();
      if (dim > uint64_t(INT64_MAX) || mulOverflows(numel, dim, numel))
        throw Error(tw + " has a shape " + sh->dump() + " that overflows");
      v.shape.push_back(int64_t(dim));
    }
    for (const json &o : *off)
      if (!o.is_number_unsigned()) // negative numbers parse as signed
        throw Error(tw + " has invalid data_offsets " + off->dump());
    const uint64_t begin = (*off)[0].get<uint64_t>();
    const uint64_t end = (*off)[1].get<uint64_t>();
    if (begin > end)
      throw Error(tw + " has data_offsets " + off->dump() +
                  " with begin > end");
    if (end > dataSize)
      throw Error(tw + " has data_offsets " + off->dump() +
                  " beyond the data area (" + std::to_string(dataSize) +
                  " bytes); the file is truncated or corrupted");
    uint64_t expect = 0;
    const bool tooBig = mulOverflows(numel, dtypeSize(v.dtype), expect);
    if (tooBig || end - begin != expect)
      throw Error(
          tw + " holds " + std::to_string(end - begin) + " bytes but shape " +
          sh->dump() + " of " + dt->get<std::string>() + " needs " +
          (tooBig ? std::string("more than 2^64") : std::to_string(expect)));
    v.data = dataArea + begin;
    v.nbytes = size_t(end - begin);
    f->tensors_.emplace(name, std::move(v));
  }
  return f;
}

const TensorView *SafetensorsFile::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

// ------------------------------------------------------------- Checkpoint --

std::unique_ptr<Checkpoint> Checkpoint::fromMemory(std::vector<TensorView> tensors,
                                                   std::shared_ptr<void> keepAlive) {
  std::unique_ptr<Checkpoint> c(new Checkpoint());
  c->memTensors_ = std::move(tensors);
  c->keepAlive_ = std::move(keepAlive);
  for (const TensorView &v : c->memTensors_) {
    INGOT_CHECK(v.nbytes == size_t(v.numel()) * dtypeSize(v.dtype),
                "in-memory tensor '" + v.name + "' has " + std::to_string(v.nbytes) +
                    " bytes, its dtype and shape need " +
                    std::to_string(size_t(v.numel()) * dtypeSize(v.dtype)));
    INGOT_CHECK(c->index_.emplace(v.name, &v).second,
                "in-memory tensor '" + v.name + "' is defined twice");
  }
  return c;
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string &dirOrFile) {
  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  std::vector<std::string> shardNames; // relative to dir_, sorted
  json weightMap;
  bool indexed = false;
  std::string indexPath;

  if (isDirectory(dirOrFile)) {
    ck->dir_ = dirOrFile;
    indexPath = joinPath(dirOrFile, "model.safetensors.index.json");
    const std::string single = joinPath(dirOrFile, "model.safetensors");
    if (isFile(indexPath)) {
      indexed = true;
      std::ifstream in(indexPath);
      if (!in)
        throw Error("cannot read '" + indexPath + "'");
      std::stringstream ss;
      ss << in.rdbuf();
      json idx;
      try {
        idx = json::parse(ss.str());
      } catch (const json::exception &e) {
        throw Error("'" + indexPath + "' is not valid JSON: " + e.what());
      }
      if (!idx.is_object() || !idx.contains("weight_map") ||
          !idx["weight_map"].is_object())
        throw Error("'" + indexPath + "' has no \"weight_map\" object");
      weightMap = idx["weight_map"];
      std::set<std::string> names;
      for (auto it = weightMap.begin(); it != weightMap.end(); ++it) {
        if (!it.value().is_string())
          throw Error("'" + indexPath + "': weight_map entry '" + it.key() +
                      "' is not a file name");
        const std::string shard = it.value().get<std::string>();
        // Shards live in the checkpoint directory; refuse paths escaping it.
        if (shard.empty() || shard[0] == '/' || shard == ".." ||
            shard.compare(0, 3, "../") == 0 ||
            shard.find("/../") != std::string::npos ||
            (shard.size() >= 3 &&
             shard.compare(shard.size() - 3, 3, "/..") == 0))
          throw Error("'" + indexPath + "': tensor '" + it.key() +
                      "' names an invalid shard file '" + shard + "'");
        names.insert(shard);
      }
      shardNames.assign(names.begin(), names.end());
      for (const std::string &s : shardNames)
        if (!isFile(joinPath(dirOrFile, s)))
          throw Error("checkpoint '" + dirOrFile + "': shard '" + s +
                      "' listed in model.safetensors.index.json is missing");
    } else if (isFile(single)) {
      shardNames.push_back("model.safetensors");
    } else {
      throw Error("checkpoint directory '" + dirOrFile +
                  "' has neither model.safetensors nor "
                  "model.safetensors.index.json");
    }
  } else if (isFile(dirOrFile)) {
    ck->dir_ = parentDir(dirOrFile);
    size_t slash = dirOrFile.find_last_of('/');
    shardNames.push_back(
        slash == std::string::npos ? dirOrFile : dirOrFile.substr(slash + 1));
  } else {
    throw Error("checkpoint '" + dirOrFile + "' does not exist");
  }

  for (const std::string &s : shardNames) {
    ck->files_.push_back(SafetensorsFile::open(joinPath(ck->dir_, s)));
    const SafetensorsFile &f = *ck->files_.back();
    for (const auto &kv : f.tensors()) {
      auto ins = ck->index_.emplace(kv.first, &kv.second);
      if (!ins.second)
        throw Error("checkpoint '" + dirOrFile + "': tensor '" + kv.first +
                    "' appears in both '" + ins.first->second->file +
                    "' and '" + f.path() + "'");
    }
  }
  if (indexed) {
    for (auto it = weightMap.begin(); it != weightMap.end(); ++it) {
      const std::string expect =
          joinPath(ck->dir_, it.value().get<std::string>());
      auto found = ck->index_.find(it.key());
      if (found == ck->index_.end() || found->second->file != expect)
        throw Error("checkpoint '" + dirOrFile + "': tensor '" + it.key() +
                    "' is listed in model.safetensors.index.json under '" +
                    it.value().get<std::string>() +
                    "' but that shard does "
                    "not contain it");
    }
  }
  return ck;
}

const TensorView *Checkpoint::find(const std::string &name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView &Checkpoint::get(const std::string &name) const {
  const TensorView *t = find(name);
  if (!t)
    throw Error("tensor '" + name + "' not found in checkpoint '" + dir_ + "'");
  return *t;
}

std::vector<std::string> Checkpoint::tensorNames() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto &kv : index_)
    names.push_back(kv.first);
  return names;
}

std::vector<std::pair<std::string, uint64_t>> Checkpoint::files() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto &f : files_) {
    std::string rel = f->path();
    const std::string prefix = joinPath(dir_, "");
    if (rel.compare(0, prefix.size(), prefix) == 0)
      rel = rel.substr(prefix.size());
    out.emplace_back(rel, f->fileSize());
  }
  return out;
}

} // namespace ingot
