//===- Evaluator.h - runs a parsed model file into the ingot dialect -*- C++
//-*-===//
//
// The evaluator walks the syntax tree once, like an interpreter: hyper-
// parameters are computed from config.json, loops are unrolled, conditionals
// pick a branch, and every op call appends an op to @forward at the call's
// FileLineColLoc. Each op is built with its inferred ranked type and verified
// on the spot, so a shape mismatch is reported at the DSL line that caused it;
// Instantiate.cpp erases the ranks afterwards (the front-end contract is
// unranked results, made ranked again by ingot-shape-inference).
//
// Errors are emitted through the MLIRContext's diagnostic engine and
// returned as failure(); evaluation stops at the first one.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_DSL_EVALUATOR_H
#define INGOT_LIB_DSL_EVALUATOR_H

#include "AST.h"
#include "CheckpointBridge.h"
#include "Value.h"

#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"

#include <map>
#include <optional>

namespace mlir::ingot::dsl {

// Arguments of a builtin call after evaluation.
struct CallArgs {
  struct Item {
    std::string name; // empty: positional
    SrcLoc loc;       // where the argument's expression starts
    SrcLoc nameLoc;   // keyword arguments: the name
    Val value;
  };
  std::vector<Item> positional, keyword;
  const Item *kw(llvm::StringRef name) const {
    for (const Item &k : keyword)
      if (k.name == name)
        return &k;
    return nullptr;
  }
};

// Values of meta(...): the model's summary for the `ingot.model` attribute.
struct ModelMeta {
  bool given = false;
  std::optional<int64_t> vocabSize, hiddenSize, numLayers, maxPosition;
  std::optional<int64_t> bosTokenId, padTokenId;
  std::optional<std::vector<int64_t>> eosTokenIds;
};

class Evaluator {
public:
  Evaluator(MLIRContext &ctx, llvm::StringRef file,
            const llvm::json::Object &config,
            const llvm::json::Object &generationConfig,
            const ::ingot::dslbridge::CheckpointIndex &ckpt, ModuleOp module,
            func::FuncOp forward);

  // Runs the file's statements. On success returned() is the output.
  LogicalResult run(const ModelFile &file);
  std::optional<mlir::Value> returned() const { return output; }
  const ModelMeta &meta() const { return metaInfo; }
  Location loc(SrcLoc l) const;

private:
  MLIRContext &ctx;
  std::string file;
  const llvm::json::Object &config, &generationConfig;
  const ::ingot::dslbridge::CheckpointIndex &ckpt;
  ModuleOp module;
  func::FuncOp forward;
  OpBuilder builder;     // appends to @forward's body
  OpBuilder declBuilder; // inserts weight declarations before @forward
  // Scopes: module-level names, and the locals of the user function being
  // run (functions see globals and their own locals, not their caller's).
  llvm::StringMap<Val> globals;
  llvm::StringMap<Val> *locals = nullptr;
  llvm::StringMap<const Stmt *> functions;
  // Call sites of the user functions being run, outermost first.
  std::vector<SrcLoc> callStack;
  // Statements and comprehension items run so far: a bound that turns a
  // runaway loop or recursion in a model file into an error, not a hang.
  uint64_t steps = 0;
  LogicalResult countStep(SrcLoc l);
  // Set by `return`: the model's output at the top level, else the value of
  // the function being run.
  std::optional<Val> returning;
  std::optional<mlir::Value> output;
  ModelMeta metaInfo;
  // Materialised weights by recipe key, and the symbol names taken.
  std::map<std::string, mlir::Value> weightValues;
  llvm::StringMap<unsigned> symbolNames;
  std::vector<std::string> tensorNamesCache;

  // Diagnostics.
  InFlightDiagnostic error(SrcLoc l);
  LogicalResult fail(SrcLoc l, const llvm::Twine &msg);
  // Fails with the Missing's story when `v` is Missing.
  LogicalResult requirePresent(const Val &v, SrcLoc use);

  const Val *lookup(llvm::StringRef name) const;
  void assign(llvm::StringRef name, Val v);
  std::vector<std::string> visibleNames() const;

  // Statements (Evaluator.cpp).
  LogicalResult exec(const Block &block);
  LogicalResult exec(const Stmt &s);

  // Expressions (Evaluator.cpp).
  FailureOr<Val> eval(const Expr &e);
  FailureOr<Val> evalPresent(const Expr &e); // Missing -> error
  FailureOr<Val> evalString(const Expr &e);
  FailureOr<Val> evalMember(const Expr &e);
  FailureOr<Val> evalIndex(const Expr &e);
  FailureOr<Val> evalBinary(const Expr &e);
  FailureOr<Val> evalComprehension(const Expr &e);
  FailureOr<bool> evalCondition(const Expr &e, llvm::StringRef what);
  FailureOr<int64_t> evalInt(const Expr &e, llvm::StringRef what);
  FailureOr<bool> equal(const Val &a, const Val &b, SrcLoc l);
  Val fromJson(const llvm::json::Value &v, const std::string &path, SrcLoc l);
  Val lookupKey(const Val &obj, llvm::StringRef key, SrcLoc l);

  // Calls (Builtins.cpp).
  FailureOr<Val> evalCall(const Expr &e);
  FailureOr<Val> callBuiltin(llvm::StringRef name, const CallArgs &args,
                             SrcLoc l);
  FailureOr<Val> callMethod(const Val &self, llvm::StringRef name,
                            const CallArgs &args, SrcLoc l);
  FailureOr<Val> callOp(llvm::StringRef name, const CallArgs &args, SrcLoc l);
  FailureOr<Val> callUser(const Stmt &def, const CallArgs &args, SrcLoc l);
  FailureOr<Val> buildMeta(const CallArgs &args, SrcLoc l);
  LogicalResult expectArgs(llvm::StringRef fn, const CallArgs &args,
                           size_t minPos, size_t maxPos,
                           llvm::ArrayRef<llvm::StringRef> keywords, SrcLoc l);

  // Weights (Weights.cpp).
  FailureOr<Val> makeWeight(const Val &name, SrcLoc l);
  FailureOr<Val> combineWeights(llvm::StringRef how, const Val &list,
                                int64_t axis, SrcLoc l);
  FailureOr<Val> addTransform(const Val &w,
                              ::ingot::dslbridge::TransformStep step, SrcLoc l);
  FailureOr<mlir::Value> materialize(const WeightRecipe &w, SrcLoc use);
  std::string symbolFor(const WeightRecipe &w);
  const std::vector<std::string> &tensorNames();

  // Ops (Builtins.cpp): builds `op`, infers its ranked type and verifies it.
  FailureOr<mlir::Value> finishOp(Operation *op);
  FailureOr<mlir::Value> asTensor(const Val &v, SrcLoc l, llvm::StringRef what);
  FailureOr<mlir::Value> binaryOp(llvm::StringRef opName, const Val &a,
                                  const Val &b, SrcLoc l);
  FailureOr<mlir::Value> scaleOp(const Val &x, double factor, SrcLoc l);

  friend struct OpCallBuilder;
};

// True for the names of builtin functions and ops (not redefinable).
bool isBuiltinFunction(llvm::StringRef name);

// Closest strings to `name` among `candidates` (edit distance), best first.
std::vector<std::string> closestNames(llvm::StringRef name,
                                      llvm::ArrayRef<std::string> candidates,
                                      size_t max = 3);
// " (did you mean 'a' or 'b'?)" or "".
std::string didYouMean(llvm::ArrayRef<std::string> close);

} // namespace mlir::ingot::dsl

#endif
