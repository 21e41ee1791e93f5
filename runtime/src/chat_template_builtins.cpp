// Filters and `is` tests of the Jinja subset, following Jinja's builtins
// (default/d with its boolean flag, join/map/select/reject and their *attr
// forms, sort/min/max case-insensitive by default, ...) and transformers'
// tojson. Anything unsupported raises a RenderError naming it.
#include "chat_template_impl.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace ingot {
namespace jinja {
namespace {

[[noreturn]] void fail(const std::string &msg) { throw RenderError(msg); }

std::string htmlEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&#34;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

int64_t length(const Value &v) {
  switch (v.kind) {
  case Value::Kind::String: return int64_t(codePoints(v.s).size());
  case Value::Kind::List: return int64_t(v.list->size());
  case Value::Kind::Dict: return int64_t(v.dict->size());
  case Value::Kind::Undefined: return 0;
  default: fail("object of type '" + typeName(v) + "' has no len()");
  }
}

// Sort key comparison for sort/min/max/dictsort: strings compare
// case-insensitively unless caseSensitive (Jinja's default).
int sortCompare(const Value &a, const Value &b, bool caseSensitive) {
  if (!caseSensitive && a.isString() && b.isString())
    return compare(Value::string(mapCase(a.s, 0)), Value::string(mapCase(b.s, 0)));
  return compare(a, b);
}

Value attrPath(const Value &v, const std::string &path,
               const std::function<Value(const Value &, const Value &)> &get) {
  Value cur = v;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    Value key = Value::string(part);
    if (!part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(uint8_t(c)); }))
      key = Value::integer(std::stoll(part));
    cur = get(cur, key);
    if (dot == std::string::npos)
      return cur;
    start = dot + 1;
  }
}

} // namespace

const Value *arg(std::vector<Value> &args, KwArgs &kw, size_t i, const char *name) {
  if (i < args.size())
    return &args[i];
  for (auto &p : kw)
    if (p.first == name)
      return &p.second;
  return nullptr;
}

void checkArgs(const std::string &fn, std::vector<Value> &args, KwArgs &kw, size_t maxPos,
               std::initializer_list<const char *> names) {
  if (args.size() > maxPos)
    fail(fn + "() takes at most " + std::to_string(maxPos) + " positional arguments");
  for (auto &p : kw) {
    bool ok = false;
    for (const char *n : names)
      ok = ok || p.first == n;
    if (!ok)
      fail(fn + "() got an unexpected keyword argument '" + p.first + "'");
  }
}

// ------------------------------------------------------------------ filters

static const std::set<std::string> kFilters = {
    "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
    "title", "tojson", "trim", "unique", "upper", "wordcount"};

static const std::set<std::string> kTests = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "even", "false", "float",
    "ge", ">=", "gt", ">", "greaterthan", "in", "integer", "iterable", "le", "<=", "lower", "lt", "<",
    "lessthan", "mapping", "ne", "!=", "none", "number", "odd", "sameas", "sequence", "string", "true",
    "undefined", "upper"};

bool hasFilter(const std::string &name) { return kFilters.count(name) != 0; }
bool hasTest(const std::string &name) { return kTests.count(name) != 0; }

bool applyTest(const std::string &n, const Value &v, std::vector<Value> &args) {
  auto need = [&](size_t k) {
    if (args.size() != k)
      fail("test '" + n + "' takes " + std::to_string(k) + " argument(s)");
  };
  if (n == "defined") return !v.isUndefined();
  if (n == "undefined") return v.isUndefined();
  if (n == "none") return v.isNone();
  if (n == "boolean") return v.kind == Value::Kind::Bool;
  if (n == "true") return v.kind == Value::Kind::Bool && v.b;
  if (n == "false") return v.kind == Value::Kind::Bool && !v.b;
  if (n == "integer") return v.kind == Value::Kind::Int;
  if (n == "float") return v.kind == Value::Kind::Float;
  if (n == "number") return v.isNumber();
  if (n == "string") return v.isString();
  if (n == "mapping") return v.isDict();
  if (n == "sequence") return v.isList() || v.isString() || v.isDict();
  if (n == "iterable") return v.isList() || v.isString() || v.isDict();
  if (n == "callable") return v.kind == Value::Kind::Func;
  if (n == "lower") return v.isString() && mapCase(v.s, 0) == v.s;
  if (n == "upper") return v.isString() && mapCase(v.s, 1) == v.s;
  if (n == "even") return toInt(v) % 2 == 0;
  if (n == "odd") return toInt(v) % 2 != 0;
  if (n == "divisibleby") {
    need(1);
    const int64_t d = toInt(args[0]);
    if (d == 0)
      fail("integer division or modulo by zero");
    return toInt(v) % d == 0;
  }
  need(1);
  const Value &o = args[0];
  if (n == "eq" || n == "equalto" || n == "==") return equals(v, o);
  if (n == "ne" || n == "!=") return !equals(v, o);
  if (n == "sameas") {
    if (v.kind != o.kind) return false;
    switch (v.kind) {
    case Value::Kind::None:
    case Value::Kind::Undefined: return true;
    case Value::Kind::Bool: return v.b == o.b;
    case Value::Kind::List: return v.list == o.list;
    case Value::Kind::Dict: return v.dict == o.dict;
    default: return equals(v, o);
    }
  }
  if (n == "lt" || n == "<" || n == "lessthan") return compare(v, o) < 0;
  if (n == "le" || n == "<=") return compare(v, o) <= 0;
  if (n == "gt" || n == ">" || n == "greaterthan") return compare(v, o) > 0;
  if (n == "ge" || n == ">=") return compare(v, o) >= 0;
  if (n == "in") return contains(o, v);
  fail("unsupported test '" + n + "'");
}

Value applyFilter(const std::string &n, const Value &v, std::vector<Value> &args, KwArgs &kw,
                  const std::function<Value(const Value &, const Value &)> &get) {
  if (n == "safe")
    return v;
  if (n == "string")
    return Value::string(toStr(v));
  if (n == "trim") {
    checkArgs(n, args, kw, 1, {"chars"});
    return Value::string(pyStrip(toStr(v), arg(args, kw, 0, "chars"), 3));
  }
  if (n == "upper" || n == "lower")
    return Value::string(mapCase(toStr(v), n == "upper"));
  if (n == "title")
    return Value::string(titleCase(toStr(v)));
  if (n == "capitalize")
    return Value::string(capitalize(toStr(v)));
  if (n == "length" || n == "count")
    return Value::integer(length(v));
  if (n == "wordcount")
    return Value::integer(int64_t(pySplit(toStr(v), nullptr, -1).size()));
  if (n == "escape" || n == "e")
    return Value::string(htmlEscape(toStr(v)));
  if (n == "abs") {
    if (v.kind == Value::Kind::Float)
      return Value::number(std::fabs(v.f));
    return Value::integer(std::llabs(toInt(v)));
  }
  if (n == "default" || n == "d") {
    checkArgs(n, args, kw, 2, {"default_value", "boolean"});
    const Value *def = arg(args, kw, 0, "default_value");
    const Value *boolean = arg(args, kw, 1, "boolean");
    const bool useIfFalsy = boolean && truthy(*boolean);
    if (v.isUndefined() || (useIfFalsy && !truthy(v)))
      return def ? *def : Value::string("");
    return v;
  }
  if (n == "first" || n == "last") {
    List items = iterate(v);
    if (items.empty())
      return Value::undefined("first/last of an empty sequence");
    return n == "first" ? items.front() : items.back();
  }
  if (n == "list")
    return Value::makeList(iterate(v));
  if (n == "items") {
    if (v.isUndefined())
      return Value::makeList();
    if (!v.isDict())
      fail("items filter needs a mapping, got " + typeName(v));
    List out;
    for (const auto &kv : *v.dict)
      out.push_back(Value::makeList({Value::string(kv.first), kv.second}));
    return Value::makeList(std::move(out));
  }
  if (n == "dictsort") {
    if (!v.isDict())
      fail("dictsort needs a mapping, got " + typeName(v));
    checkArgs(n, args, kw, 3, {"case_sensitive", "by", "reverse"});
    const Value *cs = arg(args, kw, 0, "case_sensitive");
    const Value *by = arg(args, kw, 1, "by");
    const Value *rev = arg(args, kw, 2, "reverse");
    const bool byValue = by && by->isString() && by->s == "value";
    List out;
    for (const auto &kv : *v.dict)
      out.push_back(Value::makeList({Value::string(kv.first), kv.second}));
    std::stable_sort(out.begin(), out.end(), [&](const Value &a, const Value &b) {
      return sortCompare((*a.list)[byValue], (*b.list)[byValue], cs && truthy(*cs)) < 0;
    });
    if (rev && truthy(*rev))
      std::reverse(out.begin(), out.end());
    return Value::makeList(std::move(out));
  }
  if (n == "join") {
    checkArgs(n, args, kw, 2, {"d", "attribute"});
    const Value *sep = arg(args, kw, 0, "d");
    const Value *attr = arg(args, kw, 1, "attribute");
    std::string out;
    bool first = true;
    for (const auto &x : iterate(v)) {
      if (!first)
        out += sep ? toStr(*sep) : "";
      first = false;
      out += toStr(attr && !attr->isNone() ? attrPath(x, toStr(*attr), get) : x);
    }
    return Value::string(out);
  }
  if (n == "replace") {
    checkArgs(n, args, kw, 3, {"old", "new", "count"});
    const Value *from = arg(args, kw, 0, "old");
    const Value *to = arg(args, kw, 1, "new");
    const Value *count = arg(args, kw, 2, "count");
    if (!from || !to)
      fail("replace() needs old and new");
    return Value::string(replaceAll(toStr(v), toStr(*from), toStr(*to), count && !count->isNone() ? toInt(*count) : -1));
  }
  if (n == "reverse") {
    if (v.isString()) {
      auto cps = codePoints(v.s);
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it)
        out += *it;
      return Value::string(out);
    }
    List items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::makeList(std::move(items));
  }
  if (n == "int") {
    checkArgs(n, args, kw, 2, {"default", "base"});
    const Value *def = arg(args, kw, 0, "default");
    const Value fallback = def ? *def : Value::integer(0);
    if (v.kind == Value::Kind::Int || v.kind == Value::Kind::Bool)
      return Value::integer(toInt(v));
    if (v.kind == Value::Kind::Float)
      return std::isfinite(v.f) ? Value::integer(int64_t(v.f)) : fallback;
    if (v.isString()) {
      const std::string t = pyStrip(v.s, nullptr, 3);
      int64_t out = 0;
      auto r = std::from_chars(t.data(), t.data() + t.size(), out);
      if (r.ec == std::errc() && r.ptr == t.data() + t.size() && !t.empty())
        return Value::integer(out);
      char *end = nullptr;
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end == t.c_str() + t.size() && std::isfinite(d))
        return Value::integer(int64_t(d));
    }
    return fallback;
  }
  if (n == "float") {
    checkArgs(n, args, kw, 1, {"default"});
    const Value *def = arg(args, kw, 0, "default");
    if (v.isNumber())
      return Value::number(toDouble(v));
    if (v.isString()) {
      const std::string t = pyStrip(v.s, nullptr, 3);
      char *end = nullptr;
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end == t.c_str() + t.size())
        return Value::number(d);
    }
    return def ? *def : Value::number(0.0);
  }
  if (n == "round") {
    checkArgs(n, args, kw, 2, {"precision", "method"});
    const Value *prec = arg(args, kw, 0, "precision");
    const Value *method = arg(args, kw, 1, "method");
    const int64_t p = prec ? toInt(*prec) : 0;
    const std::string m = method ? toStr(*method) : "common";
    const double scale = std::pow(10.0, double(p));
    const double x = toDouble(v) * scale;
    double r;
    if (m == "common")
      r = std::round(x);
    else if (m == "ceil")
      r = std::ceil(x);
    else if (m == "floor")
      r = std::floor(x);
    else
      fail("round method must be common, ceil or floor");
    return Value::number(r / scale);
  }
  if (n == "tojson") {
    checkArgs(n, args, kw, 1, {"indent", "sort_keys", "ensure_ascii", "separators"});
    const Value *indent = arg(args, kw, 0, "indent");
    const Value *sortKeys = arg(args, kw, 9, "sort_keys");
    for (auto &p : kw)
      if ((p.first == "ensure_ascii" && truthy(p.second)) || (p.first == "separators" && !p.second.isNone()))
        fail("tojson: " + p.first + " is not supported");
    return Value::string(toJson(v, indent && !indent->isNone() ? int(toInt(*indent)) : -1,
                                sortKeys && truthy(*sortKeys)));
  }
  if (n == "indent") {
    checkArgs(n, args, kw, 3, {"width", "first", "blank"});
    const Value *width = arg(args, kw, 0, "width");
    const Value *first = arg(args, kw, 1, "first");
    const Value *blank = arg(args, kw, 2, "blank");
    const std::string pad = width ? (width->isString() ? width->s : std::string(size_t(std::max<int64_t>(0, toInt(*width))), ' '))
                                  : std::string(4, ' ');
    const std::string s = toStr(v);
    std::string out;
    size_t start = 0;
    bool firstLine = true;
    while (true) {
      const size_t nl = s.find('\n', start);
      const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      const bool doPad = (firstLine ? (first && truthy(*first)) : true) &&
                         (!line.empty() || (blank && truthy(*blank)));
      out += (doPad ? pad : "") + line;
      if (nl == std::string::npos)
        break;
      out += '\n';
      start = nl + 1;
      firstLine = false;
    }
    return Value::string(out);
  }
  if (n == "attr") {
    if (args.size() != 1)
      fail("attr() takes one argument");
    return get(v, args[0]);
  }
  if (n == "unique") {
    checkArgs(n, args, kw, 2, {"case_sensitive", "attribute"});
    const Value *cs = arg(args, kw, 0, "case_sensitive");
    const Value *attr = arg(args, kw, 1, "attribute");
    List out, keys;
    for (const auto &x : iterate(v)) {
      Value key = attr ? attrPath(x, toStr(*attr), get) : x;
      if (!(cs && truthy(*cs)) && key.isString())
        key = Value::string(mapCase(key.s, 0));
      bool seen = false;
      for (const auto &k : keys)
        seen = seen || equals(k, key);
      if (!seen) {
        keys.push_back(key);
        out.push_back(x);
      }
    }
    return Value::makeList(std::move(out));
  }
  if (n == "sort" || n == "min" || n == "max") {
    checkArgs(n, args, kw, n == "sort" ? 3 : 2,
              {"reverse", "case_sensitive", "attribute"});
    const Value *rev = n == "sort" ? arg(args, kw, 0, "reverse") : nullptr;
    const Value *cs = arg(args, kw, n == "sort" ? 1 : 0, "case_sensitive");
    const Value *attr = arg(args, kw, n == "sort" ? 2 : 1, "attribute");
    List items = iterate(v);
    auto key = [&](const Value &x) { return attr ? attrPath(x, toStr(*attr), get) : x; };
    std::stable_sort(items.begin(), items.end(), [&](const Value &a, const Value &b) {
      return sortCompare(key(a), key(b), cs && truthy(*cs)) < 0;
    });
    if (n == "sort") {
      if (rev && truthy(*rev))
        std::stable_sort(items.begin(), items.end(), [&](const Value &a, const Value &b) {
          return sortCompare(key(a), key(b), cs && truthy(*cs)) > 0;
        });
      return Value::makeList(std::move(items));
    }
    if (items.empty())
      return Value::undefined("min/max of an empty sequence");
    return n == "min" ? items.front() : items.back();
  }
  if (n == "sum") {
    checkArgs(n, args, kw, 2, {"attribute", "start"});
    const Value *attr = arg(args, kw, 0, "attribute");
    const Value *start = arg(args, kw, 1, "start");
    Value acc = start ? *start : Value::integer(0);
    for (const auto &x : iterate(v)) {
      const Value y = attr ? attrPath(x, toStr(*attr), get) : x;
      if (acc.kind == Value::Kind::Float || y.kind == Value::Kind::Float)
        acc = Value::number(toDouble(acc) + toDouble(y));
      else
        acc = Value::integer(toInt(acc) + toInt(y));
    }
    return acc;
  }
  if (n == "map") {
    List out;
    const Value *attr = nullptr;
    const Value *def = nullptr;
    for (auto &p : kw) {
      if (p.first == "attribute")
        attr = &p.second;
      else if (p.first == "default")
        def = &p.second;
    }
    if (attr) {
      for (const auto &x : iterate(v)) {
        Value y = attrPath(x, toStr(*attr), get);
        out.push_back(y.isUndefined() && def ? *def : y);
      }
      return Value::makeList(std::move(out));
    }
    if (args.empty() || !args[0].isString())
      fail("map() needs a filter name or attribute=");
    const std::string f = args[0].s;
    if (!hasFilter(f) || f == "map")
      fail("map(): unsupported filter '" + f + "'");
    std::vector<Value> rest(args.begin() + 1, args.end());
    KwArgs restKw;
    for (auto &p : kw)
      restKw.push_back(p);
    for (const auto &x : iterate(v)) {
      std::vector<Value> a = rest;
      KwArgs k = restKw;
      out.push_back(applyFilter(f, x, a, k, get));
    }
    return Value::makeList(std::move(out));
  }
  if (n == "select" || n == "reject" || n == "selectattr" || n == "rejectattr") {
    const bool byAttr = n == "selectattr" || n == "rejectattr";
    const bool keep = n == "select" || n == "selectattr";
    size_t k = 0;
    std::string attr;
    if (byAttr) {
      if (args.empty())
        fail(n + "() needs an attribute name");
      attr = toStr(args[k++]);
    }
    std::string test;
    if (k < args.size())
      test = toStr(args[k++]);
    if (!test.empty() && !hasTest(test))
      fail(n + "(): unsupported test '" + test + "'");
    std::vector<Value> testArgs(args.begin() + long(k), args.end());
    List out;
    for (const auto &x : iterate(v)) {
      const Value subject = byAttr ? attrPath(x, attr, get) : x;
      std::vector<Value> ta = testArgs;
      const bool pass = test.empty() ? truthy(subject) : applyTest(test, subject, ta);
      if (pass == keep)
        out.push_back(x);
    }
    return Value::makeList(std::move(out));
  }
  fail("unsupported filter '" + n + "'");
}

} // namespace jinja
} // namespace ingot
