// Plans of any compute dtype run on the CPU (docs/dev/cuda-abi.md, "Runtime
// behaviour"): a fixture compiled with `ingotc --dtype bf16` (or f16, or
// --target cpu,sm_80) holds 16-bit weights, activations planned in 16-bit
// bytes and a 16-bit KV cache desc; the CPU executor computes in f32, so its
// logits must match the f32 plan's within what rounding the weights to the
// 16-bit dtype costs. ctest compute_dtype_<fixture> compiles both plans with
// ingotc and sets INGOT_DTYPE_PLAN_F32 / INGOT_DTYPE_PLAN_LOW.
#include "ingot/runtime/dtype.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/generate.h"
#include "ingot/runtime/plan.h"
#include "ingot/schema/plan_generated.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace ingot;

namespace {

// The header target is ingotc's --target list; the CPU runs cpu and sm_* plans.
TEST(ComputeDtype, CpuRunsTargetLists) {
  EXPECT_TRUE(cpuRunsTarget("cpu"));
  EXPECT_TRUE(cpuRunsTarget("cpu,sm_80,sm_90a"));
  EXPECT_TRUE(cpuRunsTarget("sm_80,sm_90"));
  EXPECT_FALSE(cpuRunsTarget(""));
  EXPECT_FALSE(cpuRunsTarget("cuda"));
  EXPECT_FALSE(cpuRunsTarget("cpu,"));
  EXPECT_FALSE(cpuRunsTarget("cpu,sm_"));
  EXPECT_FALSE(cpuRunsTarget("cpu,tpu"));
}

TEST(ComputeDtype, LowPrecisionPlanMatchesF32OnTheCpu) {
  const char *f32Path = std::getenv("INGOT_DTYPE_PLAN_F32");
  const char *lowPath = std::getenv("INGOT_DTYPE_PLAN_LOW");
  if (!f32Path || !*f32Path || !lowPath || !*lowPath)
    GTEST_SKIP() << "set INGOT_DTYPE_PLAN_F32 and INGOT_DTYPE_PLAN_LOW (ctest compute_dtype_*)";
  auto f32Plan = PlanFile::open(f32Path);
  auto lowPlan = PlanFile::open(lowPath);
  const plan::Plan &lp = lowPlan->program();
  ASSERT_TRUE(lp.model());
  const DType low = DType(lp.model()->compute_dtype());
  ASSERT_TRUE(low == DType::BF16 || low == DType::F16) << "the low plan computes in f32";
  ASSERT_EQ(DType(f32Plan->program().model()->compute_dtype()), DType::F32);
  // The plan really is 16-bit: weights, KV desc, activations (not logits).
  ASSERT_TRUE(lp.weights() && lp.weights()->size() > 0);
  for (const plan::Weight *w : *lp.weights())
    EXPECT_EQ(DType(w->dtype()), low) << (w->name() ? w->name()->str() : "?");
  EXPECT_EQ(DType(lp.kv_cache()->dtype()), low);
  EXPECT_EQ(lp.kv_cache()->bytes_per_token() * 2,
            f32Plan->program().kv_cache()->bytes_per_token());
  for (const plan::TensorDesc *t : *lp.tensors())
    if (t->kind() == plan::TensorKind::Activation)
      EXPECT_EQ(DType(t->dtype()), t->id() == lp.logits_output() ? DType::F32 : low)
          << (t->name() ? t->name()->str() : "?");

  ExecutorOptions opts;
  auto exF32 = createCpuExecutor(*f32Plan, opts);
  auto exLow = createCpuExecutor(*lowPlan, opts);
  ASSERT_EQ(exF32->vocabSize(), exLow->vocabSize());
  const int64_t vocab = exF32->vocabSize();
  std::vector<int32_t> ids;
  for (int i = 0; i < 11; ++i)
    ids.push_back(int32_t((7 + 37 * i) % vocab));
  for (const std::string mode : {"prefill", "stepwise", "chunked:4"}) {
    int64_t rowsA = 0, rowsB = 0;
    const std::vector<float> a = computeLogits(*exF32, ids, mode, rowsA);
    const std::vector<float> b = computeLogits(*exLow, ids, mode, rowsB);
    ASSERT_EQ(rowsA, rowsB);
    ASSERT_EQ(a.size(), b.size());
    // Relative to each row's logit range: 16-bit weights move logits by a
    // few percent of it at most on these small fixtures; a wrong offset,
    // an unconverted weight or a mis-scaled arena moves them by far more.
    double worst = 0;
    for (int64_t r = 0; r < rowsA; ++r) {
      const float *ra = a.data() + r * vocab, *rb = b.data() + r * vocab;
      const auto [mn, mx] = std::minmax_element(ra, ra + vocab);
      const double range = std::max(1e-6, double(*mx - *mn));
      for (int64_t v = 0; v < vocab; ++v) {
        ASSERT_TRUE(std::isfinite(rb[v])) << mode << " row " << r << " token " << v;
        worst = std::max(worst, std::fabs(double(ra[v]) - double(rb[v])) / range);
      }
      // The greedy token agrees unless the top two are within tolerance.
      const int64_t ta = std::max_element(ra, ra + vocab) - ra;
      const int64_t tb = std::max_element(rb, rb + vocab) - rb;
      if (ta != tb)
        EXPECT_LT(std::fabs(double(ra[ta]) - double(ra[tb])) / range, 0.03)
            << mode << " row " << r << ": argmax " << ta << " vs " << tb;
    }
    std::printf("%s: max |f32 - %s| / logit range = %.3g\n", mode.c_str(), dtypeName(low), worst);
    EXPECT_LT(worst, 0.03) << mode << ": max |f32 - " << dtypeName(low)
                           << "| relative to the row's logit range";
    // (Identical logits are possible: a checkpoint stored in bf16, e.g.
    // qwen3's fixture, rounds exactly.)
  }
}

} // namespace
