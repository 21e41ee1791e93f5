// A tokenizer built from a Hugging Face tokenizer.json, matching the
// `tokenizers` library for the models we support:
//  - byte-level BPE (GPT-2, Llama-3, Qwen2 pre-tokenizer regexes, ByteLevel
//    decoder), and
//  - SentencePiece-style BPE with byte fallback (Llama-2, TinyLlama:
//    Metaspace/Replace "▁" normalizer, <0xNN> byte tokens, BPE merges).
// Added/special tokens are matched before the model runs.
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
  virtual size_t vocabSize() const = 0;
  virtual std::optional<int32_t> tokenToId(const std::string &tok) const = 0;
  virtual std::string idToToken(int32_t id) const = 0;
  virtual bool isSpecial(int32_t id) const = 0;
};

// Streams decoded text token by token without splitting UTF-8 sequences
// (returns the newly completed text after each token).
class StreamDecoder {
public:
  StreamDecoder(const Tokenizer &tok, bool skipSpecial = true)
      : tok_(tok), skipSpecial_(skipSpecial) {}
  std::string push(int32_t id);
  std::string flush();

private:
  const Tokenizer &tok_;
  bool skipSpecial_;
  std::vector<int32_t> ids_;
  size_t emitted_ = 0; // bytes of decode(ids_) already returned
};

} // namespace ingot
