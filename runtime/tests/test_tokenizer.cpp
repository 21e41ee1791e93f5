// Tokenizer tests against Hugging Face `tokenizers` reference outputs.
// runtime/tests/data/tokenizers/<name>/ holds a tokenizer.json trained with
// `tokenizers` (test/tokenizer/gen_tokenizers.py) and expected.json with the
// reference library's ids and decoded strings; everything here must match
// exactly. Further tests cover errors, invalid UTF-8 input, threads and
// long inputs.
#include "ingot/runtime/error.h"
#include "ingot/runtime/tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

using nlohmann::json;

namespace {

std::string dataDir(const std::string &name) {
  return std::string(INGOT_SOURCE_DIR) + "/runtime/tests/data/tokenizers/" + name;
}

json loadJson(const std::string &path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

std::string readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<int32_t> ids(const json &j) { return j.get<std::vector<int32_t>>(); }

// Valid UTF-8 check, independent of the tokenizer's own helpers.
bool validUtf8(const std::string &s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
        return false;
    i += n;
  }
  return true;
}

std::string streamDecode(const ingot::Tokenizer &tok, const std::vector<int32_t> &v,
                         bool skip) {
  ingot::StreamDecoder sd(tok, skip);
  std::string out;
  for (int32_t id : v) {
    std::string piece = sd.push(id);
    EXPECT_TRUE(validUtf8(piece));
    out += piece;
  }
  out += sd.flush();
  return out;
}

class TokenizerReference : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerReference, EncodeMatchesTokenizers) {
  auto tok = ingot::Tokenizer::fromFile(dataDir(GetParam()) + "/tokenizer.json");
  json expected = loadJson(dataDir(GetParam()) + "/expected.json");
  ASSERT_GE(expected["cases"].size(), 40u);
  for (const auto &c : expected["cases"]) {
    std::string text = c["text"].get<std::string>();
    EXPECT_EQ(tok->encode(text, true), ids(c["ids"])) << GetParam() << " text: " << text;
    EXPECT_EQ(tok->encode(text, false), ids(c["ids_no_special"]))
        << GetParam() << " text: " << text;
  }
}

TEST_P(TokenizerReference, DecodeMatchesTokenizers) {
  auto tok = ingot::Tokenizer::fromFile(dataDir(GetParam()) + "/tokenizer.json");
  json expected = loadJson(dataDir(GetParam()) + "/expected.json");
  for (const auto &c : expected["cases"]) {
    auto v = ids(c["ids"]);
    EXPECT_EQ(tok->decode(v, false), c["decoded"].get<std::string>())
        << GetParam() << " text: " << c["text"].get<std::string>();
    EXPECT_EQ(tok->decode(v, true), c["decoded_skip_special"].get<std::string>())
        << GetParam() << " text: " << c["text"].get<std::string>();
  }
  for (const auto &c : expected["decode_cases"]) {
    auto v = ids(c["ids"]);
    EXPECT_EQ(tok->decode(v, false), c["decoded"].get<std::string>())
        << GetParam() << " ids: " << c["ids"].dump();
    EXPECT_EQ(tok->decode(v, true), c["decoded_skip_special"].get<std::string>())
        << GetParam() << " ids: " << c["ids"].dump();
  }
}

TEST_P(TokenizerReference, StreamDecodeEqualsReferenceDecode) {
  auto tok = ingot::Tokenizer::fromFile(dataDir(GetParam()) + "/tokenizer.json");
  json expected = loadJson(dataDir(GetParam()) + "/expected.json");
  for (const auto &c : expected["cases"]) {
    auto v = ids(c["ids"]);
    EXPECT_EQ(streamDecode(*tok, v, false), c["decoded"].get<std::string>())
        << GetParam() << " text: " << c["text"].get<std::string>();
    EXPECT_EQ(streamDecode(*tok, v, true), c["decoded_skip_special"].get<std::string>())
        << GetParam() << " text: " << c["text"].get<std::string>();
  }
  // Random id sequences: a run of byte tokens that is invalid as a whole
  // decodes to one U+FFFD per byte, so a stream that already returned a
  // valid prefix of the run cannot agree; compare where no U+FFFD appears.
  int compared = 0;
  for (const auto &c : expected["decode_cases"]) {
    auto v = ids(c["ids"]);
    std::string want = c["decoded"].get<std::string>();
    std::string got = streamDecode(*tok, v, false);
    if (want.find("\xEF\xBF\xBD") != std::string::npos)
      continue;
    ++compared;
    EXPECT_EQ(got, want) << GetParam() << " ids: " << c["ids"].dump();
  }
  EXPECT_GT(compared, 5);
}

TEST_P(TokenizerReference, VocabAndSpecialTokens) {
  auto tok = ingot::Tokenizer::fromFile(dataDir(GetParam()) + "/tokenizer.json");
  json expected = loadJson(dataDir(GetParam()) + "/expected.json");
  int32_t maxId = -1;
  for (auto it = expected["vocab"].begin(); it != expected["vocab"].end(); ++it) {
    int32_t id = it.value().get<int32_t>();
    maxId = std::max(maxId, id);
    auto got = tok->tokenToId(it.key());
    ASSERT_TRUE(got.has_value()) << it.key();
    EXPECT_EQ(*got, id) << it.key();
  }
  EXPECT_EQ(tok->vocabSize(), static_cast<size_t>(maxId + 1));
  const json &names = expected["id_to_token"];
  ASSERT_EQ(names.size(), static_cast<size_t>(maxId + 1));
  for (int32_t id = 0; id <= maxId; ++id)
    EXPECT_EQ(tok->idToToken(id), names[static_cast<size_t>(id)].is_null()
                                      ? std::string()
                                      : names[static_cast<size_t>(id)].get<std::string>())
        << "id " << id;
  EXPECT_FALSE(tok->tokenToId("\x01 definitely not a token").has_value());
  EXPECT_EQ(tok->idToToken(maxId + 100), "");
  std::set<int32_t> specials;
  for (const auto &s : expected["special_ids"])
    specials.insert(s.get<int32_t>());
  for (int32_t id = 0; id <= maxId; ++id)
    EXPECT_EQ(tok->isSpecial(id), specials.count(id) > 0) << "id " << id;
}

INSTANTIATE_TEST_SUITE_P(Trained, TokenizerReference,
                         ::testing::Values("gpt2", "roberta", "llama3", "qwen2", "splits",
                                           "llama2", "sp_metaspace", "sp_unk"));

std::string expectError(const std::string &jsonText) {
  try {
    ingot::Tokenizer::fromJson(jsonText);
  } catch (const ingot::Error &e) {
    return e.what();
  }
  ADD_FAILURE() << "no ingot::Error for: " << jsonText.substr(0, 200);
  return "";
}

json gpt2Json() { return loadJson(dataDir("gpt2") + "/tokenizer.json"); }

TEST(TokenizerErrors, UnsupportedComponentsNameTypeAndPath) {
  json j = gpt2Json();
  j["model"]["type"] = "WordPiece";
  std::string msg = expectError(j.dump());
  EXPECT_NE(msg.find("WordPiece"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model"), std::string::npos) << msg;

  j = gpt2Json();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         json::array({{{"type", "ByteLevel"}, {"add_prefix_space", false}},
                                      {{"type", "Whitespace"}}})}};
  msg = expectError(j.dump());
  EXPECT_NE(msg.find("Whitespace"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pre_tokenizer.pretokenizers[1]"), std::string::npos) << msg;

  j = gpt2Json();
  j["normalizer"] = {{"type", "BertNormalizer"}};
  msg = expectError(j.dump());
  EXPECT_NE(msg.find("BertNormalizer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("normalizer"), std::string::npos) << msg;

  j = gpt2Json();
  j["decoder"] = {{"type", "Sequence"}, {"decoders", json::array({{{"type", "CTC"}}})}};
  msg = expectError(j.dump());
  EXPECT_NE(msg.find("CTC"), std::string::npos) << msg;
  EXPECT_NE(msg.find("decoder.decoders[0]"), std::string::npos) << msg;

  j = gpt2Json();
  j["post_processor"] = {{"type", "Mystery"}};
  msg = expectError(j.dump());
  EXPECT_NE(msg.find("Mystery"), std::string::npos) << msg;
  EXPECT_NE(msg.find("post_processor"), std::string::npos) << msg;
}

TEST(TokenizerErrors, MalformedInput) {
  expectError("{not json");
  expectError("[]");
  json j = gpt2Json();
  j["model"]["merges"].push_back("Ġ");
  std::string msg = expectError(j.dump());
  EXPECT_NE(msg.find("model.merges["), std::string::npos) << msg;
  j = gpt2Json();
  j["model"]["merges"].push_back(json::array({"zzz-not-there", "a"}));
  msg = expectError(j.dump());
  EXPECT_NE(msg.find("zzz-not-there"), std::string::npos) << msg;
  j = gpt2Json();
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "(unclosed"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  msg = expectError(j.dump());
  EXPECT_NE(msg.find("pre_tokenizer.pattern"), std::string::npos) << msg;
  j = gpt2Json();
  j["model"]["dropout"] = 0.1;
  expectError(j.dump());
  EXPECT_THROW(ingot::Tokenizer::fromFile("/nonexistent/tokenizer.json"), ingot::Error);
}

TEST(Tokenizer, InvalidUtf8InputIsReadLossily) {
  for (const char *name : {"gpt2", "llama2"}) {
    auto tok = ingot::Tokenizer::fromFile(dataDir(name) + "/tokenizer.json");
    std::string bad = "ab\xff\xfe cd\xe4\xbd z\xc3";
    std::string fixed = "ab\xEF\xBF\xBD\xEF\xBF\xBD cd\xEF\xBF\xBD z\xEF\xBF\xBD";
    EXPECT_EQ(tok->encode(bad, true), tok->encode(fixed, true)) << name;
    EXPECT_TRUE(validUtf8(tok->decode(tok->encode(bad, false), false)));
  }
}

TEST(Tokenizer, MergesStringAndPairFormsAgree) {
  // gpt2's file stores merges as "a b" strings; rewriting them as pairs
  // must not change any encoding.
  json j = gpt2Json();
  ASSERT_TRUE(j["model"]["merges"][0].is_string());
  json pairs = json::array();
  for (const auto &m : j["model"]["merges"]) {
    std::string s = m.get<std::string>();
    size_t sp = s.find(' ');
    pairs.push_back(json::array({s.substr(0, sp), s.substr(sp + 1)}));
  }
  auto a = ingot::Tokenizer::fromJson(j.dump());
  j["model"]["merges"] = pairs;
  auto b = ingot::Tokenizer::fromJson(j.dump());
  json expected = loadJson(dataDir("gpt2") + "/expected.json");
  for (const auto &c : expected["cases"]) {
    std::string text = c["text"].get<std::string>();
    EXPECT_EQ(a->encode(text), b->encode(text));
  }
}

TEST(Tokenizer, ConcurrentEncodeIsConsistent) {
  auto tok = ingot::Tokenizer::fromFile(dataDir("llama3") + "/tokenizer.json");
  json expected = loadJson(dataDir("llama3") + "/expected.json");
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep)
        for (const auto &c : expected["cases"])
          if (tok->encode(c["text"].get<std::string>(), true) != ids(c["ids"]))
            ++failures[static_cast<size_t>(t)];
    });
  }
  for (auto &th : threads)
    th.join();
  for (int f : failures)
    EXPECT_EQ(f, 0);
}

TEST(Tokenizer, LongInputsAreFast) {
  // llama2 has no pre-tokenizer: a long text is one BPE word, which needs
  // the O(n log n) merge loop. A whitespace run stresses \s+(?!\S).
  auto sp = ingot::Tokenizer::fromFile(dataDir("llama2") + "/tokenizer.json");
  auto bl = ingot::Tokenizer::fromFile(dataDir("gpt2") + "/tokenizer.json");
  std::string text;
  for (int i = 0; i < 20000; ++i)
    text += "the license and ";
  std::string spaces(200000, ' ');
  spaces += "x";
  auto t0 = std::chrono::steady_clock::now();
  auto a = sp->encode(text, false);
  auto b = bl->encode(text, false);
  auto c = bl->encode(spaces, false);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(a.size(), 20000u);
  EXPECT_GT(b.size(), 20000u);
  EXPECT_EQ(sp->decode(a), text);
  EXPECT_EQ(bl->decode(b), text);
  EXPECT_EQ(bl->decode(c), spaces);
  EXPECT_LT(secs, 10.0);
}

TEST(StreamDecoder, HoldsBackIncompleteUtf8) {
  auto tok = ingot::Tokenizer::fromFile(dataDir("llama2") + "/tokenizer.json");
  // "你" is E4 BD A0: three byte-fallback tokens.
  int32_t e4 = *tok->tokenToId("<0xE4>"), bd = *tok->tokenToId("<0xBD>"),
          a0 = *tok->tokenToId("<0xA0>");
  ingot::StreamDecoder sd(*tok);
  EXPECT_EQ(sd.push(*tok->tokenToId("<s>")), "");
  EXPECT_EQ(sd.push(e4), "");
  EXPECT_EQ(sd.push(bd), "");
  EXPECT_EQ(sd.push(a0), "\xE4\xBD\xA0");
  EXPECT_EQ(sd.push(*tok->tokenToId("▁the")), " the");
  EXPECT_EQ(sd.push(e4), "");
  // A stream ending in an incomplete sequence surfaces it on flush.
  EXPECT_EQ(sd.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(sd.flush(), "");
}

} // namespace
