// Tests for safetensors.cpp. Two independent sources of files: the committed
// fixture data/tiny.safetensors written by the Python `safetensors` package
// (data/make_tiny_safetensors.py; values repeated literally below), and files
// assembled byte by byte here, which also produce every malformed case.
#include "ingot/runtime/error.h"
#include "ingot/runtime/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdlib.h>

using namespace ingot;
namespace fs = std::filesystem;

namespace {

// [u64 LE header length][header][data].
std::string stBytes(const std::string &header, const std::string &data,
                    uint64_t declaredLen = UINT64_MAX) {
  uint64_t n = declaredLen == UINT64_MAX ? header.size() : declaredLen;
  std::string out;
  for (int i = 0; i < 8; ++i)
    out += char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

void writeBytes(const std::string &p, const std::string &b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << b;
}

std::string f32Bytes(std::initializer_list<float> v) {
  std::string s;
  for (float f : v)
    s.append(reinterpret_cast<const char *>(&f), 4);
  return s;
}

template <typename T> std::vector<T> values(const TensorView &t) {
  EXPECT_EQ(t.nbytes % sizeof(T), 0u);
  std::vector<T> v(t.nbytes / sizeof(T));
  if (t.nbytes)
    std::memcpy(v.data(), t.data, t.nbytes);
  return v;
}

class SafetensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ingot-st-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name) const { return dir_ + "/" + name; }

  void expectError(const std::string &bytes,
                   const std::vector<std::string> &fragments) {
    std::string p = path("bad.safetensors");
    writeBytes(p, bytes);
    try {
      SafetensorsFile::open(p);
      ADD_FAILURE() << "open succeeded";
    } catch (const Error &e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      for (const std::string &f : fragments)
        EXPECT_NE(msg.find(f), std::string::npos)
            << "missing '" << f << "' in: " << msg;
    }
  }
  void expectCheckpointError(const std::string &what,
                             const std::vector<std::string> &fragments) {
    try {
      Checkpoint::open(what);
      ADD_FAILURE() << "open succeeded";
    } catch (const Error &e) {
      std::string msg = e.what();
      for (const std::string &f : fragments)
        EXPECT_NE(msg.find(f), std::string::npos)
            << "missing '" << f << "' in: " << msg;
    }
  }
  std::string dir_;
};

TEST_F(SafetensorsTest, ReadsPythonWrittenFixture) {
  const std::string p =
      std::string(INGOT_SOURCE_DIR) + "/runtime/tests/data/tiny.safetensors";
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->tensors().size(), 8u); // __metadata__ is not a tensor
  EXPECT_EQ(f->find("__metadata__"), nullptr);

  const TensorView *a = f->find("a.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->numel(), 6);
  EXPECT_EQ(a->file, p);
  EXPECT_EQ(values<float>(*a),
            (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}));

  const TensorView *b = f->find("b.f16");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::F16);
  // IEEE half bit patterns of 1, -2, 0.5, 65504.
  EXPECT_EQ(values<uint16_t>(*b),
            (std::vector<uint16_t>{0x3c00, 0xc000, 0x3800, 0x7bff}));

  const TensorView *c = f->find("c.bf16");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->dtype, DType::BF16);
  EXPECT_EQ(c->shape, (std::vector<int64_t>{2, 2}));
  // bf16 of 1, -3, 0.15625, 256 (upper halves of the f32 patterns).
  EXPECT_EQ(values<uint16_t>(*c),
            (std::vector<uint16_t>{0x3f80, 0xc040, 0x3e20, 0x4380}));

  const TensorView *d = f->find("d.i64");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->dtype, DType::I64);
  EXPECT_EQ(values<int64_t>(*d),
            (std::vector<int64_t>{1, -2, int64_t(1) << 40}));

  const TensorView *e = f->find("e.i32");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype, DType::I32);
  EXPECT_EQ(values<int32_t>(*e), (std::vector<int32_t>{7, -8}));

  const TensorView *u = f->find("f.u8");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->dtype, DType::U8);
  EXPECT_EQ(values<uint8_t>(*u), (std::vector<uint8_t>{0, 1, 127, 200, 255}));

  const TensorView *s = f->find("scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel(), 1);
  EXPECT_EQ(values<float>(*s), (std::vector<float>{3.25f}));

  const TensorView *z = f->find("empty");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(z->numel(), 0);
  EXPECT_EQ(z->nbytes, 0u);

  // The same file as a checkpoint (single-file form).
  auto ck = Checkpoint::open(p);
  EXPECT_EQ(ck->tensorNames().size(), 8u);
  EXPECT_EQ(ck->get("e.i32").numel(), 2);
  auto files = ck->files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].first, "tiny.safetensors");
  EXPECT_EQ(files[0].second, fs::file_size(p));
}

TEST_F(SafetensorsTest, HandBuiltFile) {
  // Header padded with spaces, as writers may do; tensors out of order.
  std::string header =
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("__metadata__":{"k":"v"},)"
      R"("b":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}   )";
  std::string data = f32Bytes({5.0f, 6.0f, 1.5f, -2.0f});
  writeBytes(path("model.safetensors"), stBytes(header, data));

  auto ck = Checkpoint::open(dir_);
  EXPECT_EQ(ck->tensorNames(), (std::vector<std::string>{"b", "w"}));
  EXPECT_EQ(values<float>(ck->get("w")), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(values<float>(ck->get("b")), (std::vector<float>{5.0f, 6.0f}));
  EXPECT_EQ(ck->find("missing"), nullptr);
  try {
    ck->get("missing.weight");
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("missing.weight"), std::string::npos);
  }
  auto files = ck->files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].first, "model.safetensors");
  EXPECT_EQ(files[0].second, 8 + header.size() + data.size());
}

TEST_F(SafetensorsTest, MalformedFiles) {
  const std::string ok =
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data = f32Bytes({1, 2});

  expectError("", {"truncated", "0 bytes"});
  expectError(std::string("\x05\x00\x00", 3), {"truncated", "3 bytes"});
  expectError(stBytes(ok, data, 200000000), {"header length", "limit"});
  expectError(stBytes(ok, data, 5000), {"truncated", "5000"});
  expectError(stBytes(ok, data).substr(0, 30), {"truncated"});
  expectError(stBytes("{\"t\": [1, 2", data), {"not valid JSON"});
  expectError(stBytes("[1, 2, 3]", ""), {"not a JSON object"});
  expectError(
      stBytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})",
              data),
      {"tensor 't'", "beyond the data area"});
  expectError(
      stBytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,4]}})",
              data),
      {"tensor 't'", "begin > end"});
  expectError(
      stBytes(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
              data),
      {"tensor 't'", "holds 8 bytes", "needs 12"});
  expectError(
      stBytes(R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})",
              data),
      {"tensor 't'", "needs 4"});
  expectError(
      stBytes(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
              data),
      {"tensor 't'", "shape"});
  expectError(
      stBytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-1,7]}})",
              data),
      {"tensor 't'", "data_offsets"});
  expectError(stBytes(R"({"t":{"dtype":"F32","shape":[2]}})", data),
              {"tensor 't'", "data_offsets"});
  expectError(stBytes(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", data),
              {"tensor 't'", "dtype"});
  expectError(
      stBytes(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
              R"("data_offsets":[0,8]}})",
              data),
      {"tensor 't'", "overflow"});
  for (const char *dt : {"F8_E4M3", "F8_E5M2"})
    expectError(stBytes(std::string(R"({"t":{"dtype":")") + dt +
                            R"(","shape":[1],"data_offsets":[0,8]}})",
                        data),
                {"tensor 't'", dt, "does not support"});
  expectError(
      stBytes(R"({"t":{"dtype":"Q4","shape":[1],"data_offsets":[0,8]}})", data),
      {"tensor 't'", "unknown dtype", "Q4"});
  expectError(stBytes(R"({"t":5})", data), {"tensor 't'", "not a JSON object"});
}

TEST_F(SafetensorsTest, ShardedCheckpoint) {
  writeBytes(
      path("model-00001-of-00002.safetensors"),
      stBytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
              f32Bytes({1.0f})));
  writeBytes(
      path("model-00002-of-00002.safetensors"),
      stBytes(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
              f32Bytes({2.0f, 3.0f, 4.0f})));
  const std::string index = R"({"metadata":{"total_size":16},"weight_map":{
      "a":"model-00001-of-00002.safetensors",
      "b":"model-00002-of-00002.safetensors",
      "c":"model-00002-of-00002.safetensors"}})";
  writeBytes(path("model.safetensors.index.json"), index);
  // A stray model.safetensors must be ignored when an index exists.
  writeBytes(path("model.safetensors"), "garbage");

  auto ck = Checkpoint::open(dir_);
  EXPECT_EQ(ck->tensorNames(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(values<float>(ck->get("c")), (std::vector<float>{4.0f}));
  EXPECT_EQ(ck->get("a").file, path("model-00001-of-00002.safetensors"));
  auto files = ck->files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].first, "model-00001-of-00002.safetensors");
  EXPECT_EQ(files[1].first, "model-00002-of-00002.safetensors");

  // A tensor listed in the index but absent from its shard.
  writeBytes(path("model.safetensors.index.json"),
             R"({"weight_map":{"a":"model-00001-of-00002.safetensors",
                 "b":"model-00002-of-00002.safetensors",
                 "z":"model-00001-of-00002.safetensors"}})");
  expectCheckpointError(dir_, {"tensor 'z'", "model-00001-of-00002.safetensors",
                               "does not contain"});
  // Listed under the wrong shard.
  writeBytes(path("model.safetensors.index.json"),
             R"({"weight_map":{"a":"model-00002-of-00002.safetensors",
                 "b":"model-00002-of-00002.safetensors"}})");
  expectCheckpointError(dir_, {"tensor 'a'", "does not contain"});
  // A missing shard.
  writeBytes(path("model.safetensors.index.json"),
             R"({"weight_map":{"a":"model-00001-of-00002.safetensors",
                 "q":"model-00003-of-00003.safetensors"}})");
  expectCheckpointError(dir_, {"model-00003-of-00003.safetensors", "missing"});
  // Shard names may not escape the directory.
  writeBytes(path("model.safetensors.index.json"),
             R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})");
  expectCheckpointError(dir_, {"invalid shard"});
  // Bad index JSON.
  writeBytes(path("model.safetensors.index.json"), "{\"weight_map\": ");
  expectCheckpointError(dir_,
                        {"model.safetensors.index.json", "not valid JSON"});
  writeBytes(path("model.safetensors.index.json"), "{\"metadata\": {}}");
  expectCheckpointError(dir_, {"weight_map"});
  // The same tensor in two shards.
  writeBytes(
      path("model-00002-of-00002.safetensors"),
      stBytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
              f32Bytes({9.0f})));
  writeBytes(path("model.safetensors.index.json"),
             R"({"weight_map":{"a":"model-00001-of-00002.safetensors",
                 "x":"model-00002-of-00002.safetensors"}})");
  expectCheckpointError(dir_, {"tensor 'a'", "appears in both"});
  // A malformed shard is reported with its path.
  writeBytes(path("model-00002-of-00002.safetensors"), "tiny");
  expectCheckpointError(dir_,
                        {"model-00002-of-00002.safetensors", "truncated"});
}

TEST_F(SafetensorsTest, CheckpointErrors) {
  expectCheckpointError(dir_, {"neither model.safetensors nor"});
  expectCheckpointError(path("nothing-here"), {"does not exist"});
}

} // namespace
