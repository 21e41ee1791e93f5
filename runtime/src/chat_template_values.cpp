// Values of the Jinja subset (chat_template_impl.h): Python's truthiness,
// str() and repr() (floats as Python prints them: shortest round trip,
// exponent outside 1e-4 .. 1e16), equality and ordering, `in`, iteration,
// conversion from JSON, and transformers' tojson (json.dumps with
// ensure_ascii=False: ", " and ": " separators, or "," with an indent).
#include "chat_template_impl.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace ingot {
namespace jinja {
namespace {

[[noreturn]] void fail(const std::string &msg) { throw RenderError(msg); }

std::string pyFloat(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  if (v == 0)
    return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  // "-d.ddde±XX" -> sign, digits, exponent
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  const int exp = std::stoi(sci.substr(epos + 1));
  std::string digits;
  for (char c : mant)
    if (c != '.')
      digits += c;
  if (exp >= 16 || exp < -4) {
    std::string m = digits.substr(0, 1);
    if (digits.size() > 1)
      m += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return sign + m + eb;
  }
  std::string out;
  if (exp < 0) {
    out = "0." + std::string(size_t(-exp - 1), '0') + digits;
  } else if (size_t(exp) + 1 >= digits.size()) {
    out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
  }
  return sign + out;
}

std::string reprString(const std::string &s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c == uint8_t(q)) {
        out += '\\';
        out += char(c);
      } else if (c < 0x20 || c == 0x7f) {
        char b[8];
        std::snprintf(b, sizeof b, "\\x%02x", c);
        out += b;
      } else {
        out += char(c);
      }
    }
  }
  out += q;
  return out;
}

void jsonString(std::string &out, const std::string &s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    default:
      if (c < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        out += b;
      } else {
        out += char(c);
      }
    }
  }
  out += '"';
}

void jsonDump(std::string &out, const Value &v, int indent, bool sortKeys, int level) {
  if (level > 256)
    fail("tojson: nesting too deep");
  auto newline = [&](int lv) {
    out += '\n';
    out.append(size_t(indent) * size_t(lv), ' ');
  };
  switch (v.kind) {
  case Value::Kind::None: out += "null"; return;
  case Value::Kind::Bool: out += v.b ? "true" : "false"; return;
  case Value::Kind::Int: out += std::to_string(v.i); return;
  case Value::Kind::Float:
    if (std::isnan(v.f))
      out += "NaN";
    else if (std::isinf(v.f))
      out += v.f < 0 ? "-Infinity" : "Infinity";
    else
      out += pyFloat(v.f);
    return;
  case Value::Kind::String: jsonString(out, v.s); return;
  case Value::Kind::List: {
    if (v.list->empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto &x : *v.list) {
      if (!first)
        out += indent >= 0 ? "," : ", ";
      first = false;
      if (indent >= 0)
        newline(level + 1);
      jsonDump(out, x, indent, sortKeys, level + 1);
    }
    if (indent >= 0)
      newline(level);
    out += ']';
    return;
  }
  case Value::Kind::Dict: {
    if (v.dict->empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<std::string, Value> *> items;
    for (const auto &kv : *v.dict)
      items.push_back(&kv);
    if (sortKeys)
      std::stable_sort(items.begin(), items.end(), [](auto *a, auto *b) { return a->first < b->first; });
    out += '{';
    bool first = true;
    for (auto *kv : items) {
      if (!first)
        out += indent >= 0 ? "," : ", ";
      first = false;
      if (indent >= 0)
        newline(level + 1);
      jsonString(out, kv->first);
      out += ": ";
      jsonDump(out, kv->second, indent, sortKeys, level + 1);
    }
    if (indent >= 0)
      newline(level);
    out += '}';
    return;
  }
  default:
    fail("Object of type " + typeName(v) + " is not JSON serializable");
  }
}

} // namespace

const Value *Value::find(const std::string &key) const {
  if (kind != Kind::Dict)
    return nullptr;
  for (const auto &kv : *dict)
    if (kv.first == key)
      return &kv.second;
  return nullptr;
}

void Value::set(const std::string &key, Value v) {
  for (auto &kv : *dict)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  dict->emplace_back(key, std::move(v));
}

double toDouble(const Value &v) {
  switch (v.kind) {
  case Value::Kind::Bool: return v.b ? 1.0 : 0.0;
  case Value::Kind::Int: return double(v.i);
  case Value::Kind::Float: return v.f;
  default: fail("expected a number, got " + typeName(v));
  }
}

int64_t toInt(const Value &v) {
  switch (v.kind) {
  case Value::Kind::Bool: return v.b ? 1 : 0;
  case Value::Kind::Int: return v.i;
  default: fail("expected an integer, got " + typeName(v));
  }
}

std::vector<std::string> codePoints(const std::string &s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = uint8_t(s[i]);
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + n > s.size())
      n = s.size() - i;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

bool truthy(const Value &v) {
  switch (v.kind) {
  case Value::Kind::Undefined:
  case Value::Kind::None: return false;
  case Value::Kind::Bool: return v.b;
  case Value::Kind::Int: return v.i != 0;
  case Value::Kind::Float: return v.f != 0.0;
  case Value::Kind::String: return !v.s.empty();
  case Value::Kind::List: return !v.list->empty();
  case Value::Kind::Dict: return !v.dict->empty();
  case Value::Kind::Func: return true;
  }
  return false;
}

std::string typeName(const Value &v) {
  switch (v.kind) {
  case Value::Kind::Undefined: return "Undefined";
  case Value::Kind::None: return "NoneType";
  case Value::Kind::Bool: return "bool";
  case Value::Kind::Int: return "int";
  case Value::Kind::Float: return "float";
  case Value::Kind::String: return "str";
  case Value::Kind::List: return "list";
  case Value::Kind::Dict: return v.isNamespace ? "Namespace" : "dict";
  case Value::Kind::Func: return "function";
  }
  return "?";
}

std::string repr(const Value &v) {
  switch (v.kind) {
  case Value::Kind::String: return reprString(v.s);
  case Value::Kind::List: {
    std::string out = v.isTuple ? "(" : "[";
    for (size_t i = 0; i < v.list->size(); ++i)
      out += (i ? ", " : "") + repr((*v.list)[i]);
    if (v.isTuple && v.list->size() == 1)
      out += ",";
    return out + (v.isTuple ? ")" : "]");
  }
  case Value::Kind::Dict: {
    if (v.isNamespace)
      return "<Namespace>";
    std::string out = "{";
    bool first = true;
    for (const auto &kv : *v.dict) {
      out += (first ? "" : ", ") + reprString(kv.first) + ": " + repr(kv.second);
      first = false;
    }
    return out + "}";
  }
  default: return toStr(v);
  }
}

std::string toStr(const Value &v) {
  switch (v.kind) {
  case Value::Kind::Undefined: return "";
  case Value::Kind::None: return "None";
  case Value::Kind::Bool: return v.b ? "True" : "False";
  case Value::Kind::Int: return std::to_string(v.i);
  case Value::Kind::Float: return pyFloat(v.f);
  case Value::Kind::String: return v.s;
  case Value::Kind::Func: return "<function>";
  default: return repr(v);
  }
}

bool equals(const Value &a, const Value &b) {
  if (a.isNumber() && b.isNumber()) {
    if (a.kind == Value::Kind::Float || b.kind == Value::Kind::Float)
      return toDouble(a) == toDouble(b);
    return toInt(a) == toInt(b);
  }
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case Value::Kind::Undefined:
  case Value::Kind::None: return true;
  case Value::Kind::String: return a.s == b.s;
  case Value::Kind::List:
    if (a.list->size() != b.list->size())
      return false;
    for (size_t i = 0; i < a.list->size(); ++i)
      if (!equals((*a.list)[i], (*b.list)[i]))
        return false;
    return true;
  case Value::Kind::Dict:
    if (a.dict->size() != b.dict->size())
      return false;
    for (const auto &kv : *a.dict) {
      const Value *o = b.find(kv.first);
      if (!o || !equals(kv.second, *o))
        return false;
    }
    return true;
  case Value::Kind::Func: return a.func == b.func;
  default: return false;
  }
}

int compare(const Value &a, const Value &b) {
  if (a.isNumber() && b.isNumber()) {
    if (a.kind == Value::Kind::Float || b.kind == Value::Kind::Float) {
      const double x = toDouble(a), y = toDouble(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    const int64_t x = toInt(a), y = toInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.isString() && b.isString())
    return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  if (a.isList() && b.isList()) {
    const size_t n = std::min(a.list->size(), b.list->size());
    for (size_t i = 0; i < n; ++i)
      if (int c = compare((*a.list)[i], (*b.list)[i]))
        return c;
    return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size() ? 1 : 0;
  }
  fail("'<' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'");
}

bool contains(const Value &c, const Value &item) {
  switch (c.kind) {
  case Value::Kind::String:
    if (!item.isString())
      fail("'in <string>' requires string as left operand, not " + typeName(item));
    return c.s.find(item.s) != std::string::npos;
  case Value::Kind::List:
    for (const auto &x : *c.list)
      if (equals(x, item))
        return true;
    return false;
  case Value::Kind::Dict:
    return item.isString() && c.find(item.s) != nullptr;
  case Value::Kind::Undefined: return false;
  default: fail("argument of type '" + typeName(c) + "' is not iterable");
  }
}

List iterate(const Value &v) {
  switch (v.kind) {
  case Value::Kind::Undefined: return {};
  case Value::Kind::List: return *v.list;
  case Value::Kind::Dict: {
    List keys;
    for (const auto &kv : *v.dict)
      keys.push_back(Value::string(kv.first));
    return keys;
  }
  case Value::Kind::String: {
    List out;
    for (auto &c : codePoints(v.s))
      out.push_back(Value::string(c));
    return out;
  }
  default: fail("'" + typeName(v) + "' object is not iterable");
  }
}

Value fromJson(const nlohmann::ordered_json &j) {
  switch (j.type()) {
  case nlohmann::ordered_json::value_t::null: return Value::none();
  case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
  case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
  case nlohmann::ordered_json::value_t::number_unsigned: {
    const uint64_t u = j.get<uint64_t>();
    return u > uint64_t(INT64_MAX) ? Value::number(double(u)) : Value::integer(int64_t(u));
  }
  case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
  case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
  case nlohmann::ordered_json::value_t::array: {
    List l;
    for (const auto &x : j)
      l.push_back(fromJson(x));
    return Value::makeList(std::move(l));
  }
  case nlohmann::ordered_json::value_t::object: {
    Dict d;
    for (auto it = j.begin(); it != j.end(); ++it)
      d.emplace_back(it.key(), fromJson(it.value()));
    return Value::makeDict(std::move(d));
  }
  default: return Value::none();
  }
}

std::string toJson(const Value &v, int indent, bool sortKeys) {
  std::string out;
  jsonDump(out, v, indent, sortKeys, 0);
  return out;
}

} // namespace jinja
} // namespace ingot
