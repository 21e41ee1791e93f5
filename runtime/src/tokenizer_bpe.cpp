// The BPE model of tokenizer.json, matching `tokenizers`' BPE:
//  - a pre-token is first split into chars (with continuing_subword_prefix /
//    end_of_word_suffix), unknown chars go through byte_fallback (<0xNN>)
//    or become unk (fused when fuse_unk),
//  - merges are applied lowest rank first, leftmost first among equal ranks,
//    with a heap over adjacent pairs and a linked list of symbols
//    (O(n log n)); a heap entry is stale when its pair no longer maps to the
//    same merged id,
//  - ignore_merges emits a pre-token that is itself in the vocab directly,
//  - results for short pre-tokens are cached (bounded, thread-safe).
// Merges are read in both JSON forms: "a b" strings and ["a", "b"] pairs; a
// repeated pair keeps the later rank (HashMap collect semantics).
#include "tokenizer_impl.h"

#include "ingot/runtime/error.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <queue>
#include <unordered_map>

namespace ingot {
namespace tok {

namespace {

constexpr size_t kCacheCapacity = 10000;
constexpr size_t kCacheMaxWordBytes = 256;

uint64_t pairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  size_t len; // bytes of the original word; 0 marks a symbol merged away
};

struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t newId;
};

struct CandidateOrder {
  // std::priority_queue pops the "largest": make that the lowest rank, then
  // the lowest position.
  bool operator()(const Candidate &a, const Candidate &b) const {
    if (a.rank != b.rank)
      return a.rank > b.rank;
    return a.pos > b.pos;
  }
};

} // namespace

struct BpeModel::Impl {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::string> vocabR;
  std::vector<bool> present;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges; // -> (rank, new id)
  std::string unkToken;
  bool hasUnk = false;
  std::string prefix, suffix; // continuing_subword_prefix, end_of_word_suffix
  bool fuseUnk = false, byteFallback = false, ignoreMerges = false;
  int32_t byteIds[256];
  bool allByteIds = false;

  mutable std::mutex cacheMu;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  void mergeWord(const std::string &w, std::vector<int32_t> &out) const;
};

BpeModel::BpeModel(const Json &j, const std::string &path) : impl_(std::make_unique<Impl>()) {
  Impl &m = *impl_;
  if (j.contains("dropout") && !j["dropout"].is_null()) {
    if (!j["dropout"].is_number())
      throw Error("tokenizer.json: " + path + ".dropout must be a number or null");
    double p = j["dropout"].get<double>();
    if (p > 0.0)
      throw Error("tokenizer.json: " + path +
                  ".dropout > 0 (BPE dropout) is not supported for inference");
  }
  if (j.contains("unk_token") && !j["unk_token"].is_null()) {
    m.unkToken = getString(j, "unk_token", path);
    m.hasUnk = true;
  }
  if (j.contains("continuing_subword_prefix") && !j["continuing_subword_prefix"].is_null())
    m.prefix = getString(j, "continuing_subword_prefix", path);
  if (j.contains("end_of_word_suffix") && !j["end_of_word_suffix"].is_null())
    m.suffix = getString(j, "end_of_word_suffix", path);
  m.fuseUnk = getBool(j, "fuse_unk", path, false);
  m.byteFallback = getBool(j, "byte_fallback", path, false);
  m.ignoreMerges = getBool(j, "ignore_merges", path, false);

  if (!j.contains("vocab") || !j["vocab"].is_object())
    throw Error("tokenizer.json: " + path + ".vocab must be an object");
  const Json &v = j["vocab"];
  m.vocab.reserve(v.size() * 2);
  int32_t maxId = -1;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer())
      throw Error("tokenizer.json: " + path + ".vocab[\"" + it.key() + "\"] is not an integer");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > 0x7FFFFFFF)
      throw Error("tokenizer.json: " + path + ".vocab[\"" + it.key() + "\"] id " +
                  std::to_string(id) + " is out of range");
    if (!isValidUtf8(it.key()))
      throw Error("tokenizer.json: " + path + ".vocab has a token that is not valid UTF-8");
    m.vocab[it.key()] = static_cast<int32_t>(id);
    maxId = std::max(maxId, static_cast<int32_t>(id));
  }
  if (static_cast<size_t>(maxId) + 1 > 8 * v.size() + 65536)
    throw Error("tokenizer.json: " + path + ".vocab ids are too sparse (max id " +
                std::to_string(maxId) + " for " + std::to_string(v.size()) + " tokens)");
  maxId_ = maxId;
  m.vocabR.assign(static_cast<size_t>(maxId + 1), std::string());
  m.present.assign(static_cast<size_t>(maxId + 1), false);
  for (const auto &kv : m.vocab) {
    m.vocabR[static_cast<size_t>(kv.second)] = kv.first;
    m.present[static_cast<size_t>(kv.second)] = true;
  }

  m.allByteIds = true;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = m.vocab.find(name);
    m.byteIds[b] = it == m.vocab.end() ? -1 : it->second;
    if (it == m.vocab.end())
      m.allByteIds = false;
  }

  if (j.contains("merges") && !j["merges"].is_null()) {
    const Json &ms = j["merges"];
    if (!ms.is_array())
      throw Error("tokenizer.json: " + path + ".merges must be an array");
    m.merges.reserve(ms.size() * 2);
    for (size_t i = 0; i < ms.size(); ++i) {
      std::string where = path + ".merges[" + std::to_string(i) + "]";
      const Json &e = ms[i];
      std::string a, b;
      if (e.is_string()) {
        const std::string &s = e.get_ref<const std::string &>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          throw Error("tokenizer.json: " + where + " \"" + s +
                      "\" is not two tokens separated by one space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      } else {
        throw Error("tokenizer.json: " + where + " must be \"a b\" or [\"a\", \"b\"]");
      }
      auto ia = m.vocab.find(a), ib = m.vocab.find(b);
      if (ia == m.vocab.end() || ib == m.vocab.end())
        throw Error("tokenizer.json: " + where + ": merge token '" +
                    (ia == m.vocab.end() ? a : b) + "' is not in the vocab");
      if (b.size() < m.prefix.size())
        throw Error("tokenizer.json: " + where + ": '" + b +
                    "' is shorter than continuing_subword_prefix");
      std::string merged = a + b.substr(m.prefix.size());
      auto in = m.vocab.find(merged);
      if (in == m.vocab.end())
        throw Error("tokenizer.json: " + where + ": merged token '" + merged +
                    "' is not in the vocab");
      m.merges[pairKey(ia->second, ib->second)] = {static_cast<int32_t>(i), in->second};
    }
  }
}

BpeModel::~BpeModel() = default;

const std::string *BpeModel::idToToken(int32_t id) const {
  if (id < 0 || id > maxId_ || !impl_->present[static_cast<size_t>(id)])
    return nullptr;
  return &impl_->vocabR[static_cast<size_t>(id)];
}

bool BpeModel::tokenToId(const std::string &tok, int32_t *id) const {
  auto it = impl_->vocab.find(tok);
  if (it == impl_->vocab.end())
    return false;
  *id = it->second;
  return true;
}

void BpeModel::Impl::mergeWord(const std::string &w, std::vector<int32_t> &out) const {
  std::vector<Symbol> syms;
  syms.reserve(w.size());
  auto add = [&](int32_t id, size_t len) {
    int32_t idx = static_cast<int32_t>(syms.size());
    syms.push_back({id, idx - 1, -1, len});
    if (idx > 0)
      syms[static_cast<size_t>(idx - 1)].next = idx;
  };
  // Pending unknown run: (id, bytes). Only flushed by an in-vocab char or at
  // the end; byte-fallback pieces do not flush it (as in `tokenizers`).
  bool pendingUnk = false;
  int32_t unkId = -1;
  size_t unkLen = 0;
  auto unkTokenId = [&]() -> int32_t {
    auto it = vocab.find(unkToken);
    if (it == vocab.end())
      throw Error("tokenizer: unk_token '" + unkToken + "' is not in the vocab");
    return it->second;
  };

  std::string s;
  for (size_t i = 0; i < w.size();) {
    uint32_t cp;
    size_t end = utf8Next(w, i, &cp);
    size_t byteLen = end - i;
    s.clear();
    if (!prefix.empty() && i > 0)
      s += prefix;
    s.append(w, i, byteLen);
    if (!suffix.empty() && end == w.size())
      s += suffix;
    i = end;

    auto it = vocab.find(s);
    if (it != vocab.end()) {
      if (pendingUnk) {
        add(unkId, unkLen);
        pendingUnk = false;
      }
      add(it->second, byteLen);
      continue;
    }
    if (byteFallback) {
      bool all = true;
      for (unsigned char c : s)
        if (byteIds[c] < 0) {
          all = false;
          break;
        }
      if (all) {
        for (unsigned char c : s)
          add(byteIds[c], 1);
        continue;
      }
    }
    if (hasUnk) {
      if (pendingUnk && fuseUnk) {
        unkLen += byteLen;
      } else {
        if (pendingUnk)
          add(unkId, unkLen);
        unkId = unkTokenId();
        unkLen = byteLen;
        pendingUnk = true;
      }
    }
    // Without an unk token an unknown char is dropped.
  }
  if (pendingUnk)
    add(unkId, unkLen);

  if (syms.size() > 1 && !merges.empty()) {
    std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> heap;
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
      auto it = merges.find(pairKey(syms[k].id, syms[k + 1].id));
      if (it != merges.end())
        heap.push({it->second.first, static_cast<int32_t>(k), it->second.second});
    }
    while (!heap.empty()) {
      Candidate top = heap.top();
      heap.pop();
      Symbol &cur = syms[static_cast<size_t>(top.pos)];
      if (cur.len == 0 || cur.next < 0)
        continue;
      int32_t nextPos = cur.next;
      Symbol right = syms[static_cast<size_t>(nextPos)];
      auto it = merges.find(pairKey(cur.id, right.id));
      if (it == merges.end() || it->second.second != top.newId)
        continue; // stale entry
      cur.id = top.newId;
      cur.len += right.len;
      cur.next = right.next;
      syms[static_cast<size_t>(nextPos)].len = 0;
      if (right.next >= 0)
        syms[static_cast<size_t>(right.next)].prev = top.pos;
      if (cur.prev >= 0) {
        auto p = merges.find(pairKey(syms[static_cast<size_t>(cur.prev)].id, cur.id));
        if (p != merges.end())
          heap.push({p->second.first, cur.prev, p->second.second});
      }
      if (cur.next >= 0) {
        auto p = merges.find(pairKey(cur.id, syms[static_cast<size_t>(cur.next)].id));
        if (p != merges.end())
          heap.push({p->second.first, top.pos, p->second.second});
      }
    }
  }
  for (const auto &sym : syms)
    if (sym.len != 0)
      out.push_back(sym.id);
}

void BpeModel::tokenize(const std::string &word, std::vector<int32_t> &out) const {
  const Impl &m = *impl_;
  if (word.empty())
    return;
  if (m.ignoreMerges) {
    auto it = m.vocab.find(word);
    if (it != m.vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(m.cacheMu);
    auto it = m.cache.find(word);
    if (it != m.cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  m.mergeWord(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(m.cacheMu);
    if (m.cache.size() < kCacheCapacity)
      m.cache.emplace(word, std::vector<int32_t>(out.begin() + static_cast<long>(start), out.end()));
  }
}

} // namespace tok
} // namespace ingot
