//===- Value.cpp - printing and naming helpers for DSL values -------------===//
//
// How values read in messages ("got string \"abc\"") and in interpolated
// strings, and the "did you mean" suggestions used for names, config keys,
// op arguments and checkpoint tensors.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::dsl;

std::string mlir::ingot::dsl::typeName(const Val &v) {
  switch (v.kind) {
  case Val::None:
    return "none";
  case Val::Bool:
    return "bool";
  case Val::Int:
    return "int";
  case Val::Float:
    return "float";
  case Val::Str:
    return "string";
  case Val::List:
    return "list";
  case Val::Object:
    return "object";
  case Val::IR:
    return isa<BatchType>(v.ir.getType()) ? "batch" : "tensor";
  case Val::Weight:
    return "weight";
  case Val::Missing:
    return "missing value";
  }
  return "value";
}

std::string mlir::ingot::dsl::formatValue(const Val &v) {
  switch (v.kind) {
  case Val::None:
    return "none";
  case Val::Bool:
    return v.b ? "true" : "false";
  case Val::Int:
    return std::to_string(v.i);
  case Val::Float: {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << llvm::format("%g", v.f);
    return s;
  }
  case Val::Str:
    return v.s;
  case Val::List: {
    std::string s = "[";
    for (size_t k = 0; k < v.list->size(); ++k)
      s += (k ? ", " : "") + formatValue((*v.list)[k]);
    return s + "]";
  }
  case Val::Object:
    return v.s;
  case Val::IR:
    return typeName(v);
  case Val::Weight:
    return "weight '" + v.weight->sources.front() + "'";
  case Val::Missing:
    return "<missing>";
  }
  return "";
}

std::string mlir::ingot::dsl::describeValue(const Val &v) {
  if (v.kind == Val::Str)
    return "string \"" + v.s + "\"";
  if (v.kind == Val::None || v.kind == Val::IR || v.kind == Val::Weight ||
      v.kind == Val::Object || v.kind == Val::Missing)
    return typeName(v);
  return typeName(v) + " " + formatValue(v);
}

// True when every '_'-separated word of `name` is a word of `candidate`.
static bool sharesAllWords(llvm::StringRef name, llvm::StringRef candidate) {
  llvm::SmallVector<llvm::StringRef> want, have;
  name.split(want, '_', -1, /*KeepEmpty=*/false);
  candidate.split(have, '_', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef w : want)
    if (!llvm::is_contained(have, w))
      return false;
  return true;
}

std::vector<std::string> mlir::ingot::dsl::closestNames(
    llvm::StringRef name, llvm::ArrayRef<std::string> candidates, size_t max) {
  std::vector<std::pair<unsigned, std::string>> scored;
  unsigned limit = std::max<unsigned>(2, unsigned(name.size()) / 3);
  for (const std::string &c : candidates) {
    unsigned d = name.edit_distance(c, /*AllowReplacements=*/true, limit + 1);
    if (d <= limit)
      scored.push_back({d, c});
    else if (name.size() >= 2 && llvm::StringRef(c).starts_with(name))
      scored.push_back({limit + 1, c}); // an abbreviation: "eps" for "epsilon"
    else if (name.contains('_') && sharesAllWords(name, c))
      scored.push_back({limit + 2, c}); // "num_heads" for "num_attention_heads"
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](auto &a, auto &b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto &s : scored) {
    if (out.size() == max)
      break;
    out.push_back(s.second);
  }
  return out;
}

std::string mlir::ingot::dsl::didYouMean(llvm::ArrayRef<std::string> close) {
  if (close.empty())
    return "";
  std::string s = " (did you mean ";
  for (size_t k = 0; k < close.size(); ++k) {
    if (k)
      s += k + 1 == close.size() ? " or " : ", ";
    s += "'" + close[k] + "'";
  }
  return s + "?)";
}
