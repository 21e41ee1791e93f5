// The generic fused elementwise program interpreter (OpKind.Elementwise).
// The output is processed in tiles of one row by up to kTile columns; each
// register is a tile-sized array, so one dispatch on the opcode is amortised
// over the whole tile. Registers start as copies of the inputs (a program may
// overwrite an input register without touching the input tensor).
#include "cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ingot {
namespace cpu {

bool ewIsBinary(EwOp op) { return uint8_t(op) <= uint8_t(EwOp::Min); }

bool ewIsKnown(uint8_t op) {
  return op <= 5 || (op >= 10 && op <= 15) || (op >= 20 && op <= 24) || op == 30;
}

namespace {
constexpr int64_t kTile = 256;

void runInstr(const EwInstr &in, float *regs, int64_t n) {
  float *d = regs + size_t(in.dst) * kTile;
  const float *a = regs + size_t(in.a) * kTile;
  const float *b = regs + size_t(in.b) * kTile;
  switch (in.op) {
  case EwOp::Add: for (int64_t i = 0; i < n; ++i) d[i] = a[i] + b[i]; break;
  case EwOp::Sub: for (int64_t i = 0; i < n; ++i) d[i] = a[i] - b[i]; break;
  case EwOp::Mul: for (int64_t i = 0; i < n; ++i) d[i] = a[i] * b[i]; break;
  case EwOp::Div: for (int64_t i = 0; i < n; ++i) d[i] = a[i] / b[i]; break;
  case EwOp::Max: for (int64_t i = 0; i < n; ++i) d[i] = std::max(a[i], b[i]); break;
  case EwOp::Min: for (int64_t i = 0; i < n; ++i) d[i] = std::min(a[i], b[i]); break;
  case EwOp::Neg: for (int64_t i = 0; i < n; ++i) d[i] = -a[i]; break;
  case EwOp::Exp: for (int64_t i = 0; i < n; ++i) d[i] = std::exp(a[i]); break;
  case EwOp::Tanh: for (int64_t i = 0; i < n; ++i) d[i] = std::tanh(a[i]); break;
  case EwOp::Sqrt: for (int64_t i = 0; i < n; ++i) d[i] = std::sqrt(a[i]); break;
  case EwOp::Rsqrt: for (int64_t i = 0; i < n; ++i) d[i] = 1.0f / std::sqrt(a[i]); break;
  case EwOp::Recip: for (int64_t i = 0; i < n; ++i) d[i] = 1.0f / a[i]; break;
  case EwOp::Silu:
    for (int64_t i = 0; i < n; ++i) d[i] = a[i] / (1.0f + std::exp(-a[i]));
    break;
  case EwOp::GeluErf:
    for (int64_t i = 0; i < n; ++i)
      d[i] = 0.5f * a[i] * (1.0f + std::erf(a[i] * 0.70710678118654752440f));
    break;
  case EwOp::GeluTanh:
    for (int64_t i = 0; i < n; ++i) {
      const float x = a[i];
      d[i] = 0.5f * x * (1.0f + std::tanh(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
    }
    break;
  case EwOp::Relu: for (int64_t i = 0; i < n; ++i) d[i] = a[i] > 0.0f ? a[i] : 0.0f; break;
  case EwOp::Sigmoid: for (int64_t i = 0; i < n; ++i) d[i] = 1.0f / (1.0f + std::exp(-a[i])); break;
  case EwOp::Const: std::fill(d, d + n, in.imm); break;
  }
}
} // namespace

void elementwise(const std::vector<EwInstr> &prog, int numRegisters,
                 const std::vector<EwInput> &inputs,
                 const std::vector<uint8_t> &outRegs,
                 const std::vector<float *> &outputs, int64_t R, int64_t C) {
  if (R == 0 || C == 0)
    return;
  const int64_t tilesPerRow = (C + kTile - 1) / kTile;
  const int64_t items = R * tilesPerRow;
#pragma omp parallel if (R * C >= 8192)
  {
    std::vector<float> regs(size_t(numRegisters) * kTile);
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t r = it / tilesPerRow;
      const int64_t c0 = (it % tilesPerRow) * kTile;
      const int64_t n = std::min(kTile, C - c0);
      for (size_t i = 0; i < inputs.size(); ++i) {
        float *reg = regs.data() + i * kTile;
        const EwInput &in = inputs[i];
        switch (in.kind) {
        case EwInput::Kind::Full:
          std::memcpy(reg, in.data + r * C + c0, sizeof(float) * size_t(n));
          break;
        case EwInput::Kind::Row:
          std::memcpy(reg, in.data + c0, sizeof(float) * size_t(n));
          break;
        case EwInput::Kind::Scalar:
          std::fill(reg, reg + n, in.data[0]);
          break;
        }
      }
      for (const EwInstr &ins : prog)
        runInstr(ins, regs.data(), n);
      for (size_t o = 0; o < outputs.size(); ++o)
        std::memcpy(outputs[o] + r * C + c0, regs.data() + size_t(outRegs[o]) * kTile,
                    sizeof(float) * size_t(n));
    }
  }
}

} // namespace cpu
} // namespace ingot
