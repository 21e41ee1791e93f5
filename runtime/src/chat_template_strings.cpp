// Python string functions on UTF-8 text for the Jinja subset: code points
// (not bytes) for case mapping (utf8proc), strip/split with Python's
// whitespace set, and replace with Python's semantics for an empty pattern.
#include "chat_template_impl.h"

#include <utf8proc.h>

#include <algorithm>

namespace ingot {
namespace jinja {
namespace {

[[noreturn]] void fail(const std::string &msg) { throw RenderError(msg); }

} // namespace

std::vector<int32_t> decodeUtf8(const std::string &s) {
  std::vector<int32_t> out;
  out.reserve(s.size());
  const auto *p = reinterpret_cast<const utf8proc_uint8_t *>(s.data());
  utf8proc_ssize_t n = utf8proc_ssize_t(s.size());
  while (n > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t len = utf8proc_iterate(p, n, &cp);
    if (len <= 0) {
      cp = 0xFFFD;
      len = 1;
    }
    out.push_back(cp);
    p += len;
    n -= len;
  }
  return out;
}

std::string encodeUtf8(const std::vector<int32_t> &cps) {
  std::string out;
  utf8proc_uint8_t buf[4];
  for (int32_t cp : cps) {
    const utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
    out.append(reinterpret_cast<const char *>(buf), size_t(n));
  }
  return out;
}

bool isPySpace(int32_t c) {
  return (c >= 9 && c <= 13) || (c >= 28 && c <= 32) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string mapCase(const std::string &s, int mode /*0 lower, 1 upper*/) {
  std::vector<int32_t> cps = decodeUtf8(s);
  for (auto &c : cps)
    c = mode ? utf8proc_toupper(c) : utf8proc_tolower(c);
  return encodeUtf8(cps);
}

bool isCased(int32_t c) { return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c; }

std::string titleCase(const std::string &s) {
  std::vector<int32_t> cps = decodeUtf8(s);
  bool prevCased = false;
  for (auto &c : cps) {
    const bool cased = isCased(c);
    c = cased ? (prevCased ? utf8proc_tolower(c) : utf8proc_totitle(c)) : c;
    prevCased = cased;
  }
  return encodeUtf8(cps);
}

std::string capitalize(const std::string &s) {
  std::vector<int32_t> cps = decodeUtf8(s);
  for (size_t i = 0; i < cps.size(); ++i)
    cps[i] = i == 0 ? utf8proc_totitle(cps[i]) : utf8proc_tolower(cps[i]);
  return encodeUtf8(cps);
}

// Python str.strip([chars]) family. which: 1 left, 2 right, 3 both.
std::string pyStrip(const std::string &s, const Value *chars, int which) {
  std::vector<int32_t> cps = decodeUtf8(s);
  std::vector<int32_t> set;
  const bool useSet = chars && !chars->isNone() && !chars->isUndefined();
  if (useSet) {
    if (!chars->isString())
      fail("strip arg must be None or str");
    set = decodeUtf8(chars->s);
  }
  auto strip = [&](int32_t c) {
    return useSet ? std::find(set.begin(), set.end(), c) != set.end() : isPySpace(c);
  };
  size_t b = 0, e = cps.size();
  if (which & 1)
    while (b < e && strip(cps[b]))
      ++b;
  if (which & 2)
    while (e > b && strip(cps[e - 1]))
      --e;
  return encodeUtf8(std::vector<int32_t>(cps.begin() + long(b), cps.begin() + long(e)));
}

List pySplit(const std::string &s, const Value *sep, int64_t maxsplit) {
  List out;
  if (!sep || sep->isNone()) {
    std::vector<int32_t> cps = decodeUtf8(s);
    size_t i = 0;
    int64_t splits = 0;
    while (true) {
      while (i < cps.size() && isPySpace(cps[i]))
        ++i;
      if (i >= cps.size())
        break;
      if (maxsplit >= 0 && splits >= maxsplit) {
        size_t e = cps.size();
        while (e > i && isPySpace(cps[e - 1]))
          --e;
        out.push_back(Value::string(encodeUtf8(std::vector<int32_t>(cps.begin() + long(i), cps.begin() + long(e)))));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !isPySpace(cps[j]))
        ++j;
      out.push_back(Value::string(encodeUtf8(std::vector<int32_t>(cps.begin() + long(i), cps.begin() + long(j)))));
      ++splits;
      i = j;
    }
    return out;
  }
  if (!sep->isString())
    fail("must be str or None, not " + typeName(*sep));
  if (sep->s.empty())
    fail("empty separator");
  size_t start = 0;
  int64_t splits = 0;
  while (true) {
    const size_t at = (maxsplit >= 0 && splits >= maxsplit) ? std::string::npos : s.find(sep->s, start);
    if (at == std::string::npos) {
      out.push_back(Value::string(s.substr(start)));
      break;
    }
    out.push_back(Value::string(s.substr(start, at - start)));
    start = at + sep->s.size();
    ++splits;
  }
  return out;
}

std::string replaceAll(const std::string &s, const std::string &from, const std::string &to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python: inserts `to` between every code point (and at both ends).
    std::vector<std::string> cps = codePoints(s);
    int64_t n = 0;
    for (const auto &c : cps) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      out += c;
    }
    if (count < 0 || n < count)
      out += to;
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  while (true) {
    const size_t at = (count >= 0 && n >= count) ? std::string::npos : s.find(from, start);
    if (at == std::string::npos) {
      out += s.substr(start);
      return out;
    }
    out += s.substr(start, at - start);
    out += to;
    start = at + from.size();
    ++n;
  }
}

} // namespace jinja
} // namespace ingot
