// The continuous-batching scheduler. Each step packs, under a token budget
// and a sequence limit, the next tokens of running sequences (decodes, or
// the next chunk of a prefill) and then prefill chunks of waiting ones.
// Sequences join and leave between steps. It never sees a model: it tracks
// token ids and how many of them have K/V in the cache, so it is tested with
// a fake executor.
//
// Policy:
//  - Order is FCFS by arrival (with usePriority: higher priority first, then
//    arrival). Running sequences are served in that order, then waiting
//    ones; the head of the waiting queue blocks the ones behind it (a long
//    prompt is never overtaken by later short ones; chunked prefill lets it
//    start as soon as one chunk fits).
//  - A new sequence first takes the prefix cache's hits (never its last
//    token: that one is computed to get logits).
//  - When a running sequence needs a block and none is free, the last
//    sequence in that order (most recently arrived, lowest priority) is
//    preempted: its blocks are freed and it returns to the waiting queue at
//    its arrival position, to be recomputed from prompt + generated tokens.
//    No sequence is admitted in a step that preempted.
//  - Admission keeps a small watermark of free blocks so a just-admitted
//    sequence is not preempted at once.
#pragma once
#include "ingot/runtime/block_manager.h"
#include "ingot/runtime/kv_cache.h"

#include <cstdint>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

namespace ingot {

struct SchedulerConfig {
  int64_t maxBatchedTokens = 512; // tokens per step
  int64_t maxRunningSeqs = 64;    // running sequences (each runs every step)
  bool usePriority = false;
  int64_t watermarkBlocks = -1;   // free blocks kept at admission; -1: 1% of the cache
};

struct ScheduledSeq {
  int64_t id = 0;
  int64_t start = 0;        // tokens already in the cache: the first new position
  int32_t numTokens = 0;    // new tokens this step
  bool sample = false;      // reaches the last known token: sample from its logits
  bool admitted = false;    // joined the running set this step
  int64_t cachedTokens = 0; // when admitted: prefix-cache hit tokens
};

struct SchedulerOutput {
  std::vector<ScheduledSeq> seqs;
  std::vector<BlockCopy> copies;   // apply to the KV cache before the step
  std::vector<int64_t> preempted;  // sent back to waiting this step
  int64_t numTokens = 0;
  void clear() {
    seqs.clear();
    copies.clear();
    preempted.clear();
    numTokens = 0;
  }
};

class Scheduler {
public:
  using SeqId = BlockManager::SeqId;
  Scheduler(const SchedulerConfig &cfg, BlockManager &blocks);
  ~Scheduler();

  // Queues a sequence; all of `tokens` (non-empty) are computed before it
  // first samples. `width` running slots are reserved for it (n choices
  // that fork() will create from it).
  void add(SeqId id, std::vector<int32_t> tokens, int priority = 0, int width = 1);
  // A running sequence whose K/V are up to date forks: `child` shares its
  // tokens and blocks, runs next to it and takes one of its slots.
  void fork(SeqId parent, SeqId child);
  // Appends a sampled token (computed in a later step).
  void append(SeqId id, int32_t token);
  // Forgets a sequence in any state and frees its blocks.
  void remove(SeqId id);

  // Plans the next step into `out` (cleared first).
  void schedule(SchedulerOutput &out);
  // The step ran: advances each scheduled sequence and publishes its newly
  // full blocks to the prefix cache.
  void complete(const SchedulerOutput &out);
  // The executor's inputs for `out`: token ids, positions and batch
  // metadata (reuses the buffers' capacity).
  void prepareBatch(const SchedulerOutput &out, std::vector<int32_t> &tokens,
                    std::vector<int32_t> &positions, BatchMeta &batch) const;

  bool has(SeqId id) const { return seqs_.count(id) != 0; }
  const std::vector<int32_t> &tokens(SeqId id) const;
  int64_t numComputed(SeqId id) const;
  bool isRunning(SeqId id) const;
  size_t numWaiting() const { return waiting_.size(); }
  size_t numRunning() const { return running_.size(); }
  size_t numPreemptedWaiting() const; // waiting to be recomputed
  bool hasWork() const { return !waiting_.empty() || !running_.empty(); }
  const SchedulerConfig &config() const { return cfg_; }

private:
  struct Seq;
  struct Before {
    bool usePriority;
    bool operator()(const Seq *a, const Seq *b) const;
  };
  Seq &get(SeqId id) const;
  void preempt(Seq &s);
  void insertRunning(Seq *s);

  SchedulerConfig cfg_;
  BlockManager &bm_;
  std::unordered_map<SeqId, std::unique_ptr<Seq>> seqs_;
  std::vector<Seq *> running_;     // in `Before` order
  std::set<Seq *, Before> waiting_;
  int64_t runningWidth_ = 0;
  uint64_t arrivals_ = 0;
};

} // namespace ingot
