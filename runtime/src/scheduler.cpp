// Continuous-batching scheduler (see scheduler.h for the policy). A step is
// planned in two passes: running sequences in order, preempting from the
// back when blocks run out, then waiting sequences from the front while the
// token budget, the running slots and the free blocks allow. Everything on
// the per-step path reuses buffers: the scheduler benchmark
// (bench/bench_scheduler.cpp) holds schedule + prepareBatch for 256 running
// sequences to a few tens of microseconds.
#include "ingot/runtime/scheduler.h"
#include "ingot/runtime/error.h"

#include <algorithm>
#include <string>

namespace ingot {

struct Scheduler::Seq {
  SeqId id = 0;
  int priority = 0;
  uint64_t arrival = 0; // order of add(); a forked child keeps its parent's
  uint32_t sub = 0;     // 0 for a parent, i for its i-th child
  uint32_t forks = 0;   // children forked so far (parents only)
  int width = 1;        // running slots held while running
  bool running = false;
  bool preempted = false;
  std::vector<int32_t> tokens;
  int64_t computed = 0; // leading tokens whose K/V are in the cache
};

bool Scheduler::Before::operator()(const Seq *a, const Seq *b) const {
  if (usePriority && a->priority != b->priority)
    return a->priority > b->priority;
  if (a->arrival != b->arrival)
    return a->arrival < b->arrival;
  return a->sub < b->sub;
}

Scheduler::Scheduler(const SchedulerConfig &cfg, BlockManager &blocks)
    : cfg_(cfg), bm_(blocks), waiting_(Before{cfg.usePriority}) {
  INGOT_CHECK(cfg_.maxBatchedTokens >= 1 && cfg_.maxRunningSeqs >= 1,
              "scheduler: maxBatchedTokens and maxRunningSeqs must be >= 1");
  if (cfg_.watermarkBlocks < 0)
    cfg_.watermarkBlocks = bm_.numBlocks() / 100;
}

Scheduler::~Scheduler() = default;

Scheduler::Seq &Scheduler::get(SeqId id) const {
  auto it = seqs_.find(id);
  INGOT_CHECK(it != seqs_.end(), "scheduler: unknown sequence " + std::to_string(id));
  return *it->second;
}

const std::vector<int32_t> &Scheduler::tokens(SeqId id) const { return get(id).tokens; }
int64_t Scheduler::numComputed(SeqId id) const { return get(id).computed; }
bool Scheduler::isRunning(SeqId id) const { return get(id).running; }

size_t Scheduler::numPreemptedWaiting() const {
  size_t n = 0;
  for (const Seq *s : waiting_)
    n += s->preempted;
  return n;
}

void Scheduler::add(SeqId id, std::vector<int32_t> tokens, int priority, int width) {
  INGOT_CHECK(!seqs_.count(id), "scheduler: sequence " + std::to_string(id) + " already exists");
  INGOT_CHECK(!tokens.empty(), "scheduler: sequence " + std::to_string(id) + " has no tokens");
  INGOT_CHECK(width >= 1 && width <= cfg_.maxRunningSeqs,
              "scheduler: sequence " + std::to_string(id) + " needs " + std::to_string(width) +
                  " running slots, at most " + std::to_string(cfg_.maxRunningSeqs) + " exist");
  auto s = std::make_unique<Seq>();
  s->id = id;
  s->priority = priority;
  s->arrival = arrivals_++;
  s->width = width;
  s->tokens = std::move(tokens);
  waiting_.insert(s.get());
  seqs_.emplace(id, std::move(s));
}

void Scheduler::insertRunning(Seq *s) {
  auto it = std::upper_bound(running_.begin(), running_.end(), s, Before{cfg_.usePriority});
  running_.insert(it, s);
  s->running = true;
  runningWidth_ += s->width;
}

void Scheduler::fork(SeqId parent, SeqId child) {
  Seq &p = get(parent);
  INGOT_CHECK(p.running && p.computed == int64_t(p.tokens.size()),
              "scheduler: sequence " + std::to_string(parent) +
                  " can only fork while running with its K/V up to date");
  INGOT_CHECK(!seqs_.count(child), "scheduler: sequence " + std::to_string(child) + " already exists");
  auto c = std::make_unique<Seq>(p);
  c->id = child;
  c->sub = p.sub + ++p.forks;
  c->forks = 0;
  c->width = 1;
  c->running = false;
  // The child's slot comes out of the parent's reservation when it has one.
  if (p.width > 1) {
    --p.width;
    runningWidth_ -= 1;
  }
  bm_.fork(parent, child);
  Seq *raw = c.get();
  seqs_.emplace(child, std::move(c));
  insertRunning(raw);
}

void Scheduler::append(SeqId id, int32_t token) { get(id).tokens.push_back(token); }

void Scheduler::remove(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end())
    return;
  Seq *s = it->second.get();
  if (s->running) {
    running_.erase(std::find(running_.begin(), running_.end(), s));
    runningWidth_ -= s->width;
  } else {
    waiting_.erase(s);
  }
  bm_.free(id);
  seqs_.erase(it);
}

void Scheduler::preempt(Seq &s) {
  // Only called on running_.back().
  running_.pop_back();
  runningWidth_ -= s.width;
  s.running = false;
  s.preempted = true;
  s.computed = 0;
  bm_.free(s.id);
  waiting_.insert(&s);
}

void Scheduler::schedule(SchedulerOutput &out) {
  out.clear();
  int64_t budget = cfg_.maxBatchedTokens;
  const size_t maxSeqs = size_t(cfg_.maxRunningSeqs);
  const int bs = bm_.blockSize();

  for (size_t i = 0; i < running_.size() && budget > 0 && out.seqs.size() < maxSeqs;) {
    Seq *s = running_[i];
    const int64_t left = int64_t(s->tokens.size()) - s->computed;
    if (left <= 0) { // nothing new until the engine appends a token
      ++i;
      continue;
    }
    const int64_t n = std::min(left, budget);
    bool ok = true, selfPreempted = false;
    while (!(ok = bm_.reserve(s->id, s->computed + n, s->computed, out.copies))) {
      Seq *victim = running_.back();
      out.preempted.push_back(victim->id);
      preempt(*victim);
      if (victim == s) {
        selfPreempted = true;
        break;
      }
    }
    if (selfPreempted)
      break; // s was the last running sequence
    out.seqs.push_back({s->id, s->computed, int32_t(n), s->computed + n == int64_t(s->tokens.size()),
                        false, 0});
    budget -= n;
    ++i;
  }

  if (!out.preempted.empty()) {
    out.numTokens = cfg_.maxBatchedTokens - budget;
    return;
  }
  while (!waiting_.empty() && budget > 0 && out.seqs.size() < maxSeqs) {
    Seq *s = *waiting_.begin();
    if (runningWidth_ + s->width > cfg_.maxRunningSeqs)
      break;
    const int64_t total = int64_t(s->tokens.size());
    const int64_t hit = bm_.open(s->id, s->tokens.data(), total - 1);
    const int64_t n = std::min(total - hit, budget);
    const int64_t need = (hit + n + bs - 1) / bs - int64_t(bm_.table(s->id).size());
    const int64_t keep = running_.empty() ? 0 : cfg_.watermarkBlocks;
    if (need > bm_.numFree() - keep) {
      bm_.free(s->id); // gives the hit blocks back; try again next step
      break;
    }
    const bool reserved = bm_.reserve(s->id, hit + n, hit, out.copies);
    INGOT_CHECK(reserved, "scheduler: reservation failed after the free-block check (internal error)");
    s->computed = hit;
    waiting_.erase(waiting_.begin());
    insertRunning(s);
    out.seqs.push_back({s->id, hit, int32_t(n), hit + n == total, true, hit});
    budget -= n;
  }
  out.numTokens = cfg_.maxBatchedTokens - budget;
}

void Scheduler::complete(const SchedulerOutput &out) {
  for (const ScheduledSeq &q : out.seqs) {
    auto it = seqs_.find(q.id);
    if (it == seqs_.end())
      continue; // removed since (e.g. aborted)
    Seq &s = *it->second;
    s.computed = q.start + q.numTokens;
    s.preempted = false;
    bm_.commit(s.id, s.tokens.data(), s.computed);
  }
}

void Scheduler::prepareBatch(const SchedulerOutput &out, std::vector<int32_t> &tokens,
                             std::vector<int32_t> &positions, BatchMeta &batch) const {
  const int bs = bm_.blockSize();
  tokens.resize(size_t(out.numTokens));
  positions.resize(size_t(out.numTokens));
  batch.slotMapping.resize(size_t(out.numTokens));
  batch.seqs.resize(out.seqs.size());
  int32_t row = 0;
  for (size_t i = 0; i < out.seqs.size(); ++i) {
    const ScheduledSeq &q = out.seqs[i];
    const Seq &s = get(q.id);
    const std::vector<int32_t> &table = bm_.table(q.id);
    const int64_t end = q.start + q.numTokens;
    SeqStep &st = batch.seqs[i];
    st.queryStart = row;
    st.queryLen = q.numTokens;
    st.contextLen = int32_t(end);
    st.blockTable.assign(table.begin(), table.begin() + (end + bs - 1) / bs);
    for (int64_t p = q.start; p < end; ++p, ++row) {
      tokens[size_t(row)] = s.tokens[size_t(p)];
      positions[size_t(row)] = int32_t(p);
      batch.slotMapping[size_t(row)] = int64_t(table[size_t(p / bs)]) * bs + p % bs;
    }
  }
}

} // namespace ingot
