// Internal pieces of the Hugging Face-compatible tokenizer (not a public
// header). The pipeline mirrors `tokenizers`:
//   added-token split (raw text) -> normalizer -> added-token split
//   (normalized text) -> pre-tokenizer -> BPE model -> post-processor,
// and for decoding: id -> token string -> decoder chain -> join.
// Invariants: every std::string handled here is valid UTF-8 (encode() makes
// its input valid first), so byte offsets always fall on char boundaries.
// Each component is parsed from its tokenizer.json object; anything not
// supported throws ingot::Error naming the component type and JSON path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ingot {
namespace tok {

using Json = nlohmann::json;
using Span = std::pair<size_t, size_t>; // [begin, end) byte offsets

// ---- UTF-8 and Unicode helpers (tokenizer_unicode.cpp) ----

// Decodes the code point starting at s[i] (s must be valid UTF-8) and
// returns the index of the next one.
size_t utf8Next(const std::string &s, size_t i, uint32_t *cp);
void appendUtf8(std::string &out, uint32_t cp);
// Rust String::from_utf8_lossy: each maximal invalid subpart becomes one
// U+FFFD. Also used to make encode() input valid.
std::string utf8Lossy(const std::string &bytes);
bool isValidUtf8(const std::string &s);
// Rust char::is_whitespace (Unicode White_Space).
bool isWhitespace(uint32_t cp);
// Rust char::is_numeric (general category Nd, Nl, No).
bool isNumeric(uint32_t cp);
// Rust `regex` crate \w (Alphabetic, M, Nd, Pc, Join_Control).
bool isWordChar(uint32_t cp);
// Unicode normalization forms through utf8proc ("NFC", "NFD", "NFKC",
// "NFKD").
std::string unicodeNormalize(const std::string &s, const std::string &form);
// Rust char::to_lowercase applied char by char (full mapping, no context).
std::string lowercase(const std::string &s);

// ---- Regex (tokenizer_regex.cpp) ----

// A PCRE2 regex (UTF + UCP, JIT) compiled from an Oniguruma-style pattern as
// found in tokenizer.json: \s, \S, \w, \W, \h, \H are rewritten to their
// Oniguruma/Unicode meanings and ^/$ match at line breaks (Ruby syntax).
class Regex {
public:
  Regex(const std::string &pattern, const std::string &where);
  // Pattern matching the literal string `s` (Rust regex::escape semantics).
  static Regex literal(const std::string &s, const std::string &where);
  // All non-overlapping matches, left to right, with the Rust `onig`
  // find_iter rule for empty matches (never directly after a previous match).
  std::vector<Span> findAll(const std::string &text) const;

private:
  Regex() = default;
  struct Code;
  std::shared_ptr<Code> code_;
  std::string where_;
};

// ---- Splitting (tokenizer_pretokenize.cpp) ----

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Turns matches inside [0, len) into the pieces `tokenizers` keeps for the
// behavior (NormalizedString::split). Empty pieces are dropped.
std::vector<Span> splitByMatches(size_t len, const std::vector<Span> &matches,
                                 SplitBehavior behavior, bool invert);

// A piece of text flowing through pre-tokenization. `atStart` is true when
// the piece begins at offset 0 of the original input (Metaspace
// prepend_scheme "first" depends on it).
struct Piece {
  std::string text;
  bool atStart = false;
};

// ---- Normalizers (tokenizer_normalize.cpp) ----

class Normalizer {
public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string &s) const = 0;
};
std::unique_ptr<Normalizer> parseNormalizer(const Json &j, const std::string &path);

// ---- Pre-tokenizers (tokenizer_pretokenize.cpp) ----

class PreTokenizer {
public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their split (empty pieces removed).
  virtual void preTokenize(std::vector<Piece> &pieces) const = 0;
};
std::unique_ptr<PreTokenizer> parsePreTokenizer(const Json &j, const std::string &path);

// ---- Model (tokenizer_bpe.cpp) ----

class BpeModel {
public:
  BpeModel(const Json &j, const std::string &path);
  ~BpeModel();
  // Appends the ids for one pre-token.
  void tokenize(const std::string &word, std::vector<int32_t> &out) const;
  const std::string *idToToken(int32_t id) const;
  bool tokenToId(const std::string &tok, int32_t *id) const;
  int32_t maxId() const { return maxId_; }

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int32_t maxId_ = -1;
};

// ---- Decoders (tokenizer_decode.cpp) ----

class Decoder {
public:
  virtual ~Decoder() = default;
  // tokenizers' decode_chain: transforms the token strings in place.
  virtual void decodeChain(std::vector<std::string> &tokens) const = 0;
};
std::unique_ptr<Decoder> parseDecoder(const Json &j, const std::string &path);

// ---- Post-processors (tokenizer.cpp) ----

class PostProcessor {
public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens of a single-sequence encoding.
  virtual void process(std::vector<int32_t> &ids) const = 0;
};
std::unique_ptr<PostProcessor> parsePostProcessor(const Json &j, const std::string &path);

// ---- JSON helpers shared by the parsers ----

// Type tag of a component object; throws naming `path` when absent.
std::string componentType(const Json &j, const std::string &path);
[[noreturn]] void unsupported(const std::string &kind, const std::string &type,
                              const std::string &path);
std::string getString(const Json &j, const char *key, const std::string &path,
                      const std::string &dflt = std::string());
bool getBool(const Json &j, const char *key, const std::string &path, bool dflt);
// Exactly one Unicode scalar (serde `char`).
uint32_t getChar(const Json &j, const char *key, const std::string &path,
                 uint32_t dflt);
// {"String": s} or {"Regex": r} as used by Split and Replace.
Regex parsePattern(const Json &j, const std::string &path);

} // namespace tok
} // namespace ingot
