// A tokenizer built from a Hugging Face tokenizer.json, matching the
// `tokenizers` library for the models we support:
//  - byte-level BPE (GPT-2, Llama-3, Qwen2 pre-tokenizer regexes, ByteLevel
//    decoder), and
//  - SentencePiece-style BPE with byte fallback (Llama-2, TinyLlama:
//    Metaspace/Replace "▁" normalizer, <0xNN> byte tokens, BPE merges).
// Added/special tokens are matched before the model runs.
//
// Supported tokenizer.json components (anything else throws ingot::Error
// naming the component type and its JSON path):
//   model          BPE (vocab, merges as "a b" or ["a","b"], unk_token,
//                  fuse_unk, byte_fallback, ignore_merges,
//                  continuing_subword_prefix, end_of_word_suffix)
//   normalizer     Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend,
//                  Replace, Strip
//   pre_tokenizer  Sequence, ByteLevel, Split (String/Regex, all behaviors,
//                  invert), Metaspace, Digits, WhitespaceSplit
//   post_processor TemplateProcessing, RobertaProcessing, BertProcessing,
//                  ByteLevel, Sequence (single-sequence encodings only)
//   decoder        Sequence, ByteLevel, Metaspace, Replace, ByteFallback,
//                  Fuse, Strip, BPEDecoder
// truncation and padding settings in tokenizer.json are ignored.
// Input that is not valid UTF-8 is read lossily (each invalid sequence
// becomes U+FFFD) instead of being rejected.
// All methods are const and safe to call from several threads.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ingot {

class Tokenizer {
public:
  // Parses tokenizer.json text. Throws ingot::Error naming an unsupported
  // model/pre-tokenizer/normalizer/decoder component.
  static std::unique_ptr<Tokenizer> fromJson(const std::string &json);
  static std::unique_ptr<Tokenizer> fromFile(const std::string &path);
  virtual ~Tokenizer() = default;

  // addSpecial applies the tokenizer.json post_processor (e.g. BOS).
  virtual std::vector<int32_t> encode(const std::string &text,
                                      bool addSpecial = true) const = 0;
  // skipSpecial drops special (added, special=true) tokens from the text.
  virtual std::string decode(const std::vector<int32_t> &ids,
                             bool skipSpecial = false) const = 0;
  // Number of ids: 1 + the largest id of the model vocab and added tokens.
  virtual size_t vocabSize() const = 0;
  virtual std::optional<int32_t> tokenToId(const std::string &tok) const = 0;
  // The token string ("" for an id that names no token). As in `tokenizers`,
  // an added token with normalized=true shows its normalized form.
  virtual std::string idToToken(int32_t id) const = 0;
  virtual bool isSpecial(int32_t id) const = 0;
};

// Streams decoded text token by token without splitting UTF-8 sequences:
// push() returns the text newly completed by `id` (possibly empty while a
// multi-byte character is still incomplete); the concatenation of all
// push() results and a final flush() equals decode(all ids, skipSpecial),
// except where that decode holds U+FFFD for invalid bytes (e.g. a run of
// <0xNN> tokens that is invalid only as a whole: the stream may already have
// returned its valid start).
// Cost per token is bounded: only a short window of recent ids is decoded.
class StreamDecoder {
public:
  StreamDecoder(const Tokenizer &tok, bool skipSpecial = true)
      : tok_(tok), skipSpecial_(skipSpecial) {}
  std::string push(int32_t id);
  // Returns any held-back text (e.g. a trailing incomplete sequence, as
  // U+FFFD) and resets the stream.
  std::string flush();

private:
  const Tokenizer &tok_;
  bool skipSpecial_;
  std::vector<int32_t> ids_;  // window: prefixCount_ returned ids, then pending
  size_t prefixCount_ = 0;
  std::string prefixText_;    // decode(first prefixCount_ ids of the window)
  size_t emittedExtra_ = 0;   // bytes past prefixText_ already returned
};

} // namespace ingot
