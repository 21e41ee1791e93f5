// Tests for the `ingot` command-line tool (tools/ingot_main.cpp), run as a
// subprocess on a tiny Llama-style plan (tests/cpu_test_plans.h) that carries
// a minimal byte-level BPE tokenizer (one token per letter). `logits` output
// is parsed as .npy here and compared with the double-precision reference;
// `generate-ids` with the reference's greedy chain; exit codes and the
// "ingot: error:" prefix are checked for bad input and bad flags.
#include "cpu_test_plans.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <sys/wait.h>

using namespace cputest;
using json = nlohmann::json;

namespace {

using testutil::Cmd;

// 0 = <eos> (special), 1..26 = a..z, 27 = "Ġ" (byte-level space), 28.. = A..V.
std::string tinyTokenizerJson() {
  json vocab = json::object();
  vocab["<eos>"] = 0;
  for (int i = 0; i < 26; ++i)
    vocab[std::string(1, char('a' + i))] = 1 + i;
  vocab["\xC4\xA0"] = 27;
  for (int i = 0; i < 22; ++i)
    vocab[std::string(1, char('A' + i))] = 28 + i;
  json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       json::array({{{"id", 0}, {"content", "<eos>"}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", json::array()}}}};
  return j.dump();
}


struct CliTest : ::testing::Test {
  TmpDir dir;
  Llama model{false};
  std::string plan;

  void SetUp() override {
    PlanBuilder b;
    buildLlama(b, model, fb::DType::F32);
    b.tokenizerJson = tinyTokenizerJson();
    plan = b.write(dir.path / "tiny.plan");
  }

  Cmd ingot(const std::vector<std::string> &args) {
    return testutil::runTool(INGOT_CLI_PATH, args, dir.path);
  }

  // Parses a little-endian float32 2-D .npy file written by `ingot logits`.
  static std::vector<float> readNpy(const fs::path &p, int64_t &rows, int64_t &cols) {
    std::ifstream f(p, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_GE(all.size(), 10u);
    EXPECT_EQ(all.substr(0, 6), "\x93NUMPY");
    const size_t hlen = uint8_t(all[8]) | (size_t(uint8_t(all[9])) << 8);
    const std::string header = all.substr(10, hlen);
    EXPECT_EQ((10 + hlen) % 16, 0u);
    EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
    EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << header;
    const size_t lp = header.find("'shape': (");
    EXPECT_NE(lp, std::string::npos);
    std::sscanf(header.c_str() + lp, "'shape': (%ld, %ld)", &rows, &cols);
    std::vector<float> v(size_t(rows * cols));
    EXPECT_EQ(all.size(), 10 + hlen + v.size() * 4);
    std::memcpy(v.data(), all.data() + 10 + hlen, std::min(v.size() * 4, all.size() - 10 - hlen));
    return v;
  }
};

const std::vector<int32_t> kPrompt = {1, 17, 42, 3, 3, 49, 0, 25};

TEST_F(CliTest, LogitsNpyMatchesReference) {
  const auto ref = model.reference(kPrompt);
  for (const std::string mode : {"stepwise", "prefill", "chunked:3"}) {
    const fs::path out = dir.path / "l.npy";
    Cmd r = ingot({"logits", plan, "--ids", "1,17,42,3,3,49,0,25", "--mode", mode, "--out",
                   out.string(), "--threads", "1"});
    ASSERT_EQ(r.code, 0) << r.err;
    int64_t rows = 0, cols = 0;
    const auto v = readNpy(out, rows, cols);
    ASSERT_EQ(cols, model.V);
    std::vector<size_t> positions;
    if (mode == "stepwise")
      for (size_t i = 0; i < kPrompt.size(); ++i)
        positions.push_back(i);
    else if (mode == "prefill")
      positions = {7};
    else
      positions = {2, 5, 7};
    ASSERT_EQ(rows, int64_t(positions.size())) << mode;
    for (size_t rI = 0; rI < positions.size(); ++rI)
      for (int64_t i = 0; i < cols; ++i)
        ASSERT_NEAR(v[rI * size_t(cols) + size_t(i)], ref[positions[rI]][size_t(i)], 1e-4)
            << mode << " row " << rI;
  }
}

TEST_F(CliTest, GenerateIdsIsTheGreedyChain) {
  Cmd r = ingot({"generate-ids", plan, "--ids", "[1, 17, 42]", "--max-tokens", "5", "--ignore-eos"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto got = json::parse(r.out).get<std::vector<int32_t>>();
  std::vector<int32_t> seq = {1, 17, 42}, want;
  for (int i = 0; i < 5; ++i) {
    const auto l = model.reference(seq).back();
    want.push_back(int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
    seq.push_back(want.back());
  }
  EXPECT_EQ(got, want);
}

TEST_F(CliTest, TokenizeAndRun) {
  Cmd t = ingot({"tokenize", plan, "--text", "abc Ab"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(json::parse(t.out), json::array({1, 2, 3, 27, 28, 2}));
  Cmd d = ingot({"tokenize", plan, "--decode", "1,2,3,27,28"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out, "abc A\n");

  // `run` streams the decoding of the greedy ids for the same prompt.
  Cmd g = ingot({"generate-ids", plan, "--ids", "1,2", "--max-tokens", "6"});
  ASSERT_EQ(g.code, 0) << g.err;
  const auto ids = json::parse(g.out).get<std::vector<int32_t>>();
  std::string idList;
  for (int32_t id : ids)
    idList += (idList.empty() ? "" : ",") + std::to_string(id);
  Cmd text = ingot({"tokenize", plan, "--decode", idList, "--skip-special"});
  ASSERT_EQ(text.code, 0) << text.err;
  Cmd run = ingot({"run", plan, "--prompt", "ab", "--max-tokens", "6", "--stats", "--prefill-chunk", "1"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, text.out);
  EXPECT_NE(run.err.find("prefill:"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("decode:"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("tok/s"), std::string::npos) << run.err;
}

TEST_F(CliTest, Inspect) {
  Cmd j = ingot({"inspect", plan, "--json", "--steps"});
  ASSERT_EQ(j.code, 0) << j.err;
  const json d = json::parse(j.out);
  EXPECT_EQ(d["file"]["target"], "cpu");
  EXPECT_EQ(d["file"]["format_version"], kPlanFormatVersion);
  EXPECT_EQ(d["model"]["vocab_size"], model.V);
  EXPECT_EQ(d["weights"]["mode"], "embedded");
  EXPECT_EQ(d["kv_cache"]["layers"].size(), size_t(model.L));
  EXPECT_EQ(d["steps"]["by_op"]["Attention"], model.L);
  EXPECT_EQ(d["steps"]["list"].size(), d["steps"]["count"].get<size_t>());
  EXPECT_EQ(d["tokenizer"].get<std::string>().rfind("BPE", 0), 0u);
  Cmd t = ingot({"inspect", plan, "--steps"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("Attention \"l1.attn\""), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("section program"), std::string::npos) << t.out;
}

TEST_F(CliTest, ErrorsAndExitCodes) {
  Cmd r = ingot({"run", (dir.path / "missing.plan").string(), "--prompt", "x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("ingot: error: ", 0), 0u) << r.err;
  r = ingot({"logits", plan, "--ids", "1,999", "--out", (dir.path / "x.npy").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("outside the vocabulary"), std::string::npos) << r.err;
  r = ingot({"logits", plan, "--ids", "1,2", "--mode", "chunky", "--out", (dir.path / "x.npy").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("chunky"), std::string::npos) << r.err;
  r = ingot({"generate-ids", plan, "--ids", "1,x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("\"x\""), std::string::npos) << r.err;
  r = ingot({"run", plan, "--prompt", "x", "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("ingot: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
  r = ingot({});
  EXPECT_EQ(r.code, 2);
  r = ingot({"run", plan});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--prompt"), std::string::npos) << r.err;
  r = ingot({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("generate-ids"), std::string::npos);
}

} // namespace
