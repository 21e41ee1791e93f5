// Python methods of strings, dicts and lists that chat templates call
// (`content.split('</think>')`, `message.get('x')`, ...), and the global
// functions: range, namespace, dict, raise_exception, strftime_now.
#include "chat_template_impl.h"

#include <utf8proc.h>

#include <algorithm>
#include <ctime>
#include <set>

namespace ingot {
namespace jinja {
namespace {

[[noreturn]] void fail(const std::string &msg) { throw RenderError(msg); }

} // namespace

// ------------------------------------------------------------------ methods

Value method(const Value &obj, const std::string &name) {
  if (obj.isString()) {
    const std::string s = obj.s;
    static const std::set<std::string> names = {
        "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "count", "join", "splitlines", "isdigit",
        "isalpha", "isalnum", "isspace", "islower", "isupper", "removeprefix", "removesuffix"};
    if (!names.count(name))
      return Value::undefined(name);
    return Value::function([s, name](std::vector<Value> &args, KwArgs &kw) -> Value {
      if (name == "strip" || name == "lstrip" || name == "rstrip") {
        checkArgs(name, args, kw, 1, {"chars"});
        return Value::string(pyStrip(s, arg(args, kw, 0, "chars"), name == "strip" ? 3 : name == "lstrip" ? 1 : 2));
      }
      if (name == "split" || name == "rsplit") {
        checkArgs(name, args, kw, 2, {"sep", "maxsplit"});
        const Value *sep = arg(args, kw, 0, "sep");
        const Value *max = arg(args, kw, 1, "maxsplit");
        const int64_t m = max ? toInt(*max) : -1;
        if (name == "rsplit" && m >= 0)
          fail("rsplit with maxsplit is not supported");
        return Value::makeList(pySplit(s, sep, m));
      }
      if (name == "startswith" || name == "endswith") {
        if (args.empty())
          fail(name + "() takes at least 1 argument");
        List cands = args[0].isList() ? *args[0].list : List{args[0]};
        for (const auto &c : cands) {
          if (!c.isString())
            fail(name + " first arg must be str or a tuple of str");
          const bool hit = name == "startswith"
                               ? s.compare(0, c.s.size(), c.s) == 0
                               : s.size() >= c.s.size() && s.compare(s.size() - c.s.size(), c.s.size(), c.s) == 0;
          if (hit)
            return Value::boolean(true);
        }
        return Value::boolean(false);
      }
      if (name == "upper" || name == "lower")
        return Value::string(mapCase(s, name == "upper"));
      if (name == "title")
        return Value::string(titleCase(s));
      if (name == "capitalize")
        return Value::string(capitalize(s));
      if (name == "replace") {
        if (args.size() < 2)
          fail("replace() takes at least 2 arguments");
        return Value::string(replaceAll(s, toStr(args[0]), toStr(args[1]), args.size() > 2 ? toInt(args[2]) : -1));
      }
      if (name == "find" || name == "rfind" || name == "count") {
        if (args.empty() || !args[0].isString())
          fail(name + "() needs a string argument");
        const std::string &sub = args[0].s;
        if (name == "count") {
          if (sub.empty())
            return Value::integer(int64_t(codePoints(s).size()) + 1);
          int64_t c = 0;
          for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size()))
            ++c;
          return Value::integer(c);
        }
        const size_t at = name == "find" ? s.find(sub) : s.rfind(sub);
        if (at == std::string::npos)
          return Value::integer(-1);
        return Value::integer(int64_t(codePoints(s.substr(0, at)).size()));
      }
      if (name == "join") {
        if (args.size() != 1)
          fail("join() takes exactly one argument");
        std::string out;
        bool first = true;
        for (const auto &x : iterate(args[0])) {
          if (!x.isString())
            fail("sequence item: expected str instance, " + typeName(x) + " found");
          out += (first ? "" : s) + x.s;
          first = false;
        }
        return Value::string(out);
      }
      if (name == "splitlines") {
        List out;
        size_t start = 0;
        for (size_t i = 0; i < s.size(); ++i) {
          if (s[i] == '\n' || s[i] == '\r') {
            out.push_back(Value::string(s.substr(start, i - start)));
            if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')
              ++i;
            start = i + 1;
          }
        }
        if (start < s.size())
          out.push_back(Value::string(s.substr(start)));
        return Value::makeList(std::move(out));
      }
      if (name == "removeprefix" || name == "removesuffix") {
        if (args.size() != 1 || !args[0].isString())
          fail(name + "() takes one string argument");
        const std::string &a = args[0].s;
        if (name == "removeprefix")
          return Value::string(s.compare(0, a.size(), a) == 0 ? s.substr(a.size()) : s);
        return Value::string(s.size() >= a.size() && s.compare(s.size() - a.size(), a.size(), a) == 0
                                 ? s.substr(0, s.size() - a.size())
                                 : s);
      }
      // is* predicates
      std::vector<int32_t> cps = decodeUtf8(s);
      if (cps.empty())
        return Value::boolean(false);
      auto all = [&](auto pred) { return std::all_of(cps.begin(), cps.end(), pred); };
      if (name == "isspace")
        return Value::boolean(all(isPySpace));
      if (name == "isdigit")
        return Value::boolean(all([](int32_t c) { return utf8proc_category(c) == UTF8PROC_CATEGORY_ND; }));
      auto isAlpha = [](int32_t c) {
        const auto cat = utf8proc_category(c);
        return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
      };
      if (name == "isalpha")
        return Value::boolean(all(isAlpha));
      if (name == "isalnum")
        return Value::boolean(all([&](int32_t c) { return isAlpha(c) || utf8proc_category(c) == UTF8PROC_CATEGORY_ND; }));
      const bool anyCased = std::any_of(cps.begin(), cps.end(), isCased);
      if (name == "islower")
        return Value::boolean(anyCased && mapCase(s, 0) == s);
      return Value::boolean(anyCased && mapCase(s, 1) == s); // isupper
    });
  }
  if (obj.isDict() && !obj.isNamespace) {
    if (name != "items" && name != "keys" && name != "values" && name != "get")
      return Value::undefined(name);
    const Value self = obj;
    return Value::function([self, name](std::vector<Value> &args, KwArgs &kw) -> Value {
      if (name == "get") {
        if (args.empty() || args.size() > 2)
          fail("get() takes 1 or 2 arguments");
        const Value *v = args[0].isString() ? self.find(args[0].s) : nullptr;
        return v ? *v : (args.size() > 1 ? args[1] : Value::none());
      }
      List out;
      for (const auto &kv : *self.dict) {
        if (name == "keys")
          out.push_back(Value::string(kv.first));
        else if (name == "values")
          out.push_back(kv.second);
        else
          out.push_back(Value::makeList({Value::string(kv.first), kv.second}));
      }
      return Value::makeList(std::move(out));
    });
  }
  if (obj.isList()) {
    if (name != "index" && name != "count")
      return Value::undefined(name);
    const Value self = obj;
    return Value::function([self, name](std::vector<Value> &args, KwArgs &) -> Value {
      if (args.size() != 1)
        fail(name + "() takes exactly one argument");
      int64_t c = 0;
      for (size_t i = 0; i < self.list->size(); ++i)
        if (equals((*self.list)[i], args[0])) {
          if (name == "index")
            return Value::integer(int64_t(i));
          ++c;
        }
      if (name == "index")
        fail("value is not in list");
      return Value::integer(c);
    });
  }
  return Value::undefined(name);
}

// ------------------------------------------------------------------ globals

Value globalFunction(const std::string &name) {
  if (name == "range")
    return Value::function([](std::vector<Value> &args, KwArgs &) -> Value {
      int64_t start = 0, stop = 0, step = 1;
      if (args.size() == 1) {
        stop = toInt(args[0]);
      } else if (args.size() == 2 || args.size() == 3) {
        start = toInt(args[0]);
        stop = toInt(args[1]);
        if (args.size() == 3)
          step = toInt(args[2]);
      } else {
        fail("range() takes 1 to 3 arguments");
      }
      if (step == 0)
        fail("range() arg 3 must not be zero");
      const int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                                     : (start > stop ? (start - stop - step - 1) / -step : 0);
      if (count > kMaxRange)
        fail("range() of " + std::to_string(count) + " items is too large (at most " +
             std::to_string(kMaxRange) + ")");
      List out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        out.push_back(Value::integer(i));
      return Value::makeList(std::move(out));
    });
  if (name == "namespace" || name == "dict")
    return Value::function([name](std::vector<Value> &args, KwArgs &kw) -> Value {
      Value d = Value::makeDict();
      d.isNamespace = name == "namespace";
      for (auto &a : args) {
        if (!a.isDict())
          fail(name + "() positional argument must be a mapping");
        for (auto &kv : *a.dict)
          d.set(kv.first, kv.second);
      }
      for (auto &p : kw) {
        if (d.isNamespace && !p.first.empty() && p.first[0] == '_')
          fail("namespace attributes may not start with '_'");
        d.set(p.first, p.second);
      }
      return d;
    });
  if (name == "raise_exception")
    return Value::function([](std::vector<Value> &args, KwArgs &) -> Value {
      throw RaisedError(args.empty() ? std::string("raise_exception called") : toStr(args[0]));
    });
  if (name == "strftime_now")
    return Value::function([](std::vector<Value> &args, KwArgs &) -> Value {
      if (args.size() != 1 || !args[0].isString())
        fail("strftime_now() takes one format string");
      const std::time_t t = std::time(nullptr);
      std::tm tm{};
      localtime_r(&t, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, args[0].s.c_str(), &tm);
      return Value::string(std::string(buf, n));
    });
  return Value::undefined(name);
}

} // namespace jinja
} // namespace ingot
