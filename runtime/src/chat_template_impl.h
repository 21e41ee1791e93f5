// Internals of the Jinja subset interpreter (chat_template*.cpp): values,
// the syntax tree, and the entry points shared by the lexer
// (chat_template_lex.cpp), the parser (chat_template_parse.cpp), the
// evaluator (chat_template_eval.cpp), value operations
// (chat_template_values.cpp), Python string functions
// (chat_template_strings.cpp), filters and tests (chat_template_builtins.cpp),
// and methods and global functions (chat_template_methods.cpp).
//
// Values follow Jinja/Python semantics closely enough for chat templates:
// lists and dicts are shared by reference (like Python objects), dicts keep
// insertion order (like Python 3.7+), `undefined` is Jinja's default
// Undefined (prints as "", is falsy, iterates as empty, but raises when an
// attribute of it is taken).
#pragma once
#include "ingot/runtime/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ingot {
namespace jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;
using KwArgs = std::vector<std::pair<std::string, Value>>;
using Func = std::function<Value(std::vector<Value> &args, KwArgs &kwargs)>;

struct Value {
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Func };
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;                 // String; for Undefined: the missing name (messages)
  std::shared_ptr<List> list;    // List (tuples are lists too)
  std::shared_ptr<Dict> dict;    // Dict
  std::shared_ptr<Func> func;    // Func
  bool isNamespace = false;      // Dict made by namespace(): attributes may be set
  bool isTuple = false;          // List written as a tuple (shows as (a, b))

  static Value undefined(std::string name = {}) {
    Value v;
    v.s = std::move(name);
    return v;
  }
  static Value none() { Value v; v.kind = Kind::None; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::Float; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::String; v.s = std::move(x); return v; }
  static Value makeList(List l = {}) {
    Value v; v.kind = Kind::List; v.list = std::make_shared<List>(std::move(l)); return v;
  }
  static Value makeDict(Dict d = {}) {
    Value v; v.kind = Kind::Dict; v.dict = std::make_shared<Dict>(std::move(d)); return v;
  }
  static Value function(Func fn) {
    Value v; v.kind = Kind::Func; v.func = std::make_shared<Func>(std::move(fn)); return v;
  }

  bool isUndefined() const { return kind == Kind::Undefined; }
  bool isNone() const { return kind == Kind::None; }
  bool isString() const { return kind == Kind::String; }
  bool isNumber() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool isList() const { return kind == Kind::List; }
  bool isDict() const { return kind == Kind::Dict; }

  // Dict lookup; nullptr when absent (or not a dict).
  const Value *find(const std::string &key) const;
  void set(const std::string &key, Value v); // Dict only
};

// A render-time error; the evaluator adds the template position.
struct RenderError : Error {
  using Error::Error;
};
// raise_exception(...) from the template: its message is kept verbatim.
struct RaisedError : Error {
  using Error::Error;
};

// ---- conversions and operators (chat_template_values.cpp) ----
bool truthy(const Value &v);
std::string toStr(const Value &v);       // Python str() / Jinja output
std::string repr(const Value &v);        // Python repr()
std::string typeName(const Value &v);
bool equals(const Value &a, const Value &b);
int compare(const Value &a, const Value &b); // <0, 0, >0; throws for unordered kinds
bool contains(const Value &container, const Value &item);
// The items a `for` loop visits: list items, dict keys, string characters.
List iterate(const Value &v);
Value fromJson(const nlohmann::ordered_json &j);
// transformers' tojson: json.dumps(ensure_ascii=False, indent, sort_keys).
std::string toJson(const Value &v, int indent, bool sortKeys);
// Code points of a UTF-8 string as separate strings (Python indexing).
std::vector<std::string> codePoints(const std::string &s);

double toDouble(const Value &v);   // bool/int/float; RenderError otherwise
int64_t toInt(const Value &v);     // bool/int; RenderError otherwise

// ---- Python string functions on UTF-8 (chat_template_strings.cpp)
std::vector<int32_t> decodeUtf8(const std::string &s); // invalid bytes: U+FFFD
std::string encodeUtf8(const std::vector<int32_t> &cps);
bool isPySpace(int32_t c);          // str.isspace
bool isCased(int32_t c);
std::string mapCase(const std::string &s, int mode); // 0 lower, 1 upper
std::string titleCase(const std::string &s);
std::string capitalize(const std::string &s);
// str.strip([chars]); which: 1 left, 2 right, 3 both.
std::string pyStrip(const std::string &s, const Value *chars, int which);
List pySplit(const std::string &s, const Value *sep, int64_t maxsplit);
std::string replaceAll(const std::string &s, const std::string &from, const std::string &to, int64_t count);

// ---- argument helpers for filters and methods (chat_template_builtins.cpp)
// Positional argument i, else keyword `name`; nullptr when absent.
const Value *arg(std::vector<Value> &args, KwArgs &kw, size_t i, const char *name);
// Refuses more than maxPos positional arguments or unknown keywords.
void checkArgs(const std::string &fn, std::vector<Value> &args, KwArgs &kw, size_t maxPos,
               std::initializer_list<const char *> names);

// ---- filters, tests (chat_template_builtins.cpp), methods and globals
// (chat_template_methods.cpp)
Value applyFilter(const std::string &name, const Value &target, std::vector<Value> &args,
                  KwArgs &kwargs, const std::function<Value(const Value &, const Value &)> &attrGetter);
bool applyTest(const std::string &name, const Value &target, std::vector<Value> &args);
bool hasFilter(const std::string &name);
bool hasTest(const std::string &name);
// obj.name: a bound Python-style method of a string, dict or list, or an
// undefined value when there is none.
Value method(const Value &obj, const std::string &name);
// The global functions: range, namespace, dict, raise_exception, strftime_now.
Value globalFunction(const std::string &name);

// ---- syntax tree (chat_template_parse.cpp builds it) ----
struct Pos {
  int line = 1, col = 1;
};

struct Expr;
using ExprP = std::unique_ptr<Expr>;
struct Expr {
  enum class Kind {
    Literal, Name, Attr, Item, Slice, Call, Filter, Test, Unary, Binary, And, Or, Not,
    Cond, ListLit, TupleLit, DictLit
  };
  Kind kind;
  Pos pos;
  Value literal;                 // Literal
  std::string name;              // Name, Attr, Filter, Test; Unary/Binary operator
  ExprP a, b, c;                 // operands (Cond: a if b else c; Slice: obj=a, start/stop/step in args)
  std::vector<ExprP> args;       // Call/Filter/Test arguments; list/tuple items; dict keys
  std::vector<std::pair<std::string, ExprP>> kwargs; // keyword arguments
  std::vector<ExprP> values;     // DictLit values; Slice: start, stop, step (nullable)
  bool negated = false;          // Test: `is not`
  explicit Expr(Kind k, Pos p) : kind(k), pos(p) {}
};

struct Node;
using NodeP = std::unique_ptr<Node>;
using Body = std::vector<NodeP>;
struct Node {
  enum class Kind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue };
  Kind kind;
  Pos pos;
  std::string text;                         // Text; Macro name
  ExprP expr;                               // Output; For iterable; Set value
  ExprP cond;                               // For `if` filter
  std::vector<std::pair<ExprP, Body>> branches; // If: (condition, body) ...
  Body body, elseBody;                      // For, SetBlock, Macro; If/For else
  std::vector<std::string> targets;         // For/Set names (tuple unpacking); SetBlock name
  std::string nsAttr;                       // Set ns.attr: targets[0] = ns, nsAttr = attr
  std::vector<std::string> params;          // Macro parameters
  std::vector<ExprP> defaults;              // Macro defaults (nullable), one per parameter
  explicit Node(Kind k, Pos p) : kind(k), pos(p) {}
};

struct Template {
  std::string name;
  Body body;
};

// ---- lexer output (chat_template_lex.cpp)
struct Tok {
  enum Kind { Name, Int, Float, String, Op, End } kind = End;
  std::string text;
  Value value;
  Pos pos;
};

struct Tag {
  enum Kind { Text, Var, Block } kind;
  std::string text;      // Text
  std::vector<Tok> toks; // Var/Block, ending with an End token
  Pos pos;
};

// Splits `source` into tags (newlines normalized, whitespace control and
// trim_blocks/lstrip_blocks applied). Throws ingot::Error with the position.
std::vector<Tag> lexTemplate(const std::string &source, const std::string &name);

// Parses with transformers' settings (trim_blocks, lstrip_blocks).
std::shared_ptr<const Template> parseTemplate(const std::string &source, const std::string &name);
std::string renderTemplate(const Template &t, const nlohmann::ordered_json &context);

// Bounds on one render.
constexpr size_t kMaxOutputBytes = size_t(64) << 20;
constexpr int64_t kMaxIterations = 1'000'000;
constexpr int64_t kMaxRange = 100'000;
constexpr int kMaxCallDepth = 64;

} // namespace jinja
} // namespace ingot
