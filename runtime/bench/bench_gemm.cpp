// Google Benchmark: the batch-invariant GEMM (src/cpu_kernels_gemm.cpp)
// against OpenBLAS on the same shapes, single-threaded: out[M,N] = x[M,K]·Wᵀ
// with W [N,K] row-major, as linear() computes it. OpenBLAS runs sgemv for
// M = 1 (what the CPU kernels used before) and sgemm otherwise. The cost of
// batch invariance quoted in docs/architecture.md comes from here.
//
// Run: build/bin/ingot_bench_gemm   (INGOT_GEMM_ISA=avx2 or =generic times a
// lesser instruction set of the invariant kernel)
#include "../src/cpu_kernels.h"

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>
#include <vector>

namespace {

struct Operands {
  std::vector<float> x, W, out;
  Operands(int64_t M, int64_t K, int64_t N)
      : x(static_cast<size_t>(M * K)), W(static_cast<size_t>(N * K)), out(static_cast<size_t>(M * N)) {
    std::mt19937 g(1);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (float &v : x)
      v = d(g);
    for (float &v : W)
      v = d(g);
  }
};

void setFlops(benchmark::State &state, int64_t M, int64_t K, int64_t N) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(M * K * N) * double(state.iterations()), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

void BM_OpenBlas(benchmark::State &state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  openblas_set_num_threads(1);
  Operands o(M, K, N);
  for (auto _ : state) {
    if (M == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(N), int(K), 1.0f, o.W.data(), int(K), o.x.data(), 1, 0.0f,
                  o.out.data(), 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(N), int(K), 1.0f, o.x.data(), int(K),
                  o.W.data(), int(K), 0.0f, o.out.data(), int(N));
    benchmark::DoNotOptimize(o.out.data());
  }
  setFlops(state, M, K, N);
}

void BM_Invariant(benchmark::State &state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  Operands o(M, K, N);
  for (auto _ : state) {
    ingot::cpu::gemmInvariant(o.x.data(), M, K, o.W.data(), N, 0, N, o.out.data());
    benchmark::DoNotOptimize(o.out.data());
  }
  setFlops(state, M, K, N);
  state.SetLabel(ingot::cpu::gemmIsa());
}

void shapes(benchmark::internal::Benchmark *b) {
  for (auto s : std::vector<std::vector<int64_t>>{{1, 2048, 2048},
                                                  {1, 2048, 8192},
                                                  {16, 2048, 2048},
                                                  {64, 2048, 2048},
                                                  {256, 2048, 2048},
                                                  {512, 1024, 1024},
                                                  {7, 64, 512},
                                                  {128, 64, 176}})
    b->Args(s);
  b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_OpenBlas)->Apply(shapes);
BENCHMARK(BM_Invariant)->Apply(shapes);

} // namespace

BENCHMARK_MAIN();
