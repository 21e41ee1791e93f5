//===- KernelSelect.cpp - CUDA entry points of decoder plan steps ---------===//
//
// The family table (names, headers, definition macros of
// docs/dev/cuda-abi.md) and the per-step selection. See KernelSelect.h.
//
//===----------------------------------------------------------------------===//
#include "KernelSelect.h"

#include "ingot/CudaGen/CudaGen.h"
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace ingot::cuda {

// THE table: one row per entry-point family (docs/dev/cuda-abi.md, "Kernel
// families" and "Definition macros"). Rename here, nowhere else.
const std::vector<KernelFamily> &kernelFamilies() {
  static const std::vector<KernelFamily> table = {
      // key                 pattern                                 header            macro                                 halfOnly
      {"embedding", "ingot_embedding_{TN}", "embedding.cuh", "INGOT_DEFINE_EMBEDDING", false},
      {"gather_rows", "ingot_gather_rows_{TN}", "embedding.cuh", "INGOT_DEFINE_GATHER_ROWS", false},
      {"cast_to_f32", "ingot_cast_{TN}_to_f32", "embedding.cuh", "INGOT_DEFINE_CAST_TO_F32", false},
      {"cast_from_f32", "ingot_cast_f32_to_{TN}", "embedding.cuh", "INGOT_DEFINE_CAST_FROM_F32", false},
      {"rms_norm", "ingot_rms_norm_{TN}", "norm.cuh", "INGOT_DEFINE_RMS_NORM", false},
      {"add_rms_norm", "ingot_add_rms_norm_{TN}", "norm.cuh", "INGOT_DEFINE_ADD_RMS_NORM", false},
      {"layer_norm", "ingot_layer_norm_{TN}", "norm.cuh", "INGOT_DEFINE_LAYER_NORM", false},
      {"add_layer_norm", "ingot_add_layer_norm_{TN}", "norm.cuh", "INGOT_DEFINE_ADD_LAYER_NORM", false},
      {"silu_mul", "ingot_silu_mul_{TN}", "act.cuh", "INGOT_DEFINE_SILU_MUL", false},
      {"gelu_mul", "ingot_gelu_mul_{TN}", "act.cuh", "INGOT_DEFINE_GELU_MUL", false},
      {"softmax", "ingot_softmax_{TN}", "softmax.cuh", "INGOT_DEFINE_SOFTMAX", false},
      {"rope", "ingot_rope_{TN}_d{D}", "rope.cuh", "INGOT_DEFINE_ROPE", false},
      {"rope_kv_append", "ingot_rope_kv_append_{TN}_d{D}", "rope.cuh", "INGOT_DEFINE_ROPE_KV_APPEND", false},
      {"attn_prefill", "ingot_attn_prefill_{TN}_d{D}_g{G}", "attention.cuh", "INGOT_DEFINE_ATTN_PREFILL", false},
      {"attn_prefill_mma", "ingot_attn_prefill_mma_{TN}_d{D}_g{G}", "attention.cuh", "INGOT_DEFINE_ATTN_PREFILL_MMA", true},
      {"attn_decode", "ingot_attn_decode_{TN}_d{D}_g{G}", "attention.cuh", "INGOT_DEFINE_ATTN_DECODE", false},
      {"attn_decode_combine", "ingot_attn_decode_combine_{TN}_d{D}", "attention.cuh", "INGOT_DEFINE_ATTN_DECODE_COMBINE", false},
      {"gemm", "ingot_gemm_{TN}", "gemm.cuh", "INGOT_DEFINE_GEMM", false},
      {"moe_route", "ingot_moe_route_{TN}", "moe.cuh", "INGOT_DEFINE_MOE_ROUTE", false},
      {"moe_permute", "ingot_moe_permute", "moe.cuh", "INGOT_DEFINE_MOE_PERMUTE", false},
      {"moe_gemm", "ingot_moe_gemm_{TN}", "moe.cuh", "INGOT_DEFINE_MOE_GEMM", false},
      {"moe_silu_mul", "ingot_moe_silu_mul_{TN}", "moe.cuh", "INGOT_DEFINE_MOE_SILU_MUL", false},
      {"moe_combine", "ingot_moe_combine_{TN}", "moe.cuh", "INGOT_DEFINE_MOE_COMBINE", false},
      {"sample", "ingot_sample_f32", "sampling.cuh", "INGOT_DEFINE_SAMPLE", false},
  };
  return table;
}

const KernelFamily *findFamily(const std::string &key) {
  for (const KernelFamily &f : kernelFamilies())
    if (key == f.key)
      return &f;
  return nullptr;
}

std::string storageType(const std::string &dtype) {
  if (dtype == "f32")
    return "float";
  if (dtype == "bf16")
    return "__nv_bfloat16";
  if (dtype == "f16")
    return "__half";
  return "";
}

namespace {

bool has(const char *pattern, const char *what) {
  return std::string(pattern).find(what) != std::string::npos;
}

void replaceAll(std::string &s, const std::string &from, const std::string &to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

} // namespace

std::string KernelInstance::defineLine() const {
  if (!family)
    return "";
  std::string args;
  if (has(family->pattern, "{TN}"))
    args = storageType(dtype) + ", " + dtype;
  if (has(family->pattern, "{D}"))
    args += ", " + std::to_string(d);
  if (has(family->pattern, "{G}"))
    args += ", " + std::to_string(g);
  return std::string(family->macro) + "(" + args + ")";
}

bool makeInstance(const std::string &key, const std::string &dtype, int d, int g,
                  KernelInstance &out, std::string &error) {
  const KernelFamily *f = findFamily(key);
  if (!f) {
    error = "no CUDA kernel family '" + key + "'";
    return false;
  }
  if (storageType(dtype).empty()) {
    error = "unknown compute dtype '" + dtype + "' (expected f32, bf16 or f16)";
    return false;
  }
  if (f->halfOnly && dtype == "f32") {
    error = "kernel family '" + key + "' exists for bf16 and f16 only";
    return false;
  }
  if ((has(f->pattern, "{D}") && d <= 0) || (has(f->pattern, "{G}") && g <= 0)) {
    error = "kernel family '" + key + "' needs a positive head dim" +
            (has(f->pattern, "{G}") ? " and group size" : "");
    return false;
  }
  std::string name = f->pattern;
  replaceAll(name, "{TN}", dtype);
  replaceAll(name, "{D}", std::to_string(d));
  replaceAll(name, "{G}", std::to_string(g));
  out = KernelInstance{name, f, dtype, has(f->pattern, "{D}") ? d : 0,
                       has(f->pattern, "{G}") ? g : 0};
  return true;
}

bool elementwiseKernels(mlir::ingot::StepOp step, const std::string &dtype,
                        std::vector<std::string> &names, std::string *source,
                        std::string &error) {
  // lib/CudaGen: `<name>` (scalar) and `<name>_v` (16-byte), struct ABI of
  // elementwise_abi.h, storage type `dtype`, fp32 math.
  std::string name = mlir::ingot::elementwiseKernelName(step, dtype);
  names = {name, name + "_v"};
  if (source && !mlir::ingot::emitElementwiseCuda(step, name, dtype, *source, error))
    return false;
  return true;
}

std::vector<KernelInstance> planLevelKernels(const std::string &dtype) {
  std::vector<KernelInstance> out(1);
  std::string err;
  makeInstance("sample", dtype, 0, 0, out[0], err);
  return out;
}

namespace {

std::string where(mlir::ingot::StepOp step) {
  std::string s = step.getKind().str();
  Location loc = step.getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc); fused && !fused.getLocations().empty())
    loc = fused.getLocations().front();
  if (auto fl = dyn_cast<FileLineColLoc>(loc))
    s += " at " + llvm::sys::path::filename(fl.getFilename().getValue()).str() + ":" +
         std::to_string(fl.getLine()) + ":" + std::to_string(fl.getColumn());
  else if (auto nl = dyn_cast<NameLoc>(loc))
    s += " '" + nl.getName().getValue().str() + "'";
  return s;
}

int64_t intAttr(mlir::ingot::StepOp step, const char *name) {
  auto a = step->getAttrOfType<IntegerAttr>(name);
  return a ? a.getInt() : -1;
}

} // namespace

bool selectStepKernels(mlir::ingot::StepOp step, const std::string &dtype,
                       std::vector<KernelInstance> &out, std::string &error) {
  std::string kind = step.getKind().str();
  out.clear();
  auto add = [&](const char *key, int d = 0, int g = 0) {
    KernelInstance k;
    std::string err;
    if (!makeInstance(key, dtype, d, g, k, err)) {
      error = "step " + where(step) + ": " + err;
      return false;
    }
    out.push_back(std::move(k));
    return true;
  };
  // Head dim and group size from the step's attributes.
  int headDim = int(intAttr(step, "head_dim"));
  auto needHeadDim = [&]() {
    if (headDim > 0 && headDim <= 1024)
      return true;
    error = "step " + where(step) + ": attribute 'head_dim' is missing or out of range";
    return false;
  };

  if (kind == "Embedding")
    return add("embedding");
  if (kind == "RmsNorm")
    return add("rms_norm");
  if (kind == "AddRmsNorm")
    return add("add_rms_norm");
  if (kind == "LayerNorm")
    return add("layer_norm");
  if (kind == "AddLayerNorm")
    return add("add_layer_norm");
  if (kind == "Linear")
    return add("gemm");
  if (kind == "Logits") // ingot_sample_f32: the executor samples these logits on the device
    return add("gather_rows") && add("gemm") && add("sample");
  if (kind == "GatherLast")
    return add("gather_rows");
  if (kind == "SiluMul")
    return add("silu_mul");
  if (kind == "Softmax")
    return add("softmax");
  if (kind == "Rope")
    return needHeadDim() && add("rope", headDim);
  if (kind == "Attention") {
    if (!needHeadDim())
      return false;
    int64_t nh = intAttr(step, "num_heads"), nkv = intAttr(step, "num_kv_heads");
    if (nh <= 0 || nkv <= 0 || nh % nkv != 0) {
      error = "step " + where(step) + ": num_heads (" + std::to_string(nh) +
              ") must be a positive multiple of num_kv_heads (" + std::to_string(nkv) + ")";
      return false;
    }
    int g = int(nh / nkv);
    if (!add("rope_kv_append", headDim) || !add("attn_prefill", headDim, g))
      return false;
    if (dtype != "f32" && !add("attn_prefill_mma", headDim, g))
      return false;
    return add("attn_decode", headDim, g) && add("attn_decode_combine", headDim);
  }
  if (kind == "MoE")
    return add("gemm") && add("moe_route") && add("moe_permute") && add("moe_gemm") &&
           add("moe_silu_mul") && add("moe_combine");
  if (kind == "Elementwise") {
    std::vector<std::string> names;
    std::string err;
    if (!elementwiseKernels(step, dtype, names, nullptr, err)) {
      error = "step " + where(step) + ": " + err;
      return false;
    }
    for (std::string &n : names)
      out.push_back(KernelInstance{std::move(n), nullptr, dtype, 0, 0});
    return true;
  }
  if (kind == "Node") {
    auto op = step->getAttrOfType<StringAttr>("op_type");
    error = "step " + where(step) + " (ONNX " + (op ? op.getValue().str() : "?") +
            "): graph plans run on the CPU only; compile with --target cpu";
    return false;
  }
  error = "step " + where(step) + ": no CUDA kernel for step kind '" + kind + "'";
  return false;
}

} // namespace ingot::cuda
