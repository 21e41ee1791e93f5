// Pre-tokenizers from tokenizer.json: ByteLevel, Split, Metaspace, Digits,
// WhitespaceSplit, Sequence; plus the split-behavior logic they share
// (NormalizedString::split in `tokenizers`). A pre-tokenizer maps each piece
// to sub-pieces independently; empty pieces are dropped, as
// PreTokenizedString::split does. ByteLevel also maps bytes to the GPT-2
// printable alphabet after splitting.
#include "tokenizer_impl.h"

#include "ingot/runtime/error.h"

#include <algorithm>

namespace ingot {
namespace tok {

std::vector<Span> splitByMatches(size_t len, const std::vector<Span> &matches,
                                 SplitBehavior behavior, bool invert) {
  // Cover [0, len) with (span, isMatch) pairs, as Pattern::find_matches does.
  std::vector<std::pair<Span, bool>> all;
  all.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (const auto &m : matches) {
    if (prev != m.first)
      all.push_back({{prev, m.first}, false});
    all.push_back({m, true});
    prev = m.second;
  }
  if (prev != len)
    all.push_back({{prev, len}, false});
  if (invert)
    for (auto &a : all)
      a.second = !a.second;

  std::vector<Span> out;
  out.reserve(all.size());
  switch (behavior) {
  case SplitBehavior::Isolated:
    for (const auto &a : all)
      out.push_back(a.first);
    break;
  case SplitBehavior::Removed:
    for (const auto &a : all)
      if (!a.second)
        out.push_back(a.first);
    break;
  case SplitBehavior::Contiguous: {
    bool previous = false;
    for (const auto &a : all) {
      if (a.second == previous && !out.empty())
        out.back().second = a.first.second;
      else
        out.push_back(a.first);
      previous = a.second;
    }
    break;
  }
  case SplitBehavior::MergedWithPrevious: {
    bool previous = false;
    for (const auto &a : all) {
      if (a.second && !previous && !out.empty())
        out.back().second = a.first.second;
      else
        out.push_back(a.first);
      previous = a.second;
    }
    break;
  }
  case SplitBehavior::MergedWithNext: {
    bool previous = false;
    for (size_t k = all.size(); k-- > 0;) {
      const auto &a = all[k];
      if (a.second && !previous && !out.empty())
        out.back().first = a.first.first;
      else
        out.push_back(a.first);
      previous = a.second;
    }
    std::reverse(out.begin(), out.end());
    break;
  }
  }
  std::vector<Span> kept;
  kept.reserve(out.size());
  for (const auto &s : out)
    if (s.second > s.first)
      kept.push_back(s);
  return kept;
}

namespace {

// Each char satisfying `pred` is its own match (Rust's char-predicate
// Pattern).
template <typename Pred> std::vector<Span> charMatches(const std::string &s, Pred pred) {
  std::vector<Span> out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t nx = utf8Next(s, i, &cp);
    if (pred(cp))
      out.emplace_back(i, nx);
    i = nx;
  }
  return out;
}

void emitSplit(const Piece &p, const std::vector<Span> &spans, std::vector<Piece> &out) {
  for (const auto &s : spans)
    out.push_back({p.text.substr(s.first, s.second - s.first), p.atStart && s.first == 0});
}

// Base: split every piece with splitPiece(); drop empty results.
class PieceWise : public PreTokenizer {
public:
  void preTokenize(std::vector<Piece> &pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 2);
    for (const auto &p : pieces) {
      if (p.text.empty())
        continue;
      size_t before = out.size();
      splitPiece(p, out);
      // Remove any empty pieces that a subclass produced.
      size_t w = before;
      for (size_t r = before; r < out.size(); ++r)
        if (!out[r].text.empty()) {
          if (w != r)
            out[w] = std::move(out[r]);
          ++w;
        }
      out.resize(w);
    }
    pieces.swap(out);
  }

protected:
  virtual void splitPiece(const Piece &p, std::vector<Piece> &out) const = 0;
};

const char *kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
                           "\\s+(?!\\S)|\\s+";

// GPT-2's byte -> printable char table (bytes_to_unicode): printable
// Latin-1 bytes map to themselves, the rest to U+0100 onwards.
const std::vector<std::string> &byteToChar() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      appendUtf8(t[b], printable ? b : next++);
    }
    return t;
  }();
  return table;
}

class ByteLevelPre : public PieceWise {
public:
  ByteLevelPre(bool addPrefixSpace, bool useRegex, const std::string &path)
      : addPrefixSpace_(addPrefixSpace), useRegex_(useRegex),
        re_(kGpt2Pattern, path + " (GPT-2 pattern)") {}

protected:
  void splitPiece(const Piece &p, std::vector<Piece> &out) const override {
    Piece q = p;
    if (addPrefixSpace_ && q.text[0] != ' ')
      q.text.insert(0, 1, ' ');
    std::vector<Piece> parts;
    if (useRegex_)
      emitSplit(q, splitByMatches(q.text.size(), re_.findAll(q.text), SplitBehavior::Isolated,
                                  false),
                parts);
    else
      parts.push_back(std::move(q));
    const auto &table = byteToChar();
    for (auto &part : parts) {
      std::string mapped;
      mapped.reserve(part.text.size() * 2);
      for (unsigned char b : part.text)
        mapped += table[b];
      out.push_back({std::move(mapped), part.atStart});
    }
  }

private:
  bool addPrefixSpace_, useRegex_;
  Regex re_;
};

class SplitPre : public PieceWise {
public:
  SplitPre(Regex re, SplitBehavior b, bool invert)
      : re_(std::move(re)), behavior_(b), invert_(invert) {}

protected:
  void splitPiece(const Piece &p, std::vector<Piece> &out) const override {
    emitSplit(p, splitByMatches(p.text.size(), re_.findAll(p.text), behavior_, invert_), out);
  }

private:
  Regex re_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { Always, Never, First };

class MetaspacePre : public PieceWise {
public:
  MetaspacePre(uint32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {
    appendUtf8(rep_, replacement);
  }

protected:
  void splitPiece(const Piece &p, std::vector<Piece> &out) const override {
    Piece q;
    q.atStart = p.atStart;
    q.text.reserve(p.text.size() + rep_.size());
    for (char c : p.text) {
      if (c == ' ')
        q.text += rep_;
      else
        q.text += c;
    }
    bool startsWithRep = q.text.compare(0, rep_.size(), rep_) == 0;
    if (!startsWithRep && (scheme_ == PrependScheme::Always ||
                           (scheme_ == PrependScheme::First && q.atStart)))
      q.text.insert(0, rep_);
    if (!split_) {
      out.push_back(std::move(q));
      return;
    }
    uint32_t r = replacement_;
    emitSplit(q,
              splitByMatches(q.text.size(), charMatches(q.text, [r](uint32_t c) { return c == r; }),
                             SplitBehavior::MergedWithNext, false),
              out);
  }

private:
  uint32_t replacement_;
  std::string rep_;
  PrependScheme scheme_;
  bool split_;
};

class DigitsPre : public PieceWise {
public:
  explicit DigitsPre(bool individual) : individual_(individual) {}

protected:
  void splitPiece(const Piece &p, std::vector<Piece> &out) const override {
    emitSplit(p,
              splitByMatches(p.text.size(), charMatches(p.text, isNumeric),
                             individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous,
                             false),
              out);
  }

private:
  bool individual_;
};

class WhitespaceSplitPre : public PieceWise {
protected:
  void splitPiece(const Piece &p, std::vector<Piece> &out) const override {
    emitSplit(p,
              splitByMatches(p.text.size(), charMatches(p.text, isWhitespace),
                             SplitBehavior::Removed, false),
              out);
  }
};

class SequencePre : public PreTokenizer {
public:
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  void preTokenize(std::vector<Piece> &pieces) const override {
    for (const auto &p : parts)
      p->preTokenize(pieces);
  }
};

SplitBehavior parseBehavior(const std::string &s, const std::string &path) {
  // serde accepts the enum names; the Python bindings write them this way.
  if (s == "Removed")
    return SplitBehavior::Removed;
  if (s == "Isolated")
    return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious")
    return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext")
    return SplitBehavior::MergedWithNext;
  if (s == "Contiguous")
    return SplitBehavior::Contiguous;
  throw Error("tokenizer.json: " + path + ".behavior: unknown split behavior '" + s + "'");
}

} // namespace

std::unique_ptr<PreTokenizer> parsePreTokenizer(const Json &j, const std::string &path) {
  if (j.is_null())
    return nullptr;
  std::string type = componentType(j, path);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePre>();
    const Json *arr = j.contains("pretokenizers") ? &j["pretokenizers"] : nullptr;
    if (!arr || !arr->is_array())
      throw Error("tokenizer.json: " + path + ".pretokenizers must be an array");
    for (size_t i = 0; i < arr->size(); ++i) {
      auto p = parsePreTokenizer((*arr)[i], path + ".pretokenizers[" + std::to_string(i) + "]");
      if (p)
        seq->parts.push_back(std::move(p));
    }
    return seq;
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPre>(getBool(j, "add_prefix_space", path, true),
                                          getBool(j, "use_regex", path, true), path);
  if (type == "Split") {
    if (!j.contains("pattern"))
      throw Error("tokenizer.json: " + path + ".pattern is missing");
    return std::make_unique<SplitPre>(parsePattern(j["pattern"], path + ".pattern"),
                                      parseBehavior(getString(j, "behavior", path), path),
                                      getBool(j, "invert", path, false));
  }
  if (type == "Metaspace") {
    uint32_t rep = getChar(j, "replacement", path, 0x2581);
    PrependScheme scheme;
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
      std::string s = getString(j, "prepend_scheme", path);
      if (s == "always")
        scheme = PrependScheme::Always;
      else if (s == "never")
        scheme = PrependScheme::Never;
      else if (s == "first")
        scheme = PrependScheme::First;
      else
        throw Error("tokenizer.json: " + path + ".prepend_scheme: unknown value '" + s + "'");
    } else {
      // Files written before prepend_scheme existed.
      scheme = getBool(j, "add_prefix_space", path, true) ? PrependScheme::Always
                                                          : PrependScheme::Never;
    }
    return std::make_unique<MetaspacePre>(rep, scheme, getBool(j, "split", path, true));
  }
  if (type == "Digits")
    return std::make_unique<DigitsPre>(getBool(j, "individual_digits", path, false));
  if (type == "WhitespaceSplit")
    return std::make_unique<WhitespaceSplitPre>();
  unsupported("pre_tokenizer", type, path);
}

} // namespace tok
} // namespace ingot
