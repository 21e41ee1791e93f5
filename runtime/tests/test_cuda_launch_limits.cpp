// Host-only checks of the CUDA kernels' launch geometry (runtime/cuda/kernels/*_abi.h)
// at the sizes the GPU runs meet, which the emulated kernel tests (small shapes) never
// reach: Llama-3.2-1B (hidden 2048, 32 query / 8 KV heads, head_dim 64, intermediate 8192,
// vocab 128256, prefill 8192 tokens, decode 64 sequences x 16k context), head_dim 128
// (G = 1, 4, 8) and a Mixtral-like MoE (8 experts, top-2, hidden 4096, intermediate
// 14336). Every launch function must give a launch the hardware accepts:
//  - block: every dimension >= 1, x*y*z <= 1024, and equal to the kernel's
//    __launch_bounds__ where it has one (a larger block fails to launch);
//  - grid: x in [1, 2^31 - 1], y and z in [1, 65535];
//  - shared memory: static + dynamic <= 48 KiB, unless the executor opts in with
//    cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES) (cuda_executor.cpp's allowShmem,
//    which it calls for the GEMMs and the decode kernel), and then within the per-block
//    opt-in maximum: 227 KiB on sm_90, 163 KiB on sm_80. Static shared memory can never
//    exceed 48 KiB. The static sizes below are the kernels' INGOT_SHARED_ARRAYs (each
//    rounded up to its 16-byte alignment), cross-checked against ptxas -v for sm_90a;
//  - scratch sizes computed without 32-bit overflow (compared with an independent
//    unsigned 64-bit computation, including sizes above 2^31).
#include <gtest/gtest.h>

#include <string>

#include "cuda/kernels/act_abi.h"
#include "cuda/kernels/attention_abi.h"
#include "cuda/kernels/elementwise_abi.h"
#include "cuda/kernels/embedding_abi.h"
#include "cuda/kernels/gemm_abi.h"
#include "cuda/kernels/moe_abi.h"
#include "cuda/kernels/norm_abi.h"
#include "cuda/kernels/rope_abi.h"
#include "cuda/kernels/sampling_abi.h"
#include "cuda/kernels/softmax_abi.h"

namespace {

constexpr unsigned long long kSmemDefault = 48 * 1024;  // without opt-in; also the static cap
constexpr unsigned long long kSmemOptinSm90 = 227 * 1024;
constexpr unsigned long long kSmemOptinSm80 = 163 * 1024;

unsigned long long align16(unsigned long long b) { return (b + 15) / 16 * 16; }

// Checks one launch. `staticSmem`: the kernel's static shared memory; `optin`: whether
// the executor raises the kernel's dynamic limit; `launchBounds`: its __launch_bounds__
// (0: none, i.e. up to 1024).
void checkLaunch(const KernelLaunch &l, unsigned long long staticSmem, bool optin,
                 unsigned launchBounds, const std::string &what) {
  SCOPED_TRACE(what);
  for (int i = 0; i < 3; ++i) {
    EXPECT_GE(l.block[i], 1u) << "block dim " << i;
    EXPECT_GE(l.grid[i], 1u) << "grid dim " << i;
  }
  const unsigned long long threads = (unsigned long long)l.block[0] * l.block[1] * l.block[2];
  EXPECT_LE(threads, 1024u);
  EXPECT_LE(l.block[2], 64u);
  if (launchBounds)
    EXPECT_LE(threads, launchBounds) << "block larger than the kernel's __launch_bounds__";
  EXPECT_LE(l.grid[0], 2147483647u);
  EXPECT_LE(l.grid[1], 65535u);
  EXPECT_LE(l.grid[2], 65535u);
  EXPECT_LE(staticSmem, kSmemDefault) << "static shared memory is capped at 48 KiB";
  const unsigned long long total = staticSmem + l.shmem;
  if (!optin)
    EXPECT_LE(total, kSmemDefault) << "no cuFuncSetAttribute opt-in for this kernel";
  EXPECT_LE(total, kSmemOptinSm80) << "sm_80 per-block maximum";
  EXPECT_LE(total, kSmemOptinSm90) << "sm_90 per-block maximum";
}

// Model shapes.
struct AttnShape {
  const char *name;
  int heads, kvHeads, D, blockSize;
};
const AttnShape kAttnShapes[] = {
    {"llama-1b d64 g4 bs16", 32, 8, 64, 16},   {"llama-1b d64 g4 bs32", 32, 8, 64, 32},
    {"d128 g4 bs16", 32, 8, 128, 16},          {"d128 g1 bs16", 32, 32, 128, 16},
    {"d128 g8 bs16", 64, 8, 128, 16},          {"d64 g1 bs16", 16, 16, 64, 16},
    {"d128 g4 bs256", 32, 8, 128, 256},        {"qwen2.5-7b d128 g7", 28, 4, 128, 16},
    {"qwen2.5-0.5b d64 g7", 14, 2, 64, 16},    {"qwen2-1.5b d128 g6", 12, 2, 128, 16},
};

// Static shared memory of the attention kernels (attention.cuh).
unsigned long long prefillPlainStatic(int D) {
  const int bk = (2048 / D) < 16 ? 16 : ((2048 / D) > 64 ? 64 : (2048 / D));
  return 2 * align16(4ull * bk * D); // ks, vs: fp32 [BK][D]
}
unsigned long long prefillMmaStatic(int D) {
  const int bk = D <= 128 ? 64 : 32;
  return align16(2ull * bk * (D + 8)) + align16(2ull * D * (bk + 8)); // kt, vt (16-bit)
}
// gemm.cuh / moe.cuh: both tile configurations' offset arrays (long long [BM + BN]) are
// in the one kernel.
const unsigned long long kGemmStatic = align16(8ull * (16 + 32)) + align16(8ull * (64 + 64));
// sampling.cuh: hc, hs [16][256], cnt, sum [16], red, redi [33], found [1].
const unsigned long long kSampleStatic = 2 * align16(4ull * 16 * INGOT_SAMPLE_THREADS) +
                                         2 * align16(4ull * 16) + 2 * align16(4ull * 33) + 4;

} // namespace

TEST(CudaLaunchLimits, AttentionDecodeAtScale) {
  for (const AttnShape &a : kAttnShapes) {
    const int G = a.heads / a.kvHeads;
    const int st = ingot_attn_decode_split_tokens(a.blockSize, G, a.D);
    ASSERT_GT(st, 0) << a.name;
    EXPECT_EQ(st % a.blockSize, 0) << a.name;
    for (int ctx : {1, 511, 512, 4096, 16384, 131072}) {
      for (int seqs : {1, 64, 256}) {
        IngotAttnParams p{};
        p.num_seqs = seqs;
        p.num_heads = a.heads;
        p.num_kv_heads = a.kvHeads;
        p.block_size = a.blockSize;
        p.max_blocks_per_seq = (ctx + a.blockSize - 1) / a.blockSize;
        p.num_tokens = seqs;
        p.max_query_len = 1;
        p.split_tokens = st;
        p.max_splits = ingot_attn_decode_num_splits(ctx, st);
        float dummy = 0.0f;
        p.partial_out = &dummy;
        p.partial_lse = &dummy;
        const std::string what = std::string(a.name) + " ctx " + std::to_string(ctx) +
                                 " seqs " + std::to_string(seqs);
        EXPECT_EQ(ingot_attn_check(p, G, a.D, true), nullptr) << what;
        EXPECT_GE((long long)p.max_splits * st, ctx) << what;
        // The executor opts the decode kernel in (allowShmem), the split size keeps it
        // within 48 KiB anyway.
        checkLaunch(ingot_attn_decode_launch(p, G, a.D), 0, true, INGOT_ATTN_DECODE_THREADS,
                    "decode " + what);
        EXPECT_LE(ingot_attn_decode_shmem(st, G, a.D), kSmemDefault) << what;
        checkLaunch(ingot_attn_decode_combine_launch(p), 0, false, 128, "combine " + what);
        // Scratch: no int overflow (compare with unsigned 64-bit arithmetic).
        const unsigned long long want = (unsigned long long)seqs * a.heads * p.max_splits * a.D;
        EXPECT_EQ((unsigned long long)ingot_attn_decode_scratch_floats(seqs, a.heads,
                                                                       p.max_splits, a.D),
                  want)
            << what;
        EXPECT_EQ((unsigned long long)ingot_attn_decode_lse_floats(seqs, a.heads, p.max_splits),
                  2ull * seqs * a.heads * p.max_splits)
            << what;
      }
    }
  }
  // Scratch past 2^31 elements (1024 sequences x 64 heads x 1024 splits x 128).
  EXPECT_EQ(ingot_attn_decode_scratch_floats(1024, 64, 1024, 128), 1024ll * 64 * 1024 * 128);
  EXPECT_EQ(ingot_attn_decode_lse_floats(1024, 64, 65536), 2ll * 1024 * 64 * 65536);
}

TEST(CudaLaunchLimits, AttentionPrefillAtScale) {
  for (const AttnShape &a : kAttnShapes) {
    const int G = a.heads / a.kvHeads;
    for (int qlen : {1, 63, 8192, 32768}) {
      for (int seqs : {1, 64}) {
        IngotAttnParams p{};
        p.num_seqs = seqs;
        p.num_heads = a.heads;
        p.num_kv_heads = a.kvHeads;
        p.block_size = a.blockSize;
        p.max_blocks_per_seq = (qlen + a.blockSize - 1) / a.blockSize;
        p.num_tokens = (long long)seqs * qlen;
        p.max_query_len = qlen;
        const std::string what = std::string(a.name) + " qlen " + std::to_string(qlen) +
                                 " seqs " + std::to_string(seqs);
        EXPECT_EQ(ingot_attn_check(p, G, a.D, false), nullptr) << what;
        // Plain kernel: the row tile must hold a whole GQA group (static_assert in
        // attention.cuh; G need not divide it); mma: 64 rows.
        EXPECT_LE(G, ingot_attn_prefill_rows(a.D)) << what;
        const KernelLaunch lp = ingot_attn_prefill_launch(p, G, false, a.D);
        checkLaunch(lp, prefillPlainStatic(a.D), false, INGOT_ATTN_PREFILL_THREADS,
                    "prefill " + what);
        const long long tt = ingot_attn_prefill_tile_tokens(a.D, G, false);
        EXPECT_GE((long long)lp.grid[0] * tt, qlen) << what;
        const KernelLaunch lm = ingot_attn_prefill_launch(p, G, true, a.D);
        checkLaunch(lm, prefillMmaStatic(a.D), false, INGOT_ATTN_MMA_THREADS,
                    "prefill mma " + what);
        EXPECT_GE((long long)lm.grid[0] * ingot_attn_prefill_tile_tokens(a.D, G, true), qlen)
            << what;
      }
    }
  }
  // The static-size formulas above match ptxas -v for sm_90a (attention.cuh).
  EXPECT_EQ(prefillPlainStatic(64), 16384u);
  EXPECT_EQ(prefillPlainStatic(128), 16384u);
  EXPECT_EQ(prefillMmaStatic(64), 18432u);
  EXPECT_EQ(prefillMmaStatic(128), 35840u);
}

TEST(CudaLaunchLimits, GemmAtScale) {
  // (m, n, k): Llama-1B q/kv/o/gate/up/down projections at prefill 8192 and decode 64,
  // the logits [64, 128256] fp32 and a full-prefill lm_head, Mixtral's router.
  const long long shapes[][3] = {
      {8192, 2048, 2048},   {8192, 512, 2048},   {8192, 8192, 2048},  {8192, 2048, 8192},
      {8192, 3072, 2048},   {64, 2048, 2048},    {64, 8192, 2048},    {64, 2048, 8192},
      {1, 2048, 2048},      {16, 8192, 2048},    {17, 8192, 2048},    {64, 128256, 2048},
      {8192, 128256, 2048}, {8192, 8, 4096},     {1, 128256, 4096},   {65536, 14336, 4096},
  };
  for (const auto &s : shapes) {
    IngotGemmParams p{};
    p.m = s[0];
    p.n = s[1];
    p.k = s[2];
    p.lda = p.k;
    p.ldw = p.k;
    p.ldc = p.n;
    const std::string what =
        "gemm m " + std::to_string(p.m) + " n " + std::to_string(p.n) + " k " + std::to_string(p.k);
    const KernelLaunch l = ingot_gemm_launch(p);
    checkLaunch(l, kGemmStatic, true, INGOT_GEMM_THREADS, what);
    const int cfg = ingot_gemm_config(p.m);
    EXPECT_GE((long long)l.grid[0] * ingot_gemm_tile_n(cfg), p.n) << what;
    EXPECT_GE((long long)l.grid[1] * ingot_gemm_tile_m(cfg), p.m) << what;
  }
  // Both configurations' shared memory fit without the opt-in.
  EXPECT_LE(ingot_gemm_shmem(INGOT_GEMM_CFG_SMALL) + kGemmStatic, kSmemDefault);
  EXPECT_LE(ingot_gemm_shmem(INGOT_GEMM_CFG_LARGE) + kGemmStatic, kSmemDefault);
  EXPECT_EQ(kGemmStatic, 1408u); // ptxas -v, sm_90a
}

TEST(CudaLaunchLimits, MoeAtScale) {
  const long long H = 4096, I = 14336;
  const int E = 8, K = 2;
  for (long long tokens : {1ll, 64ll, 8192ll, 32768ll}) {
    const long long pairs = tokens * K;
    const std::string what = "moe tokens " + std::to_string(tokens);
    IngotMoeRouteParams r{};
    r.tokens = tokens;
    r.num_experts = E;
    r.top_k = K;
    const KernelLaunch lr = ingot_moe_route_launch(r);
    checkLaunch(lr, 0, false, 0, "route " + what);
    EXPECT_GE((long long)lr.grid[0] * INGOT_MOE_ROUTE_WARPS, tokens) << what;
    IngotMoePermuteParams pp{};
    pp.pairs = pairs;
    pp.num_experts = E;
    checkLaunch(ingot_moe_permute_launch(pp), 4ull * (INGOT_MOE_PERMUTE_THREADS / 32), false,
                INGOT_MOE_PERMUTE_THREADS, "permute " + what);
    // The three grouped GEMMs: gate/up [N, I] = x[N, H] W^T, down [N, H] = g[N, I] W^T.
    for (int which = 0; which < 2; ++which) {
      IngotMoeGemmParams g{};
      g.pairs = pairs;
      g.n = which == 0 ? I : H;
      g.k = which == 0 ? H : I;
      g.lda = g.k;
      g.ldc = g.n;
      g.w_expert_stride = I * H;
      g.num_experts = E;
      g.gather_div = K;
      const KernelLaunch lg = ingot_moe_gemm_launch(g);
      checkLaunch(lg, kGemmStatic, true, INGOT_GEMM_THREADS, "moe gemm " + what);
      // Enough row tiles for any split of the pairs over the experts: the worst case is
      // every expert holding a partial tile.
      const int cfg = ingot_moe_gemm_config(g);
      const long long tm = ingot_gemm_tile_m(cfg);
      long long need = 0, left = pairs;
      for (int e = 0; e < E; ++e) { // E - 1 experts with one row, the rest on the last
        const long long rows = e + 1 < E ? (left > 0 ? 1 : 0) : left;
        left -= rows;
        need += (rows + tm - 1) / tm;
      }
      EXPECT_GE((long long)lg.grid[1], need) << what;
      EXPECT_GE((long long)lg.grid[0] * ingot_gemm_tile_n(cfg), g.n) << what;
    }
    IngotMoeSiluMulParams sm{};
    sm.n = pairs * I;
    checkLaunch(ingot_moe_silu_mul_launch(sm, 8), 0, false, 0, "silu " + what);
    IngotMoeCombineParams c{};
    c.tokens = tokens;
    c.hidden = H;
    c.top_k = K;
    checkLaunch(ingot_moe_combine_launch(c, 8), 0, false, 0, "combine " + what);
    // Scratch layout: above 2^31 bytes for fp32 at 32k tokens; compare with an
    // independent unsigned 64-bit sum.
    for (int eb : {2, 4}) {
      IngotMoeScratchLayout L;
      const long long total = ingot_moe_scratch_layout(tokens, H, I, E, K, eb, &L);
      auto up = [](unsigned long long b) { return (b + 255) / 256 * 256; };
      const unsigned long long n = (unsigned long long)tokens * K;
      const unsigned long long want = up(4ull * tokens * E) + 4 * up(4ull * n) +
                                      up(4ull * (E + 1)) + up(4ull * E * INGOT_MOE_PERMUTE_THREADS) +
                                      2 * up((unsigned long long)eb * n * I) +
                                      up((unsigned long long)eb * n * H);
      EXPECT_EQ((unsigned long long)total, want) << what << " elem " << eb;
      EXPECT_EQ((unsigned long long)L.y + up((unsigned long long)eb * n * H), want) << what;
      EXPECT_EQ(L.gate % 256, 0) << what;
      EXPECT_EQ(L.y % 256, 0) << what;
    }
  }
}

TEST(CudaLaunchLimits, RowKernelsAtScale) {
  // Norms, softmax, rope, embedding, gather, cast, activations, elementwise over the
  // prefill (8192 tokens) and decode (64) shapes; Qwen3-style per-head norm is the
  // norm over rows * heads rows of head_dim.
  for (long long rows : {1ll, 64ll, 8192ll, 8192ll * 32, 65536ll * 32}) {
    for (long long cols : {64ll, 128ll, 2048ll, 4096ll, 8192ll, 14336ll, 128256ll}) {
      for (int eb : {2, 4}) {
        const std::string what = "rows " + std::to_string(rows) + " cols " +
                                 std::to_string(cols) + " elem " + std::to_string(eb);
        IngotNormParams n{};
        n.rows = rows;
        n.cols = cols;
        checkLaunch(ingot_norm_launch(n, eb), 4 * 33, false, 0, "norm " + what);
        IngotSoftmaxParams s{};
        s.rows = rows;
        s.cols = cols;
        checkLaunch(ingot_softmax_launch(s, eb), 4 * 33, false, 0, "softmax " + what);
        IngotEmbeddingParams e{};
        e.rows = rows;
        e.hidden = cols;
        e.vocab = 128256;
        checkLaunch(ingot_embedding_launch(e, eb), 0, false, 0, "embedding " + what);
        IngotGatherRowsParams g{};
        g.n = rows;
        g.cols = cols;
        g.x_rows = rows;
        checkLaunch(ingot_gather_rows_launch(g, eb), 0, false, 0, "gather " + what);
        IngotCastParams c{};
        c.n = rows * cols;
        checkLaunch(ingot_cast_launch(c), 0, false, 0, "cast " + what);
        IngotActMulParams a{};
        a.n = rows * cols;
        checkLaunch(ingot_act_launch(a, eb), 0, false, 0, "act " + what);
        IngotEwParams w{};
        w.rows = rows;
        w.width = cols;
        checkLaunch(ingot_elementwise_launch(w, 16 / eb), 0, false, 0, "ew " + what);
        checkLaunch(ingot_elementwise_launch(w, 1), 0, false, 0, "ew scalar " + what);
      }
    }
  }
  for (long long tokens : {1ll, 64ll, 8192ll, 131072ll}) {
    for (int D : {64, 128}) {
      for (int eb : {2, 4}) {
        const std::string what = "rope tokens " + std::to_string(tokens) + " D " +
                                 std::to_string(D) + " elem " + std::to_string(eb);
        IngotRopeParams r{};
        r.tokens = tokens;
        r.num_heads = 32;
        r.rotary_dim = D;
        checkLaunch(ingot_rope_launch(r, D, eb), 4ull * D, false, 0, what);
        IngotRopeKvParams k{};
        k.tokens = tokens;
        k.num_heads = 64;
        k.num_kv_heads = 8;
        k.rotary_dim = D;
        k.block_size = 16;
        checkLaunch(ingot_rope_kv_append_launch(k, D, eb), 4ull * D, false, 0, "kv " + what);
      }
    }
  }
}

TEST(CudaLaunchLimits, SamplingAtScale) {
  for (long long rows : {1ll, 64ll, 1024ll}) {
    IngotSampleParams p{};
    p.rows = rows;
    p.vocab = 128256;
    const KernelLaunch l = ingot_sample_launch(p);
    checkLaunch(l, kSampleStatic, false, INGOT_SAMPLE_THREADS, "sample rows " + std::to_string(rows));
    // The kernel's per-thread histogram columns need exactly this block size.
    EXPECT_EQ(l.block[0], (unsigned)INGOT_SAMPLE_THREADS);
    EXPECT_EQ((long long)l.grid[0], rows);
  }
  EXPECT_LE(kSampleStatic, 33200u); // ptxas -v, sm_90a: 33188
}

// The attention kernels use 16-byte accesses on q, the caches and out without an
// unaligned fallback (a GPU faults, the emulation on x86 does not): the host check
// rejects misaligned bases.
TEST(CudaLaunchLimits, AttentionCheckRejectsMisalignedBases) {
  alignas(16) static unsigned char buf[256];
  IngotAttnParams p{};
  p.num_seqs = 1;
  p.num_tokens = 1;
  p.num_heads = 8;
  p.num_kv_heads = 2;
  p.block_size = 16;
  p.max_blocks_per_seq = 1;
  p.max_query_len = 1;
  p.q = buf;
  p.k_cache = buf + 64;
  p.v_cache = buf + 128;
  p.out = buf + 192;
  EXPECT_EQ(ingot_attn_check(p, 4, 64, false), nullptr);
  for (int which = 0; which < 4; ++which) {
    IngotAttnParams b = p;
    if (which == 0)
      b.q = buf + 2;
    else if (which == 1)
      b.k_cache = buf + 72;
    else if (which == 2)
      b.v_cache = buf + 132;
    else
      b.out = buf + 194;
    const char *e = ingot_attn_check(b, 4, 64, false);
    ASSERT_NE(e, nullptr) << which;
    EXPECT_NE(std::string(e).find("16-byte aligned"), std::string::npos) << e;
  }
}
