//===- Weights.cpp - checkpoint tensors as DSL values ---------------------===//
//
// weight("name") makes a recipe: checkpoint sources plus transforms
// (stack/concat first, then transpose, slice, cast, as the runtime applies
// them). Every step is checked at once against the checkpoint header with the
// runtime's own inferWeightShape, so a bad transform is reported at the DSL
// call that added it. A recipe becomes an ingot.weight_decl (f32: bf16/f16
// sources get a trailing "cast:f32") the first time an op uses it; identical
// recipes share one declaration (tied embeddings reuse the table).
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::dsl;
using ::ingot::dslbridge::TransformStep;

static std::string transformString(const TransformStep &t) {
  switch (t.kind) {
  case TransformStep::Transpose:
    return "transpose";
  case TransformStep::Stack:
    return "stack";
  case TransformStep::Concat:
    return "concat:" + std::to_string(t.axis);
  case TransformStep::Slice:
    return "slice:" + std::to_string(t.axis) + ":" + std::to_string(t.start) +
           ":" + std::to_string(t.size);
  case TransformStep::Cast:
    return "cast:" + t.dtype;
  }
  return "";
}

static std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t k = 0; k < shape.size(); ++k)
    s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + "]";
}

const std::vector<std::string> &Evaluator::tensorNames() {
  if (tensorNamesCache.empty())
    tensorNamesCache = ckpt.names();
  return tensorNamesCache;
}

FailureOr<Val> Evaluator::makeWeight(const Val &name, SrcLoc l) {
  if (name.kind != Val::Str) {
    error(l) << "weight(...) takes the checkpoint tensor name as a string, got "
             << typeName(name);
    return failure();
  }
  if (!ckpt.has(name.s)) {
    // Suggest by edit distance, and also same-layer names sharing the last
    // component (a misspelled module path usually keeps ".weight").
    error(l) << "weight '" << name.s << "' is not in the checkpoint"
             << didYouMean(closestNames(name.s, tensorNames()));
    return failure();
  }
  auto w = std::make_shared<WeightRecipe>();
  w->sources = {name.s};
  w->loc = l;
  std::string err;
  if (!ckpt.inferShape(name.s, w->sources, w->transforms, w->dtype, w->shape,
                       err))
    return fail(l, err);
  return Val::makeWeight(std::move(w));
}

FailureOr<Val> Evaluator::combineWeights(llvm::StringRef how, const Val &list,
                                         int64_t axis, SrcLoc l) {
  if (list.kind != Val::List) {
    error(l) << how << "(...) takes a list of weights (or a generator "
             << "'weight(...) for e in 0..n'), got " << typeName(list);
    return failure();
  }
  if (list.list->empty()) {
    error(l) << how << "(...) needs at least one weight";
    return failure();
  }
  auto w = std::make_shared<WeightRecipe>();
  w->loc = l;
  for (const Val &item : *list.list) {
    if (item.kind != Val::Weight) {
      error(l) << how << "(...) takes weights, got a " << typeName(item)
               << (item.kind == Val::Str ? " (wrap names in weight(...))" : "");
      return failure();
    }
    if (!item.weight->transforms.empty() || item.weight->sources.size() != 1) {
      error(l) << how << "(...) combines plain checkpoint tensors; weight '"
               << item.weight->sources.front()
               << "' already has transforms (apply them after " << how << ")";
      return failure();
    }
    w->sources.push_back(item.weight->sources.front());
  }
  TransformStep t;
  t.kind = how == "stack" ? TransformStep::Stack : TransformStep::Concat;
  t.axis = axis;
  if (t.kind == TransformStep::Concat && axis < 0)
    t.axis = axis + int64_t(list.list->front().weight->shape.size());
  w->transforms.push_back(t);
  std::string err;
  if (!ckpt.inferShape(w->sources.front(), w->sources, w->transforms, w->dtype,
                       w->shape, err)) {
    error(l) << how << ": " << err;
    return failure();
  }
  return Val::makeWeight(std::move(w));
}

FailureOr<Val> Evaluator::addTransform(const Val &self, TransformStep step,
                                       SrcLoc l) {
  auto w = std::make_shared<WeightRecipe>(*self.weight);
  int64_t rank = int64_t(w->shape.size());
  if (step.kind == TransformStep::Slice) {
    // Normalise negative axes so the recorded recipe is canonical.
    if (step.axis < 0)
      step.axis += rank;
    if (step.axis < 0 || step.axis >= rank) {
      error(l) << "slice axis " << step.axis << " is out of range for weight '"
               << w->sources.front() << "' of shape " << shapeString(w->shape);
      return failure();
    }
    int64_t dim = w->shape[size_t(step.axis)];
    if (step.start < 0 || step.size <= 0 || step.start > dim ||
        step.size > dim - step.start) {
      error(l) << "slice of " << step.size << " elements from " << step.start
               << " on axis " << step.axis << " does not fit weight '"
               << w->sources.front() << "' of shape " << shapeString(w->shape)
               << " (that axis has " << dim << " elements)";
      return failure();
    }
  }
  if (step.kind == TransformStep::Transpose && rank != 2) {
    error(l) << "transpose() needs a 2-D weight; '" << w->sources.front()
             << "' has shape " << shapeString(w->shape);
    return failure();
  }
  w->transforms.push_back(step);
  std::string err;
  if (!ckpt.inferShape(w->sources.front(), w->sources, w->transforms, w->dtype,
                       w->shape, err))
    return fail(l, err);
  return Val::makeWeight(std::move(w));
}

// A readable, unique symbol: the checkpoint name, with the varying part of
// stacked names dropped ("...experts.w1.weight"), concatenated parts joined
// ("...q_proj_k_proj_v_proj.weight"), and transforms as suffixes.
std::string Evaluator::symbolFor(const WeightRecipe &w) {
  std::string base = w.sources.front();
  if (w.sources.size() > 1) {
    llvm::StringRef first = w.sources.front();
    size_t pre = first.size(), suf = first.size();
    for (llvm::StringRef s : llvm::ArrayRef(w.sources).drop_front()) {
      size_t k = 0;
      while (k < pre && k < s.size() && s[k] == first[k])
        ++k;
      pre = k;
      k = 0;
      while (k < suf && k < s.size() &&
             s[s.size() - 1 - k] == first[first.size() - 1 - k])
        ++k;
      suf = k;
    }
    // Cut at component boundaries: prefix up to and including a '.', suffix
    // from a '.'.
    llvm::StringRef prefix = first.take_front(pre);
    prefix = prefix.take_front(prefix.rfind('.') + 1);
    llvm::StringRef suffix =
        first.take_back(std::min(suf, first.size() - prefix.size()));
    size_t dot = suffix.find('.');
    suffix = dot == llvm::StringRef::npos ? llvm::StringRef()
                                          : suffix.drop_front(dot);
    if (w.transforms.front().kind == TransformStep::Stack) {
      base = (prefix.drop_back(prefix.empty() ? 0 : 1) + suffix).str();
    } else {
      std::vector<std::string> mids;
      for (llvm::StringRef s : w.sources)
        mids.push_back(
            s.drop_front(prefix.size()).drop_back(suffix.size()).str());
      base = (prefix + llvm::join(mids, "_") + suffix).str();
    }
  }
  for (const TransformStep &t : w.transforms) {
    switch (t.kind) {
    case TransformStep::Transpose:
      base += ".t";
      break;
    case TransformStep::Slice:
      base += ".slice" + std::to_string(t.axis) + "_" +
              std::to_string(t.start) + "_" + std::to_string(t.size);
      break;
    case TransformStep::Cast:
      break; // the declared type says it
    default:
      break;
    }
  }
  unsigned &n = symbolNames[base];
  std::string name = n == 0 ? base : base + "." + std::to_string(n);
  ++n;
  return name;
}

FailureOr<mlir::Value> Evaluator::materialize(const WeightRecipe &w,
                                              SrcLoc use) {
  WeightRecipe r = w;
  if (r.dtype == "bf16" || r.dtype == "f16") {
    TransformStep c;
    c.kind = TransformStep::Cast;
    c.dtype = "f32";
    r.transforms.push_back(c);
    r.dtype = "f32";
  }
  if (r.dtype != "f32") {
    error(use) << "weight '" << r.sources.front() << "' has dtype " << r.dtype
               << "; ops take float weights (f32, bf16 or f16)";
    return failure();
  }
  std::vector<std::string> ts;
  for (const TransformStep &t : r.transforms)
    ts.push_back(transformString(t));
  std::string key = llvm::join(r.sources, "|") + "#" + llvm::join(ts, ",");
  if (auto it = weightValues.find(key); it != weightValues.end())
    return it->second;

  SmallVector<Attribute> sources, transforms;
  for (const std::string &s : r.sources)
    sources.push_back(StringAttr::get(&ctx, s));
  for (const std::string &t : ts)
    transforms.push_back(StringAttr::get(&ctx, t));
  auto type = RankedTensorType::get(r.shape, Float32Type::get(&ctx));
  std::string sym = symbolFor(r);
  auto decl = WeightDeclOp::create(declBuilder, loc(w.loc), sym, type,
                                   ArrayAttr::get(&ctx, sources),
                                   ArrayAttr::get(&ctx, transforms));
  if (failed(mlir::verify(decl, /*verifyRecursively=*/false)))
    return failure();
  auto ref = WeightOp::create(builder, loc(w.loc), type,
                              FlatSymbolRefAttr::get(&ctx, sym));
  weightValues[key] = ref.getResult();
  return ref.getResult();
}
