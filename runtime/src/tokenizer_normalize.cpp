// Normalizers from tokenizer.json: Sequence, NFC/NFD/NFKC/NFKD, Lowercase,
// Prepend, Replace, Strip. Each works on the whole (valid UTF-8) string the
// way `tokenizers`' NormalizedString operations do; we do not track
// alignments because encode() only needs ids.
#include "tokenizer_impl.h"

#include "ingot/runtime/error.h"

namespace ingot {
namespace tok {
namespace {

class SequenceNormalizer : public Normalizer {
public:
  std::vector<std::unique_ptr<Normalizer>> parts;
  void normalize(std::string &s) const override {
    for (const auto &p : parts)
      p->normalize(s);
  }
};

class UnicodeNormalizer : public Normalizer {
public:
  explicit UnicodeNormalizer(std::string form) : form_(std::move(form)) {}
  void normalize(std::string &s) const override { s = unicodeNormalize(s, form_); }

private:
  std::string form_;
};

class LowercaseNormalizer : public Normalizer {
public:
  void normalize(std::string &s) const override { s = lowercase(s); }
};

class PrependNormalizer : public Normalizer {
public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  // NormalizedString::prepend is a no-op on an empty string.
  void normalize(std::string &s) const override {
    if (!s.empty())
      s.insert(0, prepend_);
  }

private:
  std::string prepend_;
};

class ReplaceNormalizer : public Normalizer {
public:
  ReplaceNormalizer(Regex re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void normalize(std::string &s) const override {
    auto matches = re_.findAll(s);
    if (matches.empty())
      return;
    std::string out;
    out.reserve(s.size() + matches.size() * content_.size());
    size_t prev = 0;
    for (const auto &m : matches) {
      out.append(s, prev, m.first - prev);
      out += content_;
      prev = m.second;
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }

private:
  Regex re_;
  std::string content_;
};

class StripNormalizer : public Normalizer {
public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string &s) const override {
    size_t b = 0, e = s.size();
    if (left_) {
      while (b < e) {
        uint32_t cp;
        size_t nx = utf8Next(s, b, &cp);
        if (!isWhitespace(cp))
          break;
        b = nx;
      }
    }
    if (right_) {
      while (e > b) {
        size_t st = e - 1;
        while (st > b && (static_cast<unsigned char>(s[st]) & 0xC0) == 0x80)
          --st;
        uint32_t cp;
        utf8Next(s, st, &cp);
        if (!isWhitespace(cp))
          break;
        e = st;
      }
    }
    s = s.substr(b, e - b);
  }

private:
  bool left_, right_;
};

} // namespace

std::unique_ptr<Normalizer> parseNormalizer(const Json &j, const std::string &path) {
  if (j.is_null())
    return nullptr;
  std::string type = componentType(j, path);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    const Json *arr = j.contains("normalizers") ? &j["normalizers"] : nullptr;
    if (!arr || !arr->is_array())
      throw Error("tokenizer.json: " + path + ".normalizers must be an array");
    for (size_t i = 0; i < arr->size(); ++i) {
      auto p = parseNormalizer((*arr)[i], path + ".normalizers[" + std::to_string(i) + "]");
      if (p)
        seq->parts.push_back(std::move(p));
    }
    return seq;
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD")
    return std::make_unique<UnicodeNormalizer>(type);
  if (type == "Lowercase")
    return std::make_unique<LowercaseNormalizer>();
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(getString(j, "prepend", path));
  if (type == "Replace") {
    if (!j.contains("pattern"))
      throw Error("tokenizer.json: " + path + ".pattern is missing");
    return std::make_unique<ReplaceNormalizer>(parsePattern(j["pattern"], path + ".pattern"),
                                               getString(j, "content", path));
  }
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(getBool(j, "strip_left", path, true),
                                             getBool(j, "strip_right", path, true));
  unsupported("normalizer", type, path);
}

} // namespace tok
} // namespace ingot
