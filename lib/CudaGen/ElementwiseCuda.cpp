//===- ElementwiseCuda.cpp - Elementwise steps -> CUDA C++ -----------------===//
//
// The step's program (docs/plan-format.md: registers r0..r(n-1) hold the
// inputs, each instruction (op, a, b, dst, imm) writes a new register,
// `program_outputs` names the registers written out) is printed as straight
// -line float code inside a grid-stride loop. Math matches the CPU kernels
// (runtime/src/cpu_kernels_elementwise.cpp) formula for formula; the GPU's
// expf/tanhf/erff differ from libm in the last bits, which the GPU check's
// tolerance covers.
// Invariants: coalesced access (consecutive threads touch consecutive
// elements); the _v4 variant does one float4 load per full-size input and one
// float4 store per output per thread; broadcast rows are read at `col`.
//
//===----------------------------------------------------------------------===//
#include "ingot/CudaGen/CudaGen.h"
#include "ingot/Dialect/Ingot/IngotDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cstdio>

using namespace mlir;
using namespace mlir::ingot;

namespace {

struct Program {
  SmallVector<int64_t> code;   // quads: op, a, b, dst
  SmallVector<float> imms;
  SmallVector<int64_t> outs;
  unsigned numInputs = 0, numRegs = 0;
  SmallVector<bool> broadcast; // per input: rank 1 (a row)
};

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
  p.numRegs = unsigned(regs.getInt());
  for (Value v : step.getInputs()) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t || !t.getElementType().isF32()) {
      error = "Elementwise CUDA kernels take f32 tensors (bf16/f16 come later)";
      return false;
    }
    p.broadcast.push_back(t.getRank() == 1);
  }
  for (Value v : step.getOutputs())
    if (!cast<ShapedType>(v.getType()).getElementType().isF32()) {
      error = "Elementwise CUDA kernels write f32 tensors";
      return false;
    }
  if (p.outs.size() != step.getOutputs().size()) {
    error = "program_outputs does not match the step's results";
    return false;
  }
  for (size_t i = 0; i < p.code.size(); i += 4)
    for (int k = 1; k < 4; ++k)
      if (p.code[i + k] < 0 || p.code[i + k] >= int64_t(p.numRegs)) {
        error = "an instruction names register " + std::to_string(p.code[i + k]) +
                " of " + std::to_string(p.numRegs);
        return false;
      }
  return true;
}

std::string floatLit(float f) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9gf", double(f));
  std::string s(buf);
  if (s.find_first_of(".en") == std::string::npos)
    s.insert(s.size() - 1, ".0");
  if (s == "inff")
    return "__int_as_float(0x7f800000)";
  if (s == "-inff")
    return "__int_as_float(0xff800000)";
  return s;
}

// One instruction as a C++ expression of registers named r<k><sfx>.
bool instr(int64_t op, const std::string &a, const std::string &b, float imm,
           std::string &expr, std::string &error) {
  switch (op) {
  case 0: expr = a + " + " + b; break;
  case 1: expr = a + " - " + b; break;
  case 2: expr = a + " * " + b; break;
  case 3: expr = a + " / " + b; break;
  case 4: expr = "fmaxf(" + a + ", " + b + ")"; break;
  case 5: expr = "fminf(" + a + ", " + b + ")"; break;
  case 10: expr = "-" + a; break;
  case 11: expr = "expf(" + a + ")"; break;
  case 12: expr = "tanhf(" + a + ")"; break;
  case 13: expr = "sqrtf(" + a + ")"; break;
  case 14: expr = "1.0f / sqrtf(" + a + ")"; break;
  case 15: expr = "1.0f / " + a; break;
  case 20: expr = a + " / (1.0f + expf(-" + a + "))"; break;
  case 21: expr = "0.5f * " + a + " * (1.0f + erff(" + a + " * 0.707106781f))"; break;
  case 22:
    expr = "0.5f * " + a + " * (1.0f + tanhf(0.797884561f * (" + a + " + 0.044715f * " + a +
           " * " + a + " * " + a + ")))";
    break;
  case 23: expr = a + " > 0.0f ? " + a + " : 0.0f"; break;
  case 24: expr = "1.0f / (1.0f + expf(-" + a + "))"; break;
  case 30: expr = floatLit(imm); break;
  default:
    error = "elementwise op " + std::to_string(op) + " has no CUDA form";
    return false;
  }
  return true;
}

// The program body for one element; input k is `load(k)`, outputs go
// through `store(k, value)`.
bool body(const Program &p, const std::string &sfx,
          const std::function<std::string(unsigned)> &load,
          const std::function<std::string(unsigned, const std::string &)> &store,
          const std::string &indent, std::string &out, std::string &error) {
  for (unsigned k = 0; k < p.numInputs; ++k)
    out += indent + "const float r" + std::to_string(k) + sfx + " = " + load(k) + ";\n";
  for (size_t i = 0; i < p.code.size(); i += 4) {
    std::string e;
    std::string a = "r" + std::to_string(p.code[i + 1]) + sfx;
    std::string b = "r" + std::to_string(p.code[i + 2]) + sfx;
    if (!instr(p.code[i], a, b, p.imms[i / 4], e, error))
      return false;
    out += indent + "const float r" + std::to_string(p.code[i + 3]) + sfx + " = " + e + ";\n";
  }
  for (size_t k = 0; k < p.outs.size(); ++k)
    out += indent + store(unsigned(k), "r" + std::to_string(p.outs[k]) + sfx) + ";\n";
  return true;
}

std::string params(const Program &p) {
  std::string s;
  for (unsigned k = 0; k < p.numInputs; ++k)
    s += "const float *__restrict__ in" + std::to_string(k) + ", ";
  for (size_t k = 0; k < p.outs.size(); ++k)
    s += "float *__restrict__ out" + std::to_string(k) + ", ";
  return s + "long long rows, long long width";
}

} // namespace

std::string mlir::ingot::elementwiseKernelName(StepOp step) {
  std::string key;
  llvm::raw_string_ostream os(key);
  for (const char *a : {"program", "imms", "program_outputs", "num_registers"})
    if (Attribute attr = step->getAttr(a))
      os << attr;
  for (Value v : step.getInputs())
    os << (cast<ShapedType>(v.getType()).getRank() == 1 ? "r" : "f");
  os << step.getOutputs().size();
  char buf[32];
  std::snprintf(buf, sizeof buf, "ingot_ew_%016llx",
                (unsigned long long)llvm::xxh3_64bits(os.str()));
  return buf;
}

bool mlir::ingot::emitElementwiseCuda(StepOp step, llvm::StringRef name, std::string &source,
                                      std::string &error) {
  if (step.getKind() != "Elementwise") {
    error = "not an Elementwise step";
    return false;
  }
  Program p;
  if (!readProgram(step, p, error))
    return false;
  std::string s;
  s += "// " + name.str() + ": " + std::to_string(p.numInputs) + " inputs, " +
       std::to_string(p.outs.size()) + " outputs, " + std::to_string(p.code.size() / 4) +
       " instructions (ingot-lower-to-plan Elementwise program)\n";
  // Scalar grid-stride kernel.
  s += "extern \"C\" __global__ void " + name.str() + "(" + params(p) + ") {\n";
  s += "  const long long n = rows * width;\n";
  s += "  const long long stride = (long long)gridDim.x * blockDim.x;\n";
  s += "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {\n";
  s += "    const long long col = i % width;\n";
  s += "    (void)col;\n";
  if (!body(
          p, "",
          [&](unsigned k) {
            return "in" + std::to_string(k) + (p.broadcast[k] ? "[col]" : "[i]");
          },
          [&](unsigned k, const std::string &v) { return "out" + std::to_string(k) + "[i] = " + v; },
          "    ", s, error))
    return false;
  s += "  }\n}\n\n";
  // float4 kernel: four consecutive elements of one row per thread.
  static const char *lanes[] = {"x", "y", "z", "w"};
  s += "// width % 4 == 0 and 16-byte aligned buffers.\n";
  s += "extern \"C\" __global__ void " + name.str() + "_v4(" + params(p) + ") {\n";
  s += "  const long long n4 = rows * width / 4;\n";
  s += "  const long long stride = (long long)gridDim.x * blockDim.x;\n";
  s += "  for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x; q < n4; q += stride) {\n";
  s += "    const long long col = (q * 4) % width;\n";
  s += "    (void)col;\n";
  for (unsigned k = 0; k < p.numInputs; ++k)
    s += "    const float4 v" + std::to_string(k) + " = *reinterpret_cast<const float4 *>(in" +
         std::to_string(k) + (p.broadcast[k] ? " + col" : " + q * 4") + ");\n";
  for (size_t k = 0; k < p.outs.size(); ++k)
    s += "    float4 o" + std::to_string(k) + ";\n";
  for (int l = 0; l < 4; ++l) {
    std::string sfx = std::string("_") + lanes[l];
    if (!body(
            p, sfx, [&](unsigned k) { return "v" + std::to_string(k) + "." + lanes[l]; },
            [&](unsigned k, const std::string &v) {
              return "o" + std::to_string(k) + "." + lanes[l] + " = " + v;
            },
            "    ", s, error))
      return false;
  }
  for (size_t k = 0; k < p.outs.size(); ++k)
    s += "    *reinterpret_cast<float4 *>(out" + std::to_string(k) + " + q * 4) = o" +
         std::to_string(k) + ";\n";
  s += "  }\n}\n";
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
      llvm::cl::desc("Name kernels ingot_ew_0, ingot_ew_1, ... in program order (tests)"),
      llvm::cl::init(false)};
  StringRef getArgument() const override { return "ingot-print-cuda"; }
  StringRef getDescription() const override {
    return "Print the CUDA C++ kernel of every Elementwise plan step";
  }
  void runOnOperation() override {
    llvm::StringSet<> done;
    bool failed = false;
    getOperation().walk([&](StepOp step) {
      if (step.getKind() != "Elementwise")
        return;
      std::string name = sequentialNames ? "ingot_ew_" + std::to_string(done.size())
                                         : elementwiseKernelName(step);
      std::string src, err;
      if (!done.insert(name).second)
        return;
      if (!emitElementwiseCuda(step, name, src, err)) {
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
