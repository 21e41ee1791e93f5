// UTF-8 and Unicode helpers for the tokenizer. They reproduce the Rust
// standard library predicates that `tokenizers` uses (char::is_whitespace,
// char::is_numeric, String::from_utf8_lossy, char::to_lowercase) and the
// Rust `regex` crate's \w, so our splits agree with the reference byte for
// byte. Normalization forms come from utf8proc.
#include "tokenizer_impl.h"

#include "ingot/runtime/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <cstdlib>

namespace ingot {
namespace tok {

size_t utf8Next(const std::string &s, size_t i, uint32_t *cp) {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  unsigned char b = p[i];
  if (b < 0x80) {
    *cp = b;
    return i + 1;
  }
  if (b < 0xE0) {
    *cp = ((b & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
    return i + 2;
  }
  if (b < 0xF0) {
    *cp = ((b & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
    return i + 3;
  }
  *cp = ((b & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
        (p[i + 3] & 0x3Fu);
  return i + 4;
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// Length of the valid UTF-8 sequence at p[i..n), or, when invalid, the
// negated length of its maximal valid prefix ("maximal subpart", at least 1)
// as Unicode recommends and Rust's from_utf8_lossy implements.
long validSeqLen(const unsigned char *p, size_t i, size_t n) {
  unsigned char b = p[i];
  if (b < 0x80)
    return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0)
      lo = 0xA0;
    else if (b == 0xED)
      hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0)
      lo = 0x90;
    else if (b == 0xF4)
      hi = 0x8F;
  } else {
    return -1;
  }
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= n)
      return -static_cast<long>(k);
    unsigned char c = p[i + k];
    bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok)
      return -static_cast<long>(k);
  }
  return static_cast<long>(len);
}

} // namespace

std::string utf8Lossy(const std::string &bytes) {
  const auto *p = reinterpret_cast<const unsigned char *>(bytes.data());
  size_t n = bytes.size();
  std::string out;
  out.reserve(n);
  size_t i = 0;
  while (i < n) {
    long l = validSeqLen(p, i, n);
    if (l > 0) {
      out.append(bytes, i, static_cast<size_t>(l));
      i += static_cast<size_t>(l);
    } else {
      out += "\xEF\xBF\xBD";
      i += static_cast<size_t>(-l);
    }
  }
  return out;
}

bool isValidUtf8(const std::string &s) {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    long l = validSeqLen(p, i, n);
    if (l < 0)
      return false;
    i += static_cast<size_t>(l);
  }
  return true;
}

bool isWhitespace(uint32_t c) {
  // Unicode White_Space, which is what Rust's char::is_whitespace tests.
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool isNumeric(uint32_t c) {
  if (c < 0x80)
    return c >= '0' && c <= '9';
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL ||
         cat == UTF8PROC_CATEGORY_NO;
}

namespace {

// PCRE2 knows the Alphabetic property (utf8proc does not), so the word test
// runs a one-character class match. Compiled once; match data per call.
struct WordClass {
  pcre2_code *code = nullptr;
  WordClass() {
    int err;
    PCRE2_SIZE off;
    const char *pat = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, nullptr);
    if (code)
      pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  ~WordClass() { pcre2_code_free(code); }
};

} // namespace

bool isWordChar(uint32_t c) {
  if (c < 0x80)
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
  static const WordClass wc;
  INGOT_CHECK(wc.code, "tokenizer: cannot compile the Unicode word class");
  std::string s;
  appendUtf8(s, c);
  pcre2_match_data *md = pcre2_match_data_create(1, nullptr);
  int rc = pcre2_match(wc.code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                       PCRE2_NO_UTF_CHECK, md, nullptr);
  pcre2_match_data_free(md);
  return rc > 0;
}

std::string unicodeNormalize(const std::string &s, const std::string &form) {
  int opts = UTF8PROC_STABLE;
  if (form == "NFC")
    opts |= UTF8PROC_COMPOSE;
  else if (form == "NFD")
    opts |= UTF8PROC_DECOMPOSE;
  else if (form == "NFKC")
    opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  else if (form == "NFKD")
    opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  else
    throw Error("tokenizer: unknown normalization form " + form);
  if (s.empty())
    return s;
  utf8proc_uint8_t *dst = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t *>(s.data()),
                   static_cast<utf8proc_ssize_t>(s.size()), &dst,
                   static_cast<utf8proc_option_t>(opts));
  if (n < 0) {
    std::free(dst);
    throw Error(std::string("tokenizer: ") + form + " normalization failed: " +
                utf8proc_errmsg(n));
  }
  std::string out(reinterpret_cast<const char *>(dst), static_cast<size_t>(n));
  std::free(dst);
  return out;
}

std::string lowercase(const std::string &s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    i = utf8Next(s, i, &cp);
    if (cp < 0x80) {
      out += static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    } else if (cp == 0x130) {
      // The one unconditional multi-char lowercase mapping (SpecialCasing):
      // U+0130 -> "i" + U+0307, which Rust's to_lowercase produces.
      out += "i\xCC\x87";
    } else {
      appendUtf8(out, static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
    }
  }
  return out;
}

} // namespace tok
} // namespace ingot
