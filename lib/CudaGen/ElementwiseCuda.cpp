//===- ElementwiseCuda.cpp - Elementwise steps -> CUDA C++ -----------------===//
//
// The step's program (docs/plan-format.md: registers r0..r(n-1) hold the
// inputs, each instruction (op, a, b, dst, imm) writes a register,
// `program_outputs` names the registers written out) is printed as one
// straight-line fp32 device function, `<name>_program(x, y)`, which two
// entry points with the one-struct ABI (docs/dev/cuda-abi.md,
// runtime/cuda/kernels/elementwise_abi.h) call per element:
//
//   <name>    grid-stride over the rows * width elements, one per thread
//             and iteration: consecutive threads touch consecutive
//             elements (coalesced), any width and alignment.
//   <name>_v  grid-stride over 16-byte vectors, ingot_vec<T>::n elements
//             (4 f32, 8 bf16/f16) per thread and iteration: one 16-byte
//             ingot_ld16 per full or row input, one ingot_st16 per output.
//             Needs width % n == 0 (a vector never straddles rows, so a row
//             input's vector is one aligned load at `col`) and 16-byte
//             aligned buffers; the executor checks both.
//
// Storage is f32, bf16 or f16 (T); loads convert to fp32, the program runs
// in fp32 with the CPU kernels' formulas (runtime/src/cpu_kernels_elementwise.cpp,
// same constants), stores round to nearest even. The GPU's expf/tanhf/erff
// differ from libm in the last bits, which the GPU check's tolerance
// covers. Scalar inputs (rank 0 or a static all-ones shape) are loaded once
// per thread, before the loop. No __restrict__: the memory planner may let
// an output reuse a full input's buffer, which is safe here because every
// element is read before it is written and by the same thread.
//
//===----------------------------------------------------------------------===//
#include "ingot/CudaGen/CudaGen.h"
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "elementwise_abi.h" // runtime/cuda/kernels: INGOT_EW_MAX_INPUTS/OUTPUTS

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cmath>
#include <cstdio>
#include <functional>

using namespace mlir;
using namespace mlir::ingot;

namespace {

// How an input is read for element (row, col) = i of the output.
enum class InKind { Full, Row, Scalar };

struct Program {
  SmallVector<int64_t> code; // quads: op, a, b, dst
  SmallVector<float> imms;
  SmallVector<int64_t> outs;
  unsigned numInputs = 0, numRegs = 0;
  SmallVector<InKind> kinds; // per input
};

struct Dtype {
  const char *tn;   // name suffix
  const char *type; // CUDA storage type
};

const Dtype *findDtype(StringRef name) {
  static const Dtype kDtypes[] = {
      {"f32", "float"}, {"bf16", "__nv_bfloat16"}, {"f16", "__half"}};
  for (const Dtype &d : kDtypes)
    if (name == d.tn)
      return &d;
  return nullptr;
}

std::string typeStr(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

// Classifies input `in` against the step's output `out` like the CPU
// executor does on concrete shapes (runtime/src/cpu_executor_prepare.cpp):
// same shape -> Full, [width] under a rank >= 2 output -> Row, one element
// -> Scalar. Static types decide; dynamic sizes are taken as compatible.
bool inputKind(Type inType, Type outType, InKind &kind) {
  auto in = dyn_cast<RankedTensorType>(inType);
  auto out = dyn_cast<RankedTensorType>(outType);
  if (!in || !out)
    return false;
  auto compatible = [](int64_t a, int64_t b) {
    return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
  };
  if (in.getRank() == 0 || (in.hasStaticShape() && in.getNumElements() == 1)) {
    kind = InKind::Scalar;
    return true;
  }
  if (in.getRank() == out.getRank()) {
    for (int64_t d = 0; d < in.getRank(); ++d)
      if (!compatible(in.getDimSize(d), out.getDimSize(d)))
        return false;
    kind = InKind::Full;
    return true;
  }
  if (in.getRank() == 1 && out.getRank() >= 2 &&
      compatible(in.getDimSize(0), out.getDimSize(out.getRank() - 1))) {
    kind = InKind::Row;
    return true;
  }
  return false;
}

bool isStorableFloat(Type t) {
  auto s = dyn_cast<ShapedType>(t);
  if (!s)
    return false;
  Type e = s.getElementType();
  return e.isF32() || e.isBF16() || e.isF16();
}

// Operands an opcode reads: 2 (a, b), 1 (a) or 0; -1 for unknown opcodes.
int arity(int64_t op) {
  if (op >= 0 && op <= 5)
    return 2;
  if ((op >= 10 && op <= 15) || (op >= 20 && op <= 24))
    return 1;
  if (op == 30)
    return 0;
  return -1;
}

bool readProgram(StepOp step, Program &p, std::string &error) {
  auto code = step->getAttrOfType<DenseI64ArrayAttr>("program");
  auto imms = step->getAttrOfType<DenseF32ArrayAttr>("imms");
  auto outs = step->getAttrOfType<DenseI64ArrayAttr>("program_outputs");
  auto regs = step->getAttrOfType<IntegerAttr>("num_registers");
  if (!code || !imms || !outs || !regs || code.size() % 4 ||
      int64_t(imms.size()) * 4 != int64_t(code.size())) {
    error = "an Elementwise step without a well-formed program";
    return false;
  }
  p.code.assign(code.asArrayRef().begin(), code.asArrayRef().end());
  p.imms.assign(imms.asArrayRef().begin(), imms.asArrayRef().end());
  p.outs.assign(outs.asArrayRef().begin(), outs.asArrayRef().end());
  p.numInputs = step.getInputs().size();
  if (regs.getInt() < int64_t(p.numInputs) || regs.getInt() > 256) {
    error = "num_registers " + std::to_string(regs.getInt()) + " must be in [inputs (" +
            std::to_string(p.numInputs) + "), 256]";
    return false;
  }
  p.numRegs = unsigned(regs.getInt());
  if (step.getOutputs().empty() || p.outs.size() != step.getOutputs().size()) {
    error = "program_outputs names " + std::to_string(p.outs.size()) +
            " registers for a step with " + std::to_string(step.getOutputs().size()) +
            " results";
    return false;
  }
  if (p.numInputs > INGOT_EW_MAX_INPUTS) {
    error = "the step has " + std::to_string(p.numInputs) +
            " inputs; IngotEwParams holds at most " + std::to_string(INGOT_EW_MAX_INPUTS) +
            " (INGOT_EW_MAX_INPUTS)";
    return false;
  }
  if (p.outs.size() > INGOT_EW_MAX_OUTPUTS) {
    error = "the step has " + std::to_string(p.outs.size()) +
            " outputs; IngotEwParams holds at most " + std::to_string(INGOT_EW_MAX_OUTPUTS) +
            " (INGOT_EW_MAX_OUTPUTS)";
    return false;
  }
  Type out0 = step.getOutputs()[0].getType();
  for (auto [k, v] : llvm::enumerate(step.getOutputs()))
    if (!isStorableFloat(v.getType())) {
      error = "output " + std::to_string(k) + " has type " + typeStr(v.getType()) +
              "; Elementwise CUDA kernels write f32/bf16/f16 tensors";
      return false;
    }
  for (auto [k, v] : llvm::enumerate(step.getInputs())) {
    if (!isStorableFloat(v.getType())) {
      error = "input " + std::to_string(k) + " has type " + typeStr(v.getType()) +
              "; Elementwise CUDA kernels read f32/bf16/f16 tensors";
      return false;
    }
    InKind kind;
    if (!inputKind(v.getType(), out0, kind)) {
      error = "input " + std::to_string(k) + " of type " + typeStr(v.getType()) +
              " neither matches output " + typeStr(out0) +
              " nor broadcasts over its rows (a [width] row or one element)";
      return false;
    }
    p.kinds.push_back(kind);
  }
  // Registers: in range, and read only after they are written.
  SmallVector<bool> defined(p.numRegs, false);
  for (unsigned k = 0; k < p.numInputs; ++k)
    defined[k] = true;
  for (size_t i = 0; i < p.code.size(); i += 4) {
    const std::string at = "instruction " + std::to_string(i / 4);
    const int n = arity(p.code[i]);
    if (n < 0) {
      error = at + ": elementwise op " + std::to_string(p.code[i]) + " has no CUDA form";
      return false;
    }
    for (int k = 1; k < 4; ++k)
      if (p.code[i + k] < 0 || p.code[i + k] >= int64_t(p.numRegs)) {
        error = at + " names register " + std::to_string(p.code[i + k]) + " of " +
                std::to_string(p.numRegs);
        return false;
      }
    for (int k = 1; k <= n; ++k)
      if (!defined[p.code[i + k]]) {
        error = at + " reads register " + std::to_string(p.code[i + k]) +
                " before it is written";
        return false;
      }
    defined[p.code[i + 3]] = true;
  }
  for (int64_t r : p.outs)
    if (r < 0 || r >= int64_t(p.numRegs) || !defined[r]) {
      error = "program output register " + std::to_string(r) + " is never written";
      return false;
    }
  return true;
}

std::string floatLit(float f) {
  if (std::isnan(f))
    return "__int_as_float(0x7fc00000)";
  if (std::isinf(f))
    return f > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9g", double(f));
  std::string s(buf);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s + "f";
}

// One instruction as a C++ expression of registers `a`, `b`; the formulas
// and constants are those of runtime/src/cpu_kernels_elementwise.cpp.
std::string instr(int64_t op, const std::string &a, const std::string &b, float imm) {
  switch (op) {
  case 0: return a + " + " + b;
  case 1: return a + " - " + b;
  case 2: return a + " * " + b;
  case 3: return a + " / " + b;
  case 4: return "fmaxf(" + a + ", " + b + ")";
  case 5: return "fminf(" + a + ", " + b + ")";
  case 10: return "-" + a;
  case 11: return "expf(" + a + ")";
  case 12: return "tanhf(" + a + ")";
  case 13: return "sqrtf(" + a + ")";
  case 14: return "1.0f / sqrtf(" + a + ")";
  case 15: return "1.0f / " + a;
  case 20: return a + " / (1.0f + expf(-" + a + "))";
  case 21: return "0.5f * " + a + " * (1.0f + erff(" + a + " * 0.70710678118654752440f))";
  case 22:
    return "0.5f * " + a + " * (1.0f + tanhf(0.79788456080286535588f * (" + a + " + 0.044715f * " +
           a + " * " + a + " * " + a + ")))";
  case 23: return a + " > 0.0f ? " + a + " : 0.0f";
  case 24: return "1.0f / (1.0f + expf(-" + a + "))";
  case 30: return floatLit(imm);
  }
  llvm_unreachable("opcode checked by readProgram");
}

std::string reg(int64_t r) { return "r" + std::to_string(r); }

// `static __device__ void <name>_program(const float *x, float *y)`: the
// program for one element, x[k] = input k, y[k] = output k.
std::string programFunction(const Program &p, StringRef name) {
  // Registers written more than once (inputs count as written) are plain
  // variables; the rest are const.
  SmallVector<int> writes(p.numRegs, 0);
  for (unsigned k = 0; k < p.numInputs; ++k)
    ++writes[k];
  for (size_t i = 0; i < p.code.size(); i += 4)
    ++writes[p.code[i + 3]];
  SmallVector<bool> declared(p.numRegs, false);
  auto def = [&](int64_t r, const std::string &e) {
    std::string line = "  ";
    if (!declared[r])
      line += writes[r] > 1 ? "float " : "const float ";
    declared[r] = true;
    return line + reg(r) + " = " + e + ";\n";
  };
  std::string s = "static __device__ __forceinline__ void " + name.str() +
                  "_program(const float *x, float *y) {\n";
  for (unsigned k = 0; k < p.numInputs; ++k)
    s += def(k, "x[" + std::to_string(k) + "]");
  for (size_t i = 0; i < p.code.size(); i += 4)
    s += def(p.code[i + 3],
             instr(p.code[i], reg(p.code[i + 1]), reg(p.code[i + 2]), p.imms[i / 4]));
  for (size_t k = 0; k < p.outs.size(); ++k)
    s += "  y[" + std::to_string(k) + "] = " + reg(p.outs[k]) + ";\n";
  if (p.numInputs == 0)
    s += "  (void)x;\n";
  return s + "}\n";
}

const char *kindName(InKind k) {
  switch (k) {
  case InKind::Full: return "full";
  case InKind::Row: return "row";
  case InKind::Scalar: return "scalar";
  }
  return "";
}

} // namespace

std::string mlir::ingot::elementwiseKernelName(StepOp step, StringRef dtype) {
  std::string key;
  llvm::raw_string_ostream os(key);
  for (const char *a : {"program", "imms", "program_outputs", "num_registers"})
    if (Attribute attr = step->getAttr(a))
      os << attr;
  Type out0 = step.getOutputs().empty() ? Type() : step.getOutputs()[0].getType();
  for (Value v : step.getInputs()) {
    InKind kind = InKind::Full;
    if (out0 && !inputKind(v.getType(), out0, kind))
      os << "?"; // refused by emitElementwiseCuda
    os << (kind == InKind::Row ? "r" : kind == InKind::Scalar ? "s" : "f");
  }
  os << step.getOutputs().size();
  char buf[32];
  std::snprintf(buf, sizeof buf, "ingot_ew_%016llx_",
                (unsigned long long)llvm::xxh3_64bits(os.str()));
  return buf + dtype.str();
}

bool mlir::ingot::emitElementwiseCuda(StepOp step, StringRef name, StringRef dtype,
                                      std::string &source, std::string &error) {
  if (step.getKind() != "Elementwise") {
    error = "not an Elementwise step";
    return false;
  }
  const Dtype *dt = findDtype(dtype);
  if (!dt) {
    error = "unknown storage dtype '" + dtype.str() + "' (expected f32, bf16 or f16)";
    return false;
  }
  Program p;
  if (!readProgram(step, p, error))
    return false;
  const std::string n = name.str(), T = dt->type;
  const unsigned nIn = p.numInputs, nOut = unsigned(p.outs.size());
  bool hasRow = false;
  for (InKind k : p.kinds)
    hasRow |= k == InKind::Row;

  std::string s = "// " + n + ": " + std::to_string(nIn) + " inputs (";
  for (unsigned k = 0; k < nIn; ++k)
    s += std::string(k ? ", " : "") + kindName(p.kinds[k]);
  s += "), " + std::to_string(nOut) + " outputs, " + std::to_string(p.code.size() / 4) +
       " instructions; storage " + dt->tn + " (" + T +
       "), math fp32 (ingot-lower-to-plan Elementwise program, lib/CudaGen)\n";
  s += "#include \"common.cuh\"\n#include \"elementwise_abi.h\"\n\n";
  s += programFunction(p, name) + "\n";

  // Pointer set-up shared by both entry points; scalar inputs are loaded once.
  auto prologue = [&]() {
    std::string t;
    for (unsigned k = 0; k < nIn; ++k) {
      const std::string ks = std::to_string(k);
      t += "  const " + T + " *in" + ks + " = static_cast<const " + T + " *>(p.in[" + ks + "]);\n";
      if (p.kinds[k] == InKind::Scalar)
        t += "  const float s" + ks + " = ingot_ld(in" + ks + ");\n";
    }
    for (unsigned k = 0; k < nOut; ++k) {
      const std::string ks = std::to_string(k);
      t += "  " + T + " *out" + ks + " = static_cast<" + T + " *>(p.out[" + ks + "]);\n";
    }
    t += "  const long long stride = (long long)gridDim.x * blockDim.x;\n";
    return t;
  };
  const std::string xs = std::to_string(nIn ? nIn : 1), ys = std::to_string(nOut);

  // Scalar entry point.
  s += "// One element per thread and iteration; any width, any alignment.\n";
  s += "extern \"C\" __global__ void " + n + "(IngotEwParams p) {\n" + prologue();
  s += "  const long long n = p.rows * p.width;\n";
  s += "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) "
       "{\n";
  if (hasRow)
    s += "    const long long col = i % p.width;\n";
  s += "    float x[" + xs + "], y[" + ys + "];\n";
  for (unsigned k = 0; k < nIn; ++k) {
    const std::string ks = std::to_string(k);
    switch (p.kinds[k]) {
    case InKind::Full: s += "    x[" + ks + "] = ingot_ld(in" + ks + " + i);\n"; break;
    case InKind::Row: s += "    x[" + ks + "] = ingot_ld(in" + ks + " + col);\n"; break;
    case InKind::Scalar: s += "    x[" + ks + "] = s" + ks + ";\n"; break;
    }
  }
  s += "    " + n + "_program(x, y);\n";
  for (unsigned k = 0; k < nOut; ++k) {
    const std::string ks = std::to_string(k);
    s += "    ingot_st(out" + ks + " + i, y[" + ks + "]);\n";
  }
  s += "  }\n}\nINGOT_REGISTER_KERNEL(" + n + ")\n\n";

  // 16-byte entry point.
  s += "// ingot_vec<" + T +
       ">::n elements per thread and iteration: one 16-byte load per full or row\n"
       "// input, one 16-byte store per output. Needs p.width % n == 0 and 16-byte aligned\n"
       "// buffers.\n";
  s += "extern \"C\" __global__ void " + n + "_v(IngotEwParams p) {\n";
  s += "  constexpr int VN = ingot_vec<" + T + ">::n;\n" + prologue();
  s += "  const long long nv = p.rows * p.width / VN;\n";
  s += "  for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x; q < nv;"
       " q += stride) {\n";
  s += "    const long long i = q * VN;\n";
  if (hasRow)
    s += "    const long long col = i % p.width;\n";
  for (unsigned k = 0; k < nIn; ++k) {
    const std::string ks = std::to_string(k);
    if (p.kinds[k] == InKind::Full)
      s += "    float v" + ks + "[VN];\n    ingot_ld16(in" + ks + " + i, v" + ks + ");\n";
    else if (p.kinds[k] == InKind::Row)
      s += "    float v" + ks + "[VN];\n    ingot_ld16(in" + ks + " + col, v" + ks + ");\n";
  }
  for (unsigned k = 0; k < nOut; ++k)
    s += "    float w" + std::to_string(k) + "[VN];\n";
  s += "#pragma unroll\n    for (int l = 0; l < VN; ++l) {\n";
  s += "      float x[" + xs + "], y[" + ys + "];\n";
  for (unsigned k = 0; k < nIn; ++k) {
    const std::string ks = std::to_string(k);
    s += "      x[" + ks + "] = " + (p.kinds[k] == InKind::Scalar ? "s" + ks : "v" + ks + "[l]") +
         ";\n";
  }
  s += "      " + n + "_program(x, y);\n";
  for (unsigned k = 0; k < nOut; ++k) {
    const std::string ks = std::to_string(k);
    s += "      w" + ks + "[l] = y[" + ks + "];\n";
  }
  s += "    }\n";
  for (unsigned k = 0; k < nOut; ++k) {
    const std::string ks = std::to_string(k);
    s += "    ingot_st16(out" + ks + " + i, w" + ks + ");\n";
  }
  s += "  }\n}\nINGOT_REGISTER_KERNEL(" + n + "_v)\n";
  source = std::move(s);
  return true;
}

namespace {

struct PrintCudaPass : PassWrapper<PrintCudaPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PrintCudaPass)
  PrintCudaPass() = default;
  PrintCudaPass(const PrintCudaPass &o) : PassWrapper(o) {}
  Option<bool> sequentialNames{
      *this, "sequential-names",
      llvm::cl::desc("Name kernels ingot_ew_0_<dtype>, ingot_ew_1_<dtype>, ... in program "
                     "order (tests)"),
      llvm::cl::init(false)};
  Option<std::string> dtype{*this, "dtype",
                            llvm::cl::desc("Storage dtype of the kernels: f32, bf16 or f16"),
                            llvm::cl::init("f32")};
  StringRef getArgument() const override { return "ingot-print-cuda"; }
  StringRef getDescription() const override {
    return "Print the CUDA C++ kernel of every Elementwise plan step";
  }
  void runOnOperation() override {
    // Keyed by the hashed name, so identical programs print once either way.
    llvm::StringMap<std::string> done;
    const std::string dt = dtype;
    bool failed = false;
    getOperation().walk([&](StepOp step) {
      if (step.getKind() != "Elementwise")
        return;
      std::string key = elementwiseKernelName(step, dt);
      if (done.count(key))
        return;
      std::string name =
          sequentialNames ? "ingot_ew_" + std::to_string(done.size()) + "_" + dt : key;
      done[key] = name;
      std::string src, err;
      if (!emitElementwiseCuda(step, name, dt, src, err)) {
        step.emitOpError() << "cannot generate CUDA: " << err;
        failed = true;
        return;
      }
      llvm::outs() << src << "\n";
    });
    if (failed)
      signalPassFailure();
  }
};

} // namespace

std::unique_ptr<Pass> mlir::ingot::createPrintCudaPass() {
  return std::make_unique<PrintCudaPass>();
}

void mlir::ingot::registerCudaGenPasses() { PassRegistration<PrintCudaPass>(); }
