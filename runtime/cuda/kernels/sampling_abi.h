// Parameters and launch geometry of the GPU sampler (sampling.cuh,
// docs/dev/cuda-abi.md), plus the counter-based RNG it draws from, as plain
// C++ that the host can call to reproduce a draw. Includes only abi.h.
#pragma once
#include "abi.h"

struct IngotSampleParams {
  const float *logits;      // [rows, vocab] fp32
  int *out_tokens;          // [rows]
  const float *temperature; // [rows]; <= 0 (or NaN): greedy
  const float *top_p;       // [rows], or null (= 1, off)
  const int *top_k;         // [rows], or null (= 0, off); <= 0 or >= vocab: off
  const unsigned long long *seeds; // [rows] (read only for sampled rows)
  const long long *counters;       // [rows] (read only for sampled rows)
  long long rows, vocab;
};

// The kernel needs exactly this many threads (per-thread histogram columns).
#define INGOT_SAMPLE_THREADS 256

// One block per row.
inline KernelLaunch ingot_sample_launch(const IngotSampleParams &p) {
  return ingot_make_launch(unsigned(p.rows), 1, 1, INGOT_SAMPLE_THREADS, 0);
}

// ---- Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011). State: a 128-bit counter c[0..3] and a
// 64-bit key k[0..1]. One round: (hi0, lo0) = 0xD2511F53 * c0 and
// (hi1, lo1) = 0xCD9E8D57 * c2 as 64-bit products; then
// c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0). Ten rounds; before each
// round after the first the key is bumped by (0x9E3779B9, 0xBB67AE85).
// Known answers (Random123's kat_vectors) are checked in the tests. ----
inline void ingot_philox4x32_10(const unsigned ctr[4], const unsigned key[2], unsigned out[4]) {
  unsigned c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  unsigned k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const unsigned long long p0 = (unsigned long long)0xD2511F53u * c0;
    const unsigned long long p1 = (unsigned long long)0xCD9E8D57u * c2;
    const unsigned hi0 = (unsigned)(p0 >> 32), lo0 = (unsigned)p0;
    const unsigned hi1 = (unsigned)(p1 >> 32), lo1 = (unsigned)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// The sampler's uniform: key = (seed low 32 bits, seed high 32 bits),
// counter = (counter low, counter high, 0, 0); u = (out[0] >> 8) * 2^-24,
// a float in [0, 1) with 24 random bits (exactly representable).
inline float ingot_sample_uniform(unsigned long long seed, long long counter) {
  const unsigned long long c = (unsigned long long)counter;
  const unsigned ctr[4] = {(unsigned)c, (unsigned)(c >> 32), 0u, 0u};
  const unsigned key[2] = {(unsigned)seed, (unsigned)(seed >> 32)};
  unsigned out[4];
  ingot_philox4x32_10(ctr, key, out);
  return (float)(out[0] >> 8) * (1.0f / 16777216.0f);
}
