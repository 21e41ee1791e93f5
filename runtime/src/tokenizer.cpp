// Tokenizer::fromJson and the encode/decode pipeline of `tokenizers`:
//   1. added tokens that are not `normalized` are found in the raw text
//      (leftmost-longest, with single_word / lstrip / rstrip),
//   2. each remaining piece is normalized, then searched for `normalized`
//      added tokens,
//   3. remaining pieces are pre-tokenized and run through the BPE model,
//   4. with addSpecial, the post-processor adds its special tokens.
// Added-token ids follow `tokenizers`' assignment (an id from the model vocab
// when the content is in it, otherwise the next free id), not the "id" field
// of the file, because that is what the reference does when loading.
#include "ingot/runtime/tokenizer.h"

#include "ingot/runtime/error.h"
#include "tokenizer_impl.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace ingot {
namespace tok {

std::string componentType(const Json &j, const std::string &path) {
  if (!j.is_object())
    throw Error("tokenizer.json: " + path + " must be an object or null");
  if (!j.contains("type") || !j["type"].is_string())
    throw Error("tokenizer.json: " + path + " has no \"type\"");
  return j["type"].get<std::string>();
}

void unsupported(const std::string &kind, const std::string &type, const std::string &path) {
  throw Error("tokenizer.json: unsupported " + kind + " type '" + type + "' at " + path);
}

std::string getString(const Json &j, const char *key, const std::string &path,
                      const std::string &dflt) {
  if (!j.contains(key) || j[key].is_null())
    return dflt;
  if (!j[key].is_string())
    throw Error("tokenizer.json: " + path + "." + key + " must be a string");
  return j[key].get<std::string>();
}

bool getBool(const Json &j, const char *key, const std::string &path, bool dflt) {
  if (!j.contains(key) || j[key].is_null())
    return dflt;
  if (!j[key].is_boolean())
    throw Error("tokenizer.json: " + path + "." + key + " must be a boolean");
  return j[key].get<bool>();
}

uint32_t getChar(const Json &j, const char *key, const std::string &path, uint32_t dflt) {
  if (!j.contains(key) || j[key].is_null())
    return dflt;
  std::string s = getString(j, key, path);
  uint32_t cp = 0;
  if (s.empty() || !isValidUtf8(s) || utf8Next(s, 0, &cp) != s.size())
    throw Error("tokenizer.json: " + path + "." + key + " must be exactly one character");
  return cp;
}

namespace {

// ---- Post-processors ----

class TemplateProcessor : public PostProcessor {
public:
  // Ids of the single-sequence template, with kSequence marking $A.
  static constexpr int32_t kSequence = -1;
  std::vector<int32_t> single;
  void process(std::vector<int32_t> &ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + single.size());
    for (int32_t t : single) {
      if (t == kSequence)
        out.insert(out.end(), ids.begin(), ids.end());
      else
        out.push_back(t);
    }
    ids.swap(out);
  }
};

class SequenceProcessor : public PostProcessor {
public:
  std::vector<std::unique_ptr<PostProcessor>> parts;
  void process(std::vector<int32_t> &ids) const override {
    for (const auto &p : parts)
      p->process(ids);
  }
};

// ByteLevel only adjusts offsets, which we do not produce.
class NoOpProcessor : public PostProcessor {
public:
  void process(std::vector<int32_t> &) const override {}
};

int32_t parseTokenIdPair(const Json &j, const char *key, const std::string &path) {
  // ["<s>", 0]
  if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2 || !j[key][1].is_number_integer())
    throw Error("tokenizer.json: " + path + "." + key + " must be [token, id]");
  return j[key][1].get<int32_t>();
}

std::unique_ptr<PostProcessor> parseTemplate(const Json &j, const std::string &path) {
  auto tp = std::make_unique<TemplateProcessor>();
  const Json *single = j.contains("single") ? &j["single"] : nullptr;
  if (!single)
    throw Error("tokenizer.json: " + path + ".single is missing");
  std::map<std::string, std::vector<int32_t>> specials;
  if (j.contains("special_tokens") && j["special_tokens"].is_object()) {
    for (auto it = j["special_tokens"].begin(); it != j["special_tokens"].end(); ++it) {
      const Json &st = it.value();
      std::string where = path + ".special_tokens[\"" + it.key() + "\"]";
      if (!st.is_object() || !st.contains("ids") || !st["ids"].is_array())
        throw Error("tokenizer.json: " + where + ".ids must be an array");
      std::vector<int32_t> ids;
      for (const auto &v : st["ids"]) {
        if (!v.is_number_integer())
          throw Error("tokenizer.json: " + where + ".ids must hold integers");
        ids.push_back(v.get<int32_t>());
      }
      specials[it.key()] = ids;
    }
  }
  auto addSpecial = [&](const std::string &name, const std::string &where) {
    auto it = specials.find(name);
    if (it == specials.end())
      throw Error("tokenizer.json: " + where + ": special token '" + name +
                  "' is not in special_tokens");
    tp->single.insert(tp->single.end(), it->second.begin(), it->second.end());
  };
  if (!single->is_array())
    throw Error("tokenizer.json: " + path + ".single must be an array");
  for (size_t i = 0; i < single->size(); ++i) {
    const Json &p = (*single)[i];
    std::string where = path + ".single[" + std::to_string(i) + "]";
    if (p.is_object() && p.contains("SpecialToken")) {
      const Json &st = p["SpecialToken"];
      if (!st.is_object() || !st.contains("id") || !st["id"].is_string())
        throw Error("tokenizer.json: " + where + ".SpecialToken.id must be a string");
      addSpecial(st["id"].get<std::string>(), where);
    } else if (p.is_object() && p.contains("Sequence")) {
      const Json &sq = p["Sequence"];
      std::string id = sq.is_object() && sq.contains("id") && sq["id"].is_string()
                           ? sq["id"].get<std::string>()
                           : "";
      if (id != "A")
        throw Error("tokenizer.json: " + where + ": sequence '" + id +
                    "' is not valid in a single template");
      tp->single.push_back(TemplateProcessor::kSequence);
    } else {
      throw Error("tokenizer.json: " + where + " must be {SpecialToken} or {Sequence}");
    }
  }
  return tp;
}

} // namespace

std::unique_ptr<PostProcessor> parsePostProcessor(const Json &j, const std::string &path) {
  if (j.is_null())
    return nullptr;
  std::string type = componentType(j, path);
  if (type == "TemplateProcessing")
    return parseTemplate(j, path);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto tp = std::make_unique<TemplateProcessor>();
    tp->single = {parseTokenIdPair(j, "cls", path), TemplateProcessor::kSequence,
                  parseTokenIdPair(j, "sep", path)};
    return tp;
  }
  if (type == "ByteLevel")
    return std::make_unique<NoOpProcessor>();
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceProcessor>();
    const Json *arr = j.contains("processors") ? &j["processors"] : nullptr;
    if (!arr || !arr->is_array())
      throw Error("tokenizer.json: " + path + ".processors must be an array");
    for (size_t i = 0; i < arr->size(); ++i) {
      auto p = parsePostProcessor((*arr)[i], path + ".processors[" + std::to_string(i) + "]");
      if (p)
        seq->parts.push_back(std::move(p));
    }
    return seq;
  }
  unsupported("post_processor", type, path);
}

namespace {

// ---- Added vocabulary ----

struct AddedToken {
  std::string content;
  // What id_to_token/decode show: `tokenizers` reports a normalized added
  // token by its normalized form (and decode skips it only if that form is
  // itself a special token's content).
  std::string shown;
  int32_t id = -1;
  bool singleWord = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Leftmost-longest multi-pattern matcher over bytes (what `tokenizers` gets
// from aho-corasick with MatchKind::LeftmostLongest).
class Trie {
public:
  void add(const std::string &pattern, size_t index) {
    if (pattern.empty())
      return;
    int32_t node = 0;
    for (unsigned char c : pattern) {
      auto key = (static_cast<uint64_t>(node) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        int32_t nn = static_cast<int32_t>(terminal_.size());
        terminal_.push_back(-1);
        edges_.emplace(key, nn);
        node = nn;
      } else {
        node = it->second;
      }
    }
    // The first pattern added wins for identical contents.
    if (terminal_[static_cast<size_t>(node)] < 0)
      terminal_[static_cast<size_t>(node)] = static_cast<int64_t>(index);
  }
  bool empty() const { return edges_.empty(); }
  // Non-overlapping matches: (start, end, pattern index).
  std::vector<std::tuple<size_t, size_t, size_t>> findAll(const std::string &s) const {
    std::vector<std::tuple<size_t, size_t, size_t>> out;
    if (edges_.empty())
      return out;
    size_t i = 0;
    while (i < s.size()) {
      int32_t node = 0;
      size_t bestEnd = 0;
      int64_t best = -1;
      for (size_t k = i; k < s.size(); ++k) {
        auto it = edges_.find((static_cast<uint64_t>(node) << 8) |
                              static_cast<unsigned char>(s[k]));
        if (it == edges_.end())
          break;
        node = it->second;
        if (terminal_[static_cast<size_t>(node)] >= 0) {
          best = terminal_[static_cast<size_t>(node)];
          bestEnd = k + 1;
        }
      }
      if (best >= 0) {
        out.emplace_back(i, bestEnd, static_cast<size_t>(best));
        i = bestEnd;
      } else {
        ++i;
      }
    }
    return out;
  }

private:
  std::unordered_map<uint64_t, int32_t> edges_;
  std::vector<int64_t> terminal_{-1}; // node 0 is the root
};

uint32_t lastChar(const std::string &s, size_t end) {
  size_t st = end - 1;
  while (st > 0 && (static_cast<unsigned char>(s[st]) & 0xC0) == 0x80)
    --st;
  uint32_t cp;
  utf8Next(s, st, &cp);
  return cp;
}

struct Segment {
  std::string text;
  int32_t id = -1; // added token id, or -1 for text still to tokenize
  bool atStart = false;
};

class HfTokenizer : public Tokenizer {
public:
  explicit HfTokenizer(const Json &root);

  std::vector<int32_t> encode(const std::string &text, bool addSpecial) const override;
  std::string decode(const std::vector<int32_t> &ids, bool skipSpecial) const override;
  size_t vocabSize() const override { return static_cast<size_t>(maxId_ + 1); }
  std::optional<int32_t> tokenToId(const std::string &tok) const override;
  std::string idToToken(int32_t id) const override;
  bool isSpecial(int32_t id) const override;

private:
  void parseAddedTokens(const Json &arr);
  // Splits `seg` (a text segment) on the added tokens of `trie`, appending
  // to `out` (find_matches + split_with_indices).
  void splitAdded(const Segment &seg, const Trie &trie, const std::vector<int32_t> &trieIds,
                  std::vector<Segment> &out) const;
  const std::string *tokenString(int32_t id) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> preTokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> postProcessor_;
  std::unique_ptr<Decoder> decoder_;

  std::unordered_map<std::string, int32_t> addedByContent_;
  std::unordered_map<int32_t, AddedToken> addedById_;
  std::unordered_set<std::string> specialSet_;
  Trie rawTrie_, normTrie_;
  std::vector<int32_t> rawIds_, normIds_;
  int32_t maxId_ = -1;
};

HfTokenizer::HfTokenizer(const Json &root) {
  if (!root.is_object())
    throw Error("tokenizer.json: the top level must be an object");
  auto field = [&](const char *k) -> const Json & {
    static const Json null;
    return root.contains(k) ? root[k] : null;
  };
  const Json &model = field("model");
  if (!model.is_object())
    throw Error("tokenizer.json: model is missing");
  std::string mtype = model.contains("type") ? componentType(model, "model")
                                             : (model.contains("merges") ? "BPE" : "?");
  if (mtype != "BPE")
    unsupported("model", mtype, "model");
  model_ = std::make_unique<BpeModel>(model, "model");
  maxId_ = model_->maxId();
  normalizer_ = parseNormalizer(field("normalizer"), "normalizer");
  preTokenizer_ = parsePreTokenizer(field("pre_tokenizer"), "pre_tokenizer");
  postProcessor_ = parsePostProcessor(field("post_processor"), "post_processor");
  decoder_ = parseDecoder(field("decoder"), "decoder");
  if (!field("added_tokens").is_null())
    parseAddedTokens(field("added_tokens"));
}

void HfTokenizer::parseAddedTokens(const Json &arr) {
  if (!arr.is_array())
    throw Error("tokenizer.json: added_tokens must be an array");
  std::vector<std::string> specialOrder, classicOrder;
  // Model vocab size as `tokenizers` counts it (number of entries).
  size_t modelSize = 0;
  for (int32_t id = 0; id <= model_->maxId(); ++id)
    if (model_->idToToken(id))
      ++modelSize;
  int32_t maxAdded = -1; // largest id given to an added token so far
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json &t = arr[i];
    std::string path = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object())
      throw Error("tokenizer.json: " + path + " must be an object");
    AddedToken at;
    at.content = getString(t, "content", path);
    if (!isValidUtf8(at.content))
      throw Error("tokenizer.json: " + path + ".content is not valid UTF-8");
    at.singleWord = getBool(t, "single_word", path, false);
    at.lstrip = getBool(t, "lstrip", path, false);
    at.rstrip = getBool(t, "rstrip", path, false);
    at.special = getBool(t, "special", path, false);
    at.normalized = getBool(t, "normalized", path, !at.special);
    if (at.content.empty())
      continue;
    if (at.special && !specialSet_.count(at.content)) {
      specialSet_.insert(at.content);
      specialOrder.push_back(at.content);
    }
    int32_t id;
    auto known = addedByContent_.find(at.content);
    if (known != addedByContent_.end()) {
      id = known->second;
    } else if (model_->tokenToId(at.content, &id)) {
      // already in the model vocab: reuse its id
    } else if (maxAdded < 0) {
      id = static_cast<int32_t>(modelSize);
    } else {
      id = (static_cast<size_t>(maxAdded) >= modelSize || modelSize == 0)
               ? maxAdded + 1
               : static_cast<int32_t>(modelSize);
    }
    maxAdded = std::max(maxAdded, id);
    at.id = id;
    at.shown = at.content;
    addedByContent_[at.content] = id;
    addedById_[id] = at;
    if (!specialSet_.count(at.content))
      classicOrder.push_back(at.content);
    maxId_ = std::max(maxId_, id);
  }
  // Tries: special tokens first, then the others, split by `normalized`.
  std::vector<std::string> order = specialOrder;
  order.insert(order.end(), classicOrder.begin(), classicOrder.end());
  for (const auto &content : order) {
    int32_t id = addedByContent_.at(content);
    const AddedToken &at = addedById_.at(id);
    if (at.normalized) {
      std::string pattern = content;
      if (normalizer_)
        normalizer_->normalize(pattern);
      addedById_.at(id).shown = pattern;
      normTrie_.add(pattern, normIds_.size());
      normIds_.push_back(id);
    } else {
      rawTrie_.add(content, rawIds_.size());
      rawIds_.push_back(id);
    }
  }
}

void HfTokenizer::splitAdded(const Segment &seg, const Trie &trie,
                             const std::vector<int32_t> &trieIds,
                             std::vector<Segment> &out) const {
  const std::string &s = seg.text;
  auto push = [&](size_t b, size_t e, int32_t id) {
    if (e <= b)
      return; // empty splits are dropped
    out.push_back({s.substr(b, e - b), id, seg.atStart && b == 0});
  };
  size_t startOffset = 0;
  for (const auto &m : trie.findAll(s)) {
    size_t start = std::get<0>(m), stop = std::get<1>(m);
    int32_t id = trieIds[std::get<2>(m)];
    const AddedToken &at = addedById_.at(id);
    if (at.singleWord) {
      bool startSpace = start == 0 || !isWordChar(lastChar(s, start));
      uint32_t next = 0;
      if (stop < s.size())
        utf8Next(s, stop, &next);
      bool stopSpace = stop == s.size() || !isWordChar(next);
      if (!startSpace || !stopSpace)
        continue;
    }
    if (at.lstrip) {
      size_t ns = start;
      while (ns > 0) {
        size_t st = ns - 1;
        while (st > 0 && (static_cast<unsigned char>(s[st]) & 0xC0) == 0x80)
          --st;
        uint32_t cp;
        utf8Next(s, st, &cp);
        if (!isWhitespace(cp))
          break;
        ns = st;
      }
      start = std::max(ns, startOffset);
    }
    if (at.rstrip) {
      while (stop < s.size()) {
        uint32_t cp;
        size_t nx = utf8Next(s, stop, &cp);
        if (!isWhitespace(cp))
          break;
        stop = nx;
      }
    }
    if (startOffset < start)
      push(startOffset, start, -1);
    // As in `tokenizers`: when an rstrip of the previous token already
    // swallowed this match, its span is empty and the token is dropped.
    if (start < stop)
      out.push_back({s.substr(start, stop - start), id, seg.atStart && start == 0});
    startOffset = stop;
  }
  if (startOffset < s.size())
    push(startOffset, s.size(), -1);
}

std::vector<int32_t> HfTokenizer::encode(const std::string &input, bool addSpecial) const {
  const std::string text = isValidUtf8(input) ? input : utf8Lossy(input);
  std::vector<Segment> segs;
  Segment whole{text, -1, true};
  splitAdded(whole, rawTrie_, rawIds_, segs);

  std::vector<Segment> segs2;
  segs2.reserve(segs.size());
  for (auto &seg : segs) {
    if (seg.id >= 0) {
      segs2.push_back(std::move(seg));
      continue;
    }
    if (normalizer_)
      normalizer_->normalize(seg.text);
    if (normTrie_.empty()) {
      if (!seg.text.empty())
        segs2.push_back(std::move(seg));
    } else {
      splitAdded(seg, normTrie_, normIds_, segs2);
    }
  }

  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<Piece> pieces;
  for (auto &seg : segs2) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    pieces.clear();
    pieces.push_back({std::move(seg.text), seg.atStart});
    if (preTokenizer_)
      preTokenizer_->preTokenize(pieces);
    for (const auto &p : pieces)
      model_->tokenize(p.text, ids);
  }
  if (addSpecial && postProcessor_)
    postProcessor_->process(ids);
  return ids;
}

const std::string *HfTokenizer::tokenString(int32_t id) const {
  auto it = addedById_.find(id);
  if (it != addedById_.end())
    return &it->second.shown;
  return model_->idToToken(id);
}

std::string HfTokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecial) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string *t = tokenString(id);
    if (!t)
      continue; // unknown ids are dropped, as in `tokenizers`
    if (skipSpecial && specialSet_.count(*t))
      continue;
    tokens.push_back(*t);
  }
  std::string out;
  if (decoder_) {
    decoder_->decodeChain(tokens);
    for (const auto &t : tokens)
      out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i)
        out += ' ';
      out += tokens[i];
    }
  }
  return out;
}

std::optional<int32_t> HfTokenizer::tokenToId(const std::string &tok) const {
  auto it = addedByContent_.find(tok);
  if (it != addedByContent_.end())
    return it->second;
  int32_t id;
  if (model_->tokenToId(tok, &id))
    return id;
  return std::nullopt;
}

std::string HfTokenizer::idToToken(int32_t id) const {
  const std::string *t = tokenString(id);
  return t ? *t : std::string();
}

bool HfTokenizer::isSpecial(int32_t id) const {
  auto it = addedById_.find(id);
  if (it != addedById_.end())
    return it->second.special;
  const std::string *t = model_->idToToken(id);
  return t && specialSet_.count(*t) > 0;
}

} // namespace
} // namespace tok

std::unique_ptr<Tokenizer> Tokenizer::fromJson(const std::string &json) {
  tok::Json root;
  try {
    root = tok::Json::parse(json);
  } catch (const tok::Json::exception &e) {
    throw Error(std::string("tokenizer.json: invalid JSON: ") + e.what());
  }
  try {
    return std::make_unique<tok::HfTokenizer>(root);
  } catch (const tok::Json::exception &e) {
    throw Error(std::string("tokenizer.json: unexpected structure: ") + e.what());
  }
}

std::unique_ptr<Tokenizer> Tokenizer::fromFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error("tokenizer: cannot open " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  try {
    return fromJson(ss.str());
  } catch (const Error &e) {
    throw Error(path + ": " + e.what());
  }
}

} // namespace ingot
