// fp32 CPU kernels for every plan OpKind (docs/plan-format.md, "Step
// semantics"). Internal to the runtime: the executor validates shapes, ids and
// batch metadata before calling, so kernels never throw from inside parallel
// regions (an exception escaping an OpenMP region would abort the process).
//
// Threading: a single OpenMP pool (setNumThreads) does all parallel work.
// Row-parallel kernels split rows; GEMMs split output columns, each thread
// running the batch-invariant GEMM (gemmInvariant) on its slice. OpenBLAS is
// fixed to one thread: two pools (OpenBLAS's pthreads and OpenMP)
// spin-waiting against each other on the same cores made decode about 3x
// slower.
//
// Batch invariance: every kernel computes a row (a token, a sequence's
// logits) with the same operations whatever else is in the step, so a
// request's results do not depend on its batch or chunking (see
// docs/architecture.md, "Batch invariance").
// All tensors are dense row-major fp32 unless stated.
#pragma once
#include "ingot/runtime/kv_cache.h"
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ingot {
namespace cpu {

// Sets the OpenMP and OpenBLAS thread counts (n <= 0: all cores).
void setNumThreads(int n);
int numThreads();

enum class Activation : uint8_t { None, Gelu, GeluTanh, Relu, Silu };
// Parses "none" | "gelu" | "gelu_tanh" | "relu" | "silu"; false otherwise.
bool parseActivation(const char *s, Activation &out);

// out[t] = table[ids[t]]; ids must be in [0, V).
void embedding(const int32_t *ids, int64_t T, const float *table, int64_t H,
               float *out);

// out[R,N] = act(x[R,K] · W[N,K]ᵀ + bias[N]); bias may be null.
void linear(const float *x, int64_t R, int64_t K, const float *W, int64_t N,
            const float *bias, Activation act, float *out);

// out[:, n0:n1) of x[R,K] · W[N,K]ᵀ (out has row stride N), single-threaded,
// with a per-element summation order independent of R, n0, n1 and the
// element's place in the batch (cpu_kernels_gemm.cpp). linear() uses it.
void gemmInvariant(const float *x, int64_t R, int64_t K, const float *W, int64_t N, int64_t n0,
                   int64_t n1, float *out);
// The instruction set gemmInvariant runs on here: "avx512", "avx2", "generic".
const char *gemmIsa();

void rmsNorm(const float *x, int64_t R, int64_t H, const float *gamma,
             float eps, float *out);
void layerNorm(const float *x, int64_t R, int64_t H, const float *gamma,
               const float *beta, float eps, float *out);
// sum = x + residual, normed = norm(sum). `sum` may alias x or residual.
void addRmsNorm(const float *x, const float *residual, int64_t R, int64_t H,
                const float *gamma, float eps, float *sum, float *normed);
void addLayerNorm(const float *x, const float *residual, int64_t R, int64_t H,
                  const float *gamma, const float *beta, float eps, float *sum,
                  float *normed);

struct RopeParams {
  int headDim = 0;
  int rotaryDim = 0;         // even, <= headDim
  double theta = 10000.0;
  bool interleaved = false;  // false: "half" pairs (j, j+rd/2)
  enum class Scaling : uint8_t { None, Linear, Llama3 } scaling = Scaling::None;
  double factor = 1.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  int64_t originalMaxPosition = 8192;
};
// The rotary_dim/2 inverse frequencies, computed in fp32 the way Hugging Face
// transformers does (default, linear and `_compute_llama3_parameters`).
std::vector<float> ropeInvFreq(const RopeParams &p);
// Rotates the first rotaryDim dims of each of the numHeads heads of every row
// of x [T, numHeads*headDim] at positions[t]. out may alias x.
void rope(const float *x, int64_t T, int numHeads, const int32_t *positions,
          const RopeParams &p, const std::vector<float> &invFreq, float *out);

struct AttentionParams {
  int layer = 0;
  int numHeads = 0;
  int numKvHeads = 0;
  int headDim = 0;
  float scale = 1.0f;
  int64_t slidingWindow = 0; // 0: none
};
// Writes k/v [T, nkv*d] into `cache` at batch.slotMapping, then for every
// sequence and each of its new tokens (cache index p = contextLen-queryLen+i)
// attends causally over cache indices j <= p (and j > p - window) through the
// sequence's block table. q/out are [T, nh*d]. Softmax is online, in fp32.
// Preconditions (checked by the executor): queries tile [0,T), block tables
// cover contextLen, slots and blocks in range.
void pagedAttention(const float *q, const float *k, const float *v, int64_t T,
                    const BatchMeta &batch, KvCache &cache,
                    const AttentionParams &p, float *out);

// Elementwise program interpreter. Opcodes equal plan.fbs EwOp values.
enum class EwOp : uint8_t {
  Add = 0, Sub = 1, Mul = 2, Div = 3, Max = 4, Min = 5,
  Neg = 10, Exp = 11, Tanh = 12, Sqrt = 13, Rsqrt = 14, Recip = 15,
  Silu = 20, GeluErf = 21, GeluTanh = 22, Relu = 23, Sigmoid = 24,
  Const = 30,
};
bool ewIsBinary(EwOp op);
bool ewIsKnown(uint8_t op);
struct EwInstr {
  EwOp op;
  uint8_t a, b, dst;
  float imm;
};
struct EwInput {
  const float *data = nullptr;
  enum class Kind : uint8_t { Full, Row, Scalar } kind = Kind::Full;
};
// Registers 0..inputs.size()-1 start as the inputs; outputs[i] [R,C] receives
// register outRegs[i]. Register indices must be < numRegisters (checked by
// the executor).
void elementwise(const std::vector<EwInstr> &prog, int numRegisters,
                 const std::vector<EwInput> &inputs,
                 const std::vector<uint8_t> &outRegs,
                 const std::vector<float *> &outputs, int64_t R, int64_t C);

// out = silu(gate) * up, n elements.
void siluMul(const float *gate, const float *up, int64_t n, float *out);
// Softmax over the last axis (C) of [R, C]. out may alias x.
void softmax(const float *x, int64_t R, int64_t C, float *out);

// Mixture of experts (Mixtral style): softmax(x·routerᵀ), top-k, optional
// renormalisation, out[t] = Σ_k p_k · down_e(silu(gate_e·x) · (up_e·x)).
// router [E,H], gate/up [E,I,H], down [E,H,I].
void moe(const float *x, int64_t T, int64_t H, const float *router, int64_t E,
         const float *gate, const float *up, const float *down, int64_t I,
         int topK, bool normalize, float *out);

// out[s] = h[queryStart_s + queryLen_s - 1] for each sequence.
void gatherLast(const float *h, int64_t H, const BatchMeta &batch, float *out);
// out[S,V] = gatherLast(h) · Wᵀ. `scratch` holds S*H floats.
void logits(const float *h, int64_t H, const BatchMeta &batch, const float *W,
            int64_t V, float *scratch, float *out);

} // namespace cpu
} // namespace ingot
