// Tests for weights.cpp: each transform against literal expected tensors
// (worked out by hand), a larger transpose/slice against index formulas, and
// the error paths (which must name the weight and the source tensor).
#include "ingot/runtime/error.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/runtime/weights.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdlib.h>

using namespace ingot;
namespace fs = std::filesystem;

namespace {

struct Src {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

template <typename T> std::string raw(const std::vector<T> &v) {
  return std::string(reinterpret_cast<const char *>(v.data()),
                     v.size() * sizeof(T));
}

// Writes a safetensors file byte by byte (independent of the reader).
void writeSafetensors(const std::string &path, const std::vector<Src> &srcs) {
  std::string header = "{", data;
  for (const Src &s : srcs) {
    if (header.size() > 1)
      header += ",";
    header += "\"" + s.name + "\":{\"dtype\":\"" + s.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < s.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(s.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + s.bytes.size()) + "]}";
    data += s.bytes;
  }
  header += "}";
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out.put(char((n >> (8 * i)) & 0xff));
  out << header << data;
}

template <typename T> std::vector<T> as(const HostTensor &t) {
  std::vector<T> v(t.bytes.size() / sizeof(T));
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

WeightTransformSpec tf(WeightTransformKind k, int axis = 0, int64_t start = 0,
                       int64_t size = 0, DType dt = DType::F32) {
  WeightTransformSpec s;
  s.kind = k;
  s.axis = axis;
  s.start = start;
  s.size = size;
  s.dtype = dt;
  return s;
}

constexpr int kBigR = 70, kBigC = 45; // not multiples of the transpose tile

class WeightsTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ingot-w-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::vector<float> big(kBigR * kBigC);
    for (int i = 0; i < kBigR * kBigC; ++i)
      big[i] = float(i);
    writeSafetensors(
        dir_ + "/model.safetensors",
        {
            // [[1,2,3],[4,5,6]]
            {"m23", "F32", {2, 3}, raw<float>({1, 2, 3, 4, 5, 6})},
            // [[7,8,9]]
            {"m13", "F32", {1, 3}, raw<float>({7, 8, 9})},
            // [[10],[11]]
            {"m21", "F32", {2, 1}, raw<float>({10, 11})},
            {"v1", "F32", {2}, raw<float>({1, 2})},
            {"v2", "F32", {2}, raw<float>({3, 4})},
            {"v3", "F32", {2}, raw<float>({5, 6})},
            // f16 [0.5, -1, 2] and [[100, 0.25, -0.5]]
            {"h3", "F16", {3}, raw<uint16_t>({0x3800, 0xbc00, 0x4000})},
            {"h13", "F16", {1, 3}, raw<uint16_t>({0x5640, 0x3400, 0xb800})},
            // bf16 [1, -3]
            {"b2", "BF16", {2}, raw<uint16_t>({0x3f80, 0xc040})},
            {"i2", "I32", {2}, raw<int32_t>({1, 2})},
            {"cube", "F32", {2, 2, 2}, raw<float>({0, 1, 2, 3, 4, 5, 6, 7})},
            {"big", "F32", {kBigR, kBigC}, raw<float>(big)},
        });
    ck_ = Checkpoint::open(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  HostTensor run(std::vector<std::string> sources,
                 std::vector<WeightTransformSpec> transforms) {
    WeightSpec spec{"w", std::move(sources), std::move(transforms)};
    DType dt;
    std::vector<int64_t> shape;
    inferWeightShape(*ck_, spec, dt, shape);
    HostTensor t = materializeWeight(*ck_, spec);
    EXPECT_EQ(t.dtype, dt);
    EXPECT_EQ(t.shape, shape);
    EXPECT_EQ(t.bytes.size(), size_t(t.numel()) * dtypeSize(t.dtype));
    return t;
  }
  void expectError(std::vector<std::string> sources,
                   std::vector<WeightTransformSpec> transforms,
                   const std::vector<std::string> &fragments) {
    WeightSpec spec{"layers.0.qkv", std::move(sources), std::move(transforms)};
    try {
      materializeWeight(*ck_, spec);
      ADD_FAILURE() << "materializeWeight succeeded";
    } catch (const Error &e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("weight 'layers.0.qkv'"), std::string::npos) << msg;
      for (const std::string &f : fragments)
        EXPECT_NE(msg.find(f), std::string::npos)
            << "missing '" << f << "' in: " << msg;
    }
    DType dt;
    std::vector<int64_t> shape;
    EXPECT_THROW(inferWeightShape(*ck_, spec, dt, shape), Error);
  }

  std::string dir_;
  std::unique_ptr<Checkpoint> ck_;
};

using K = WeightTransformKind;

TEST_F(WeightsTest, Identity) {
  HostTensor t = run({"m23"}, {});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(as<float>(t), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST_F(WeightsTest, Transpose) {
  HostTensor t = run({"m23"}, {tf(K::Transpose)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(as<float>(t), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  HostTensor h = run({"h13"}, {tf(K::Transpose)});
  EXPECT_EQ(h.shape, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(as<uint16_t>(h), (std::vector<uint16_t>{0x5640, 0x3400, 0xb800}));

  HostTensor b = run({"big"}, {tf(K::Transpose)});
  ASSERT_EQ(b.shape, (std::vector<int64_t>{kBigC, kBigR}));
  auto v = as<float>(b);
  for (int c = 0; c < kBigC; ++c)
    for (int r = 0; r < kBigR; ++r)
      ASSERT_EQ(v[c * kBigR + r], float(r * kBigC + c)) << r << "," << c;
}

TEST_F(WeightsTest, Concat) {
  HostTensor t = run({"m23", "m13"}, {tf(K::Concat, 0)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(as<float>(t), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}));

  t = run({"m23", "m21"}, {tf(K::Concat, 1)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(as<float>(t), (std::vector<float>{1, 2, 3, 10, 4, 5, 6, 11}));
  t = run({"m21", "m23", "m21"}, {tf(K::Concat, -1)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(as<float>(t),
            (std::vector<float>{10, 1, 2, 3, 10, 11, 4, 5, 6, 11}));

  // A middle axis of a 3-D tensor.
  t = run({"cube", "cube"}, {tf(K::Concat, 1)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 4, 2}));
  EXPECT_EQ(as<float>(t), (std::vector<float>{0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6,
                                              7, 4, 5, 6, 7}));
  // Mixed dtypes: converted to the first source's dtype.
  t = run({"m13", "h13"}, {tf(K::Concat, 0)});
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(as<float>(t), (std::vector<float>{7, 8, 9, 100, 0.25f, -0.5f}));
  t = run({"h13", "m13"}, {tf(K::Concat, 0)});
  EXPECT_EQ(t.dtype, DType::F16);
  // 7, 8, 9 as halves: 0x4700, 0x4800, 0x4880.
  EXPECT_EQ(as<uint16_t>(t), (std::vector<uint16_t>{0x5640, 0x3400, 0xb800,
                                                    0x4700, 0x4800, 0x4880}));
}

TEST_F(WeightsTest, Stack) {
  HostTensor t = run({"v1", "v2", "v3"}, {tf(K::Stack)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(as<float>(t), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // Stack then transpose: [2, 3].
  t = run({"v1", "v2", "v3"}, {tf(K::Stack), tf(K::Transpose)});
  EXPECT_EQ(as<float>(t), (std::vector<float>{1, 3, 5, 2, 4, 6}));
  t = run({"v1", "b2"}, {tf(K::Stack)});
  EXPECT_EQ(as<float>(t), (std::vector<float>{1, 2, 1, -3}));
}

TEST_F(WeightsTest, Slice) {
  HostTensor t = run({"m23"}, {tf(K::Slice, 1, 1, 2)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(as<float>(t), (std::vector<float>{2, 3, 5, 6}));
  t = run({"m23"}, {tf(K::Slice, 0, 1, 1)});
  EXPECT_EQ(as<float>(t), (std::vector<float>{4, 5, 6}));
  t = run({"m23"}, {tf(K::Slice, -1, 3, 0)});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 0}));
  EXPECT_TRUE(t.bytes.empty());
  // Concat then slice back out (what splitting fused QKV looks like).
  t = run({"m23", "m13"}, {tf(K::Concat, 0), tf(K::Slice, 0, 2, 1)});
  EXPECT_EQ(as<float>(t), (std::vector<float>{7, 8, 9}));

  t = run({"big"}, {tf(K::Slice, 1, 7, 20), tf(K::Slice, 0, 33, 30)});
  ASSERT_EQ(t.shape, (std::vector<int64_t>{30, 20}));
  auto v = as<float>(t);
  for (int r = 0; r < 30; ++r)
    for (int c = 0; c < 20; ++c)
      ASSERT_EQ(v[r * 20 + c], float((r + 33) * kBigC + (c + 7)));
}

TEST_F(WeightsTest, Cast) {
  HostTensor t = run({"m23"}, {tf(K::Cast, 0, 0, 0, DType::F16)});
  EXPECT_EQ(t.dtype, DType::F16);
  EXPECT_EQ(as<uint16_t>(t), (std::vector<uint16_t>{0x3c00, 0x4000, 0x4200,
                                                    0x4400, 0x4500, 0x4600}));
  t = run({"m23"}, {tf(K::Cast, 0, 0, 0, DType::BF16)});
  EXPECT_EQ(as<uint16_t>(t), (std::vector<uint16_t>{0x3f80, 0x4000, 0x4040,
                                                    0x4080, 0x40a0, 0x40c0}));
  t = run({"h3"}, {tf(K::Cast, 0, 0, 0, DType::F32)});
  EXPECT_EQ(as<float>(t), (std::vector<float>{0.5f, -1.0f, 2.0f}));
  t = run({"b2"}, {tf(K::Cast, 0, 0, 0, DType::F16)});
  EXPECT_EQ(as<uint16_t>(t), (std::vector<uint16_t>{0x3c00, 0xc200}));
  t = run({"i2"}, {tf(K::Cast, 0, 0, 0, DType::I32)}); // same type: no-op
  EXPECT_EQ(as<int32_t>(t), (std::vector<int32_t>{1, 2}));
}

TEST_F(WeightsTest, Errors) {
  expectError({"nope"}, {}, {"source tensor 'nope'"});
  expectError({"m23", "nope"}, {tf(K::Concat, 0)}, {"source tensor 'nope'"});
  expectError({"m23", "m13"}, {}, {"2 source tensors"});
  expectError({}, {}, {"no source"});
  expectError({"m23", "m21"}, {tf(K::Concat, 0)},
              {"source tensor 'm21'", "[2, 1]"});
  expectError({"m23", "m13"}, {tf(K::Concat, 2)}, {"axis 2"});
  expectError({"v1", "m13"}, {tf(K::Stack)}, {"source tensor 'm13'"});
  expectError({"v1", "i2"}, {tf(K::Stack)}, {"source tensor 'i2'", "i32"});
  expectError({"m23"}, {tf(K::Transpose), tf(K::Concat, 0)},
              {"first transform"});
  expectError({"v1"}, {tf(K::Transpose)}, {"2-D"});
  expectError({"cube"}, {tf(K::Transpose)}, {"2-D"});
  expectError({"m23"}, {tf(K::Slice, 1, 2, 2)}, {"out of bounds"});
  expectError({"m23"}, {tf(K::Slice, 1, -1, 1)}, {"out of bounds"});
  expectError({"m23"}, {tf(K::Slice, 3, 0, 1)}, {"axis 3"});
  expectError({"i2"}, {tf(K::Cast, 0, 0, 0, DType::F32)}, {"cannot cast i32"});
  expectError({"m23"}, {tf(K::Cast, 0, 0, 0, DType::I64)}, {"cannot cast f32"});
}

} // namespace
