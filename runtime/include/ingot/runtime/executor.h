// The CPU executor: binds a plan's weights (embedded or external), owns the
// activation arena, and runs the flat program step by step for one batch.
#pragma once
#include "ingot/runtime/kv_cache.h"
#include "ingot/runtime/plan.h"
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ingot {

struct ExecutorOptions {
  std::string weightsDir;   // overrides the plan's weights_dir (external plans)
  int numThreads = 0;       // 0: all cores
  int64_t kvCacheBytes = 0; // 0: default (256 MiB or what max_position needs)
};

class Executor {
public:
  virtual ~Executor() = default;
  // Runs one step. `tokens` and `positions` have batch.numTokens() entries.
  // Returns logits [batch.seqs.size(), vocab] for each sequence's last token.
  virtual const float *step(const std::vector<int32_t> &tokens,
                            const std::vector<int32_t> &positions,
                            const BatchMeta &batch) = 0;
  virtual KvCache &kvCache() = 0;
  virtual int64_t vocabSize() const = 0;
  virtual int64_t maxTokensPerStep() const = 0;
  virtual int64_t maxSeqsPerStep() const = 0;
};

std::unique_ptr<Executor> createCpuExecutor(const PlanFile &plan,
                                            const ExecutorOptions &opts);

} // namespace ingot
