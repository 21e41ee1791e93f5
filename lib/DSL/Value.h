//===- Value.h - values of the Ingot model DSL evaluator --------*- C++ -*-===//
//
// What a DSL expression evaluates to: plain data (none, bool, int, float,
// string, list), a view of a JSON object (config.json), an SSA value of the
// function being built (a tensor or the batch), a weight recipe (checkpoint
// tensors + transforms, materialised into an ingot.weight_decl on first use
// by an op), or Missing: a config lookup that found nothing. Missing is only
// an error when used, so `config.key ?? default` and `defined(...)` work and
// the message can name the key and where it was read.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_DSL_VALUE_H
#define INGOT_LIB_DSL_VALUE_H

#include "CheckpointBridge.h"
#include "Lexer.h"

#include "mlir/IR/Value.h"
#include "llvm/Support/JSON.h"

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::ingot::dsl {

struct WeightRecipe {
  std::vector<std::string> sources;
  std::vector<::ingot::dslbridge::TransformStep> transforms;
  // The result of the recipe so far, from the checkpoint header.
  std::string dtype;
  std::vector<int64_t> shape;
  SrcLoc loc; // the weight(...) call
};

struct Val {
  enum Kind { None, Bool, Int, Float, Str, List, Object, IR, Weight, Missing };
  Kind kind = None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  // Str: the string. Object: its path ("config", "config.rope_scaling").
  // Missing: why it is missing ("config.json has no key 'x'").
  std::string s;
  std::shared_ptr<std::vector<Val>> list;
  const llvm::json::Object *object = nullptr;
  mlir::Value ir;
  std::shared_ptr<WeightRecipe> weight;
  SrcLoc where; // Missing: where the lookup happened

  static Val none() { return Val(); }
  static Val boolean(bool v) {
    Val x;
    x.kind = Bool;
    x.b = v;
    return x;
  }
  static Val integer(int64_t v) {
    Val x;
    x.kind = Int;
    x.i = v;
    return x;
  }
  static Val number(double v) {
    Val x;
    x.kind = Float;
    x.f = v;
    return x;
  }
  static Val str(std::string v) {
    Val x;
    x.kind = Str;
    x.s = std::move(v);
    return x;
  }
  static Val makeList(std::vector<Val> items) {
    Val x;
    x.kind = List;
    x.list = std::make_shared<std::vector<Val>>(std::move(items));
    return x;
  }
  static Val obj(const llvm::json::Object *o, std::string path) {
    Val x;
    x.kind = Object;
    x.object = o;
    x.s = std::move(path);
    return x;
  }
  static Val value(mlir::Value v) {
    Val x;
    x.kind = IR;
    x.ir = v;
    return x;
  }
  static Val makeWeight(std::shared_ptr<WeightRecipe> w) {
    Val x;
    x.kind = Weight;
    x.weight = std::move(w);
    return x;
  }
  static Val missing(std::string why, SrcLoc where) {
    Val x;
    x.kind = Missing;
    x.s = std::move(why);
    x.where = where;
    return x;
  }

  bool isNumber() const { return kind == Int || kind == Float; }
  // The value as an int64 when it is an int or an integral float in range.
  std::optional<int64_t> exactInt() const {
    if (kind == Int)
      return i;
    if (kind == Float && std::fabs(f) < 9.2e18 && std::trunc(f) == f)
      return int64_t(f);
    return std::nullopt;
  }
  double asDouble() const { return kind == Int ? double(i) : f; }
  // Absent for `??` and defined(): missing keys, JSON null and `none`.
  bool isAbsent() const { return kind == Missing || kind == None; }
};

// "int", "tensor", "weight", ... for messages.
std::string typeName(const Val &v);
// The text of a value inside a string ("{i}") or a message.
std::string formatValue(const Val &v);
// "int 3", "string \"abc\"", "tensor" for "got ..." in messages.
std::string describeValue(const Val &v);

} // namespace mlir::ingot::dsl

#endif
