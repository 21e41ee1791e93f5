// Decoders from tokenizer.json (ByteLevel, Metaspace, Replace, ByteFallback,
// Fuse, Strip, BPEDecoder, Sequence) with `tokenizers`' decode_chain
// semantics, and the StreamDecoder.
//
// StreamDecoder invariant: it returns decode(all ids so far) piece by piece.
// It keeps a window of ids: `prefixCount_` already-returned ids whose text is
// `prefixText_`, followed by pending ids. New text is returned up to any
// trailing U+FFFD run (possibly an incomplete UTF-8 sequence); once the
// decoded window ends cleanly the window restarts at the pending ids, which
// keeps the cost per token bounded while decoders that treat the first
// token specially (Strip, Metaspace) still see the same leading context on
// both sides of the difference.
#include "tokenizer_impl.h"

#include "ingot/runtime/error.h"
#include "ingot/runtime/tokenizer.h"

#include <unordered_map>

namespace ingot {
namespace tok {
namespace {

class SequenceDecoder : public Decoder {
public:
  std::vector<std::unique_ptr<Decoder>> parts;
  void decodeChain(std::vector<std::string> &tokens) const override {
    for (const auto &p : parts)
      p->decodeChain(tokens);
  }
};

// Inverse of the GPT-2 byte -> char table. A token containing any char
// outside the table contributes its raw UTF-8 bytes instead; all bytes are
// then read as one lossy UTF-8 string (one output token).
class ByteLevelDecoder : public Decoder {
public:
  ByteLevelDecoder() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      charToByte_[printable ? b : next++] = static_cast<unsigned char>(b);
    }
  }
  void decodeChain(std::vector<std::string> &tokens) const override {
    std::string bytes;
    for (const auto &t : tokens) {
      size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        uint32_t cp;
        i = utf8Next(t, i, &cp);
        auto it = charToByte_.find(cp);
        if (it == charToByte_.end()) {
          ok = false;
          break;
        }
        bytes += static_cast<char>(it->second);
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8Lossy(bytes));
  }

private:
  std::unordered_map<uint32_t, unsigned char> charToByte_;
};

class MetaspaceDecoder : public Decoder {
public:
  MetaspaceDecoder(uint32_t replacement, bool stripFirst)
      : replacement_(replacement), stripFirst_(stripFirst) {}
  // Every replacement char becomes a space, except in the first token where
  // all of them are dropped unless prepend_scheme is "never".
  void decodeChain(std::vector<std::string> &tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      const std::string &t = tokens[k];
      std::string out;
      out.reserve(t.size());
      for (size_t i = 0; i < t.size();) {
        uint32_t cp;
        size_t nx = utf8Next(t, i, &cp);
        if (cp == replacement_) {
          if (!(k == 0 && stripFirst_))
            out += ' ';
        } else {
          out.append(t, i, nx - i);
        }
        i = nx;
      }
      tokens[k].swap(out);
    }
  }

private:
  uint32_t replacement_;
  bool stripFirst_;
};

class ReplaceDecoder : public Decoder {
public:
  ReplaceDecoder(Regex re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void decodeChain(std::vector<std::string> &tokens) const override {
    for (auto &t : tokens) {
      auto matches = re_.findAll(t);
      if (matches.empty())
        continue;
      std::string out;
      size_t prev = 0;
      for (const auto &m : matches) {
        out.append(t, prev, m.first - prev);
        out += content_;
        prev = m.second;
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
  }

private:
  Regex re_;
  std::string content_;
};

int hexDigit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// "<0xNN>" -> byte, parsed like Rust's u8::from_str_radix(&t[3..5], 16)
// (which also accepts a leading '+').
int parseByteToken(const std::string &t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>')
    return -1;
  if (t[3] == '+') {
    int d = hexDigit(t[4]);
    return d;
  }
  int hi = hexDigit(t[3]), lo = hexDigit(t[4]);
  if (hi < 0 || lo < 0)
    return -1;
  return hi * 16 + lo;
}

class ByteFallbackDecoder : public Decoder {
public:
  void decodeChain(std::vector<std::string> &tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&]() {
      if (pending.empty())
        return;
      if (isValidUtf8(pending))
        out.push_back(pending);
      else
        for (size_t i = 0; i < pending.size(); ++i)
          out.push_back("\xEF\xBF\xBD");
      pending.clear();
    };
    for (auto &t : tokens) {
      int b = parseByteToken(t);
      if (b >= 0) {
        pending += static_cast<char>(b);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDecoder : public Decoder {
public:
  void decodeChain(std::vector<std::string> &tokens) const override {
    std::string all;
    for (const auto &t : tokens)
      all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
public:
  StripDecoder(uint32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  // Removes up to `start` leading and `stop` trailing `content` chars.
  void decodeChain(std::vector<std::string> &tokens) const override {
    for (auto &t : tokens) {
      std::vector<size_t> starts; // byte offset of each char
      std::vector<uint32_t> cps;
      for (size_t i = 0; i < t.size();) {
        uint32_t cp;
        starts.push_back(i);
        i = utf8Next(t, i, &cp);
        cps.push_back(cp);
      }
      size_t n = cps.size();
      size_t startCut = 0;
      for (size_t i = 0; i < n && i < start_; ++i) {
        if (cps[i] != content_)
          break;
        startCut = i + 1;
      }
      size_t stopCut = n;
      for (size_t i = 0; i < stop_ && i < n; ++i) {
        size_t idx = n - i - 1;
        if (cps[idx] != content_)
          break;
        stopCut = idx;
      }
      // `tokenizers` panics when the two cuts cross; an empty token is the
      // only sensible result there.
      if (stopCut <= startCut) {
        t.clear();
        continue;
      }
      size_t b = startCut < n ? starts[startCut] : t.size();
      size_t e = stopCut < n ? starts[stopCut] : t.size();
      t = t.substr(b, e - b);
    }
  }

private:
  uint32_t content_;
  size_t start_, stop_;
};

class BpeSuffixDecoder : public Decoder {
public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decodeChain(std::vector<std::string> &tokens) const override {
    if (suffix_.empty())
      return;
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string &t = tokens[k];
      const char *rep = k + 1 == tokens.size() ? "" : " ";
      std::string out;
      size_t prev = 0, pos;
      while ((pos = t.find(suffix_, prev)) != std::string::npos) {
        out.append(t, prev, pos - prev);
        out += rep;
        prev = pos + suffix_.size();
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
  }

private:
  std::string suffix_;
};

size_t getCount(const Json &j, const char *key, const std::string &path) {
  if (!j.contains(key) || j[key].is_null())
    return 0;
  if (!j[key].is_number_unsigned() && !j[key].is_number_integer())
    throw Error("tokenizer.json: " + path + "." + key + " must be a non-negative integer");
  int64_t v = j[key].get<int64_t>();
  if (v < 0)
    throw Error("tokenizer.json: " + path + "." + key + " must be a non-negative integer");
  return static_cast<size_t>(v);
}

} // namespace

std::unique_ptr<Decoder> parseDecoder(const Json &j, const std::string &path) {
  if (j.is_null())
    return nullptr;
  std::string type = componentType(j, path);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    const Json *arr = j.contains("decoders") ? &j["decoders"] : nullptr;
    if (!arr || !arr->is_array())
      throw Error("tokenizer.json: " + path + ".decoders must be an array");
    for (size_t i = 0; i < arr->size(); ++i) {
      auto p = parseDecoder((*arr)[i], path + ".decoders[" + std::to_string(i) + "]");
      if (p)
        seq->parts.push_back(std::move(p));
    }
    return seq;
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    uint32_t rep = getChar(j, "replacement", path, 0x2581);
    bool stripFirst;
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
      std::string s = getString(j, "prepend_scheme", path);
      if (s != "always" && s != "never" && s != "first")
        throw Error("tokenizer.json: " + path + ".prepend_scheme: unknown value '" + s + "'");
      stripFirst = s != "never";
    } else {
      stripFirst = getBool(j, "add_prefix_space", path, true);
    }
    return std::make_unique<MetaspaceDecoder>(rep, stripFirst);
  }
  if (type == "Replace") {
    if (!j.contains("pattern"))
      throw Error("tokenizer.json: " + path + ".pattern is missing");
    return std::make_unique<ReplaceDecoder>(parsePattern(j["pattern"], path + ".pattern"),
                                            getString(j, "content", path));
  }
  if (type == "ByteFallback")
    return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse")
    return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(getChar(j, "content", path, ' '),
                                          getCount(j, "start", path), getCount(j, "stop", path));
  if (type == "BPEDecoder")
    return std::make_unique<BpeSuffixDecoder>(getString(j, "suffix", path, "</w>"));
  unsupported("decoder", type, path);
}

} // namespace tok

namespace {

const char kReplacement[] = "\xEF\xBF\xBD";

// Start of the run of U+FFFD chars that ends `s` (s.size() if none).
size_t trailingReplacementRun(const std::string &s, size_t floor) {
  size_t e = s.size();
  while (e >= floor + 3 && s.compare(e - 3, 3, kReplacement) == 0)
    e -= 3;
  return e;
}

// Longest prefix of `s` (at most `n` bytes) that ends on a char boundary.
size_t boundaryAtOrBefore(const std::string &s, size_t n) {
  if (n >= s.size())
    return s.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  return n;
}

// Pending ids after which the window restarts even though the text still
// ends in U+FFFD (then a real replacement character, since a UTF-8 sequence
// spans at most 4 byte tokens); keeps decoding cost per token bounded.
constexpr size_t kMaxPending = 64;

} // namespace

// Window state: ids_ = [prefixCount_ context ids][pending ids];
// prefixText_ = decode(context ids); emittedExtra_ = bytes of decode(ids_)
// past prefixText_ already returned. A trailing run of U+FFFD may be an
// incomplete UTF-8 sequence, so it is held back until a later token
// completes it; the window restarts only at a point where the text ends
// cleanly.
std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  std::string text = tok_.decode(ids_, skipSpecial_);
  size_t base = prefixText_.size();
  if (text.compare(0, base, prefixText_) != 0) {
    // The decoder rewrote text already returned (not the case for the
    // supported decoders); continue from the returned length.
    base = boundaryAtOrBefore(text, base);
  }
  size_t pending = ids_.size() - prefixCount_;
  bool force = pending >= kMaxPending;
  size_t safeEnd = force ? text.size() : trailingReplacementRun(text, base);
  std::string out;
  size_t from = base + emittedExtra_;
  if (safeEnd > from) {
    out = text.substr(from, safeEnd - from);
    emittedExtra_ = safeEnd - base;
  }
  if (safeEnd == text.size() && text.size() > base) {
    // Clean end: restart the window at the ids that produced the new text.
    ids_.erase(ids_.begin(), ids_.begin() + static_cast<long>(prefixCount_));
    prefixCount_ = ids_.size();
    prefixText_ = tok_.decode(ids_, skipSpecial_);
    emittedExtra_ = 0;
  }
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  if (ids_.size() > prefixCount_) {
    std::string text = tok_.decode(ids_, skipSpecial_);
    size_t base = prefixText_.size();
    if (text.compare(0, base, prefixText_) != 0)
      base = boundaryAtOrBefore(text, base);
    size_t from = base + emittedExtra_;
    if (text.size() > from)
      out = text.substr(from);
  }
  ids_.clear();
  prefixCount_ = 0;
  prefixText_.clear();
  emittedExtra_ = 0;
  return out;
}

} // namespace ingot
