// Tests for plan_file.cpp. Besides writer/reader round trips, the reader is
// fed containers assembled here by hand (rawPlan below, its own layout code
// and XXH3 calls), so the reader is checked against an independent writer and
// each error path (magic, versions, target, bounds, checksums, verification)
// is reached with a file that is otherwise valid.
#include "ingot/runtime/error.h"
#include "ingot/runtime/plan.h"
#include "ingot/schema/plan_file_generated.h"
#include "ingot/schema/plan_generated.h"

#include <gtest/gtest.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <stdlib.h>

using namespace ingot;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> makeProgram(const std::string &modelType = "llama",
                                 int64_t vocab = 32000) {
  flatbuffers::FlatBufferBuilder fbb;
  auto model = plan::CreateModelConfigDirect(fbb, modelType.c_str(), "Llama",
                                             vocab, 64, 2, 128);
  auto tok = plan::CreateTokenizerDirect(fbb, "{\"model\":{}}", "");
  plan::PlanBuilder pb(fbb);
  pb.add_model(model);
  pb.add_tokenizer(tok);
  pb.add_token_input(0);
  pb.add_logits_output(7);
  plan::FinishPlanBuffer(fbb, pb.Finish());
  return std::vector<uint8_t>(fbb.GetBufferPointer(),
                              fbb.GetBufferPointer() + fbb.GetSize());
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = uint8_t(i * 31 + seed + (i >> 8));
  return v;
}

std::vector<uint8_t> readFile(const std::string &p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}
void writeFile(const std::string &p, const std::vector<uint8_t> &b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(b.data()),
            std::streamsize(b.size()));
}

// An independent plan container writer: explicit offsets, optional damage.
struct RawSection {
  std::string name;
  uint64_t offset;
  std::vector<uint8_t> data;
  bool badChecksum = false;
};
std::vector<uint8_t> rawPlan(uint32_t formatVersion, uint32_t schemaVersion,
                             const std::string &target,
                             const std::vector<RawSection> &secs) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<plan::Section>> offs;
  uint64_t end = 0;
  for (const RawSection &s : secs) {
    uint64_t h = XXH3_64bits(s.data.data(), s.data.size());
    if (s.badChecksum)
      h ^= 1;
    offs.push_back(plan::CreateSectionDirect(fbb, s.name.c_str(), s.offset,
                                             s.data.size(), h));
    end = std::max<uint64_t>(end, s.offset + s.data.size());
  }
  auto hdr = plan::CreateFileHeaderDirect(fbb, formatVersion, schemaVersion,
                                          target.c_str(), "test", &offs);
  fbb.FinishSizePrefixed(hdr, "IGPL");
  std::vector<uint8_t> file(std::max<uint64_t>(end, fbb.GetSize()));
  EXPECT_LE(fbb.GetSize(), secs.empty() ? file.size() : secs[0].offset)
      << "test layout: header overlaps the first section";
  for (const RawSection &s : secs)
    std::memcpy(file.data() + s.offset, s.data.data(), s.data.size());
  // Header last, so a section deliberately placed over it cannot clobber it.
  std::memcpy(file.data(), fbb.GetBufferPointer(), fbb.GetSize());
  return file;
}

// Expects PlanFile::open to throw an ingot::Error whose message names the
// path and contains every fragment.
void expectOpenError(const std::string &path,
                     const std::vector<std::string> &fragments,
                     const PlanLoadOptions &opts = {}) {
  try {
    PlanFile::open(path, opts);
    ADD_FAILURE() << "open(" << path << ") succeeded";
  } catch (const Error &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const std::string &f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos)
          << "missing '" << f << "' in: " << msg;
  }
}

class PlanFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ingot-plan-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name) const { return dir_ + "/" + name; }

  // Writes a plan through writePlanFile; weights streamed in odd chunks.
  void write(const std::string &p, const std::vector<uint8_t> &prog,
             const std::vector<uint8_t> &weights,
             const std::string &target = "cpu") {
    PlanWriteRequest req;
    req.target = target;
    req.producer = "ingotc test";
    req.program = prog.data();
    req.programSize = prog.size();
    req.weightsSize = weights.size();
    if (!weights.empty())
      req.writeWeights =
          [&](const std::function<void(const void *, size_t)> &sink) {
            for (size_t i = 0; i < weights.size(); i += 1000)
              sink(weights.data() + i,
                   std::min<size_t>(1000, weights.size() - i));
          };
    writePlanFile(p, req);
  }
  std::string dir_;
};

TEST_F(PlanFileTest, RoundTripWithWeights) {
  auto prog = makeProgram("qwen2", 151936);
  auto weights = pattern(10000, 3);
  std::string p = path("m.plan");
  write(p, prog, weights);
  EXPECT_FALSE(fs::exists(p + ".tmp"));

  auto pf = PlanFile::open(p, {true, "cpu"});
  EXPECT_EQ(pf->target(), "cpu");
  EXPECT_EQ(pf->path(), p);
  EXPECT_EQ(pf->header().producer()->str(), "ingotc test");
  EXPECT_EQ(pf->header().format_version(), kPlanFormatVersion);
  EXPECT_EQ(pf->header().schema_version(), kPlanSchemaVersion);
  EXPECT_EQ(pf->program().model()->model_type()->str(), "qwen2");
  EXPECT_EQ(pf->program().model()->vocab_size(), 151936);
  EXPECT_EQ(pf->program().logits_output(), 7);
  ASSERT_NE(pf->weightsData(), nullptr);
  ASSERT_EQ(pf->weightsSize(), weights.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pf->weightsData()) % kWeightAlignment,
            0u);
  EXPECT_EQ(std::memcmp(pf->weightsData(), weights.data(), weights.size()), 0);
  EXPECT_EQ(pf->fileSize(), fs::file_size(p));

  // Inspect the raw bytes independently of the reader.
  auto raw = readFile(p);
  uint32_t prefix;
  std::memcpy(&prefix, raw.data(), 4);
  EXPECT_LT(prefix + 4u, raw.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(raw.data() + 8), 4),
            "IGPL");
  const plan::FileHeader *h = plan::GetSizePrefixedFileHeader(raw.data());
  ASSERT_EQ(h->sections()->size(), 2u);
  for (const plan::Section *s : *h->sections()) {
    EXPECT_EQ(s->offset() % 64, 0u) << s->name()->str();
    EXPECT_GE(s->offset(), prefix + 4u);
    EXPECT_EQ(XXH3_64bits(raw.data() + s->offset(), s->size()), s->xxh3());
    if (s->name()->str() == "weights") {
      EXPECT_EQ(s->offset() % 4096, 0u);
      EXPECT_EQ(s->size(), weights.size());
    } else {
      EXPECT_EQ(s->name()->str(), "program");
      EXPECT_EQ(std::memcmp(raw.data() + s->offset(), prog.data(), prog.size()),
                0);
    }
  }
}

TEST_F(PlanFileTest, RoundTripWithoutWeights) {
  auto prog = makeProgram();
  std::string p = path("ext.plan");
  write(p, prog, {});
  auto pf = PlanFile::open(p);
  EXPECT_EQ(pf->weightsData(), nullptr);
  EXPECT_EQ(pf->weightsSize(), 0u);
  EXPECT_EQ(pf->program().model()->vocab_size(), 32000);
  EXPECT_EQ(pf->header().sections()->size(), 1u);
}

TEST_F(PlanFileTest, HandBuiltContainerIsAccepted) {
  auto prog = makeProgram("gpt2");
  std::string p = path("raw.plan");
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu",
                       {{"program", 256, prog},
                        {"weights", 8192, pattern(100, 1)},
                        {"future-extra", 9024, pattern(10, 2)}}));
  auto pf = PlanFile::open(p);
  EXPECT_EQ(pf->program().model()->model_type()->str(), "gpt2");
  EXPECT_EQ(pf->weightsSize(), 100u);
  EXPECT_EQ(pf->weightsData()[5], pattern(100, 1)[5]);
}

TEST_F(PlanFileTest, FailedWriteKeepsOldPlan) {
  auto progA = makeProgram("a");
  std::string p = path("m.plan");
  write(p, progA, pattern(5000, 1));
  auto before = readFile(p);

  auto progB = makeProgram("b");
  PlanWriteRequest req;
  req.program = progB.data();
  req.programSize = progB.size();
  req.weightsSize = 5000;
  req.writeWeights = [](const std::function<void(const void *, size_t)> &sink) {
    std::vector<uint8_t> chunk(1000, 7);
    sink(chunk.data(), chunk.size());
    throw std::runtime_error("converter failed");
  };
  EXPECT_THROW(writePlanFile(p, req), std::runtime_error);
  EXPECT_EQ(readFile(p), before);
  EXPECT_FALSE(fs::exists(p + ".tmp"));

  // Short weights: an ingot::Error, and again nothing replaced.
  req.writeWeights = [](const std::function<void(const void *, size_t)> &sink) {
    std::vector<uint8_t> chunk(4000, 7);
    sink(chunk.data(), chunk.size());
  };
  EXPECT_THROW(writePlanFile(p, req), Error);
  // Too many weights.
  req.writeWeights = [](const std::function<void(const void *, size_t)> &sink) {
    std::vector<uint8_t> chunk(6000, 7);
    sink(chunk.data(), chunk.size());
  };
  EXPECT_THROW(writePlanFile(p, req), Error);
  EXPECT_EQ(readFile(p), before);
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  EXPECT_EQ(PlanFile::open(p)->program().model()->model_type()->str(), "a");
}

TEST_F(PlanFileTest, WriterRejectsBadProgram) {
  std::vector<uint8_t> junk(64, 0x11);
  PlanWriteRequest req;
  req.program = junk.data();
  req.programSize = junk.size();
  EXPECT_THROW(writePlanFile(path("bad.plan"), req), Error);
  EXPECT_FALSE(fs::exists(path("bad.plan")));
  req.program = nullptr;
  EXPECT_THROW(writePlanFile(path("bad.plan"), req), Error);
}

TEST_F(PlanFileTest, MissingFile) {
  expectOpenError(path("nope.plan"), {"cannot open"});
}

TEST_F(PlanFileTest, WrongMagic) {
  std::string p = path("m.plan");
  write(p, makeProgram(), pattern(100, 0));
  auto raw = readFile(p);
  raw[8] = 'X';
  writeFile(p, raw);
  expectOpenError(p, {"not an Ingot plan", "IGPL", "XGPL"});

  // A safetensors file (or anything else) is refused the same way.
  writeFile(p, std::vector<uint8_t>(100, 0x20));
  expectOpenError(p, {"not an Ingot plan"});
  // A bare program FlatBuffer gets a hint.
  writeFile(p, makeProgram());
  expectOpenError(p, {"not an Ingot plan", "bare program"});
}

TEST_F(PlanFileTest, Truncated) {
  std::string p = path("m.plan");
  write(p, makeProgram(), pattern(10000, 0));
  auto raw = readFile(p);

  writeFile(p, std::vector<uint8_t>(raw.begin(), raw.begin() + 5));
  expectOpenError(p, {"truncated", "5 bytes"});
  writeFile(p, std::vector<uint8_t>());
  expectOpenError(p, {"truncated"});
  writeFile(p, std::vector<uint8_t>(raw.begin(), raw.begin() + 20));
  expectOpenError(p, {"truncated", "header"});
  writeFile(p, std::vector<uint8_t>(raw.begin(), raw.end() - 1));
  expectOpenError(p, {"truncated", "section 'weights'"});
  writeFile(p, std::vector<uint8_t>(raw.begin(), raw.begin() + 300));
  expectOpenError(p, {"truncated", "section '"});
}

TEST_F(PlanFileTest, CorruptedHeaderSize) {
  std::string p = path("m.plan");
  write(p, makeProgram(), {});
  auto raw = readFile(p);
  uint32_t huge = 0xfffffff0u;
  std::memcpy(raw.data(), &huge, 4);
  writeFile(p, raw);
  expectOpenError(p, {"corrupted header", "size prefix"});
  // A plausible but wrong prefix fails FlatBuffer verification.
  raw = readFile(p);
  uint32_t small = 12;
  std::memcpy(raw.data(), &small, 4);
  writeFile(p, raw);
  expectOpenError(p, {"corrupted header"});
}

TEST_F(PlanFileTest, WrongVersions) {
  auto prog = makeProgram();
  std::string p = path("v.plan");
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion + 98, "cpu",
                       {{"program", 256, prog}}));
  expectOpenError(
      p, {"schema version " + std::to_string(kPlanSchemaVersion + 98),
          "supports schema version " + std::to_string(kPlanSchemaVersion),
          "recompile the model with an ingotc of the same release"});
  writeFile(p, rawPlan(kPlanFormatVersion + 1, kPlanSchemaVersion, "cpu",
                       {{"program", 256, prog}}));
  expectOpenError(p,
                  {"format version " + std::to_string(kPlanFormatVersion + 1),
                   "reads version " + std::to_string(kPlanFormatVersion),
                   "recompile the model with an ingotc of the same release"});
}

TEST_F(PlanFileTest, WrongTarget) {
  std::string p = path("t.plan");
  write(p, makeProgram(), {}, "cuda");
  expectOpenError(p, {"'cuda'", "'cpu'", "--target cpu"}, {true, "cpu"});
  EXPECT_EQ(PlanFile::open(p)->target(), "cuda"); // no expectation: accepted
  EXPECT_EQ(PlanFile::open(p, {true, "cuda"})->target(), "cuda");
}

TEST_F(PlanFileTest, CorruptedSections) {
  std::string p = path("c.plan");
  auto weights = pattern(10000, 9);
  write(p, makeProgram(), weights);
  auto raw = readFile(p);
  const plan::FileHeader *h = plan::GetSizePrefixedFileHeader(raw.data());
  uint64_t progOff = 0, wOff = 0;
  for (const plan::Section *s : *h->sections())
    (s->name()->str() == "program" ? progOff : wOff) = s->offset();

  auto bad = raw;
  bad[progOff + 20] ^= 0x40;
  writeFile(p, bad);
  expectOpenError(p, {"corrupted", "checksum mismatch", "section 'program'"});

  bad = raw;
  bad[wOff + 4321] ^= 0x01;
  writeFile(p, bad);
  expectOpenError(p, {"corrupted", "checksum mismatch", "section 'weights'"});
  // Skipping the weights checksum is the documented fast path.
  auto pf = PlanFile::open(p, {false, ""});
  EXPECT_EQ(pf->weightsData()[4321], uint8_t(weights[4321] ^ 0x01));
}

TEST_F(PlanFileTest, InvalidSections) {
  auto prog = makeProgram();
  std::string p = path("s.plan");

  // Checksummed correctly, but the program is not a Plan FlatBuffer.
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu",
                       {{"program", 256, pattern(200, 5)}}));
  expectOpenError(p, {"section 'program'", "not a Plan FlatBuffer"});
  // Right identifier, garbage body: the verifier catches it.
  auto junk = pattern(200, 5);
  std::memcpy(junk.data() + 4, "IGPR", 4);
  uint32_t rootOff = 0x7fff0000u;
  std::memcpy(junk.data(), &rootOff, 4);
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu",
                       {{"program", 256, junk}}));
  expectOpenError(p, {"section 'program'", "verification"});
  // No program at all.
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu",
                       {{"weights", 4096, pattern(10, 0)}}));
  expectOpenError(p, {"no 'program' section"});
  // Weights not page aligned.
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu",
                       {{"program", 256, prog},
                        {"weights", 4096 + 64, pattern(10, 0)}}));
  expectOpenError(p, {"section 'weights'", "4096-byte aligned"});
  // A section over the header.
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu",
                       {{"program", 256, prog}, {"x", 0, pattern(8, 0)}}));
  expectOpenError(p, {"section 'x'", "overlaps the header"});
  // The same section twice.
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu",
                       {{"program", 256, prog}, {"program", 256, prog}}));
  expectOpenError(p, {"appears twice"});
  // Bad checksum recorded for a section.
  RawSection s{"program", 256, prog};
  s.badChecksum = true;
  writeFile(p, rawPlan(kPlanFormatVersion, kPlanSchemaVersion, "cpu", {s}));
  expectOpenError(p, {"checksum mismatch"});
}

} // namespace
