// Prometheus text exposition (format 0.0.4) of the server's and the engine's
// state. Gauges come from Engine::stats() at scrape time; counters and
// histograms are updated as events arrive. Token rates are rate() over the
// *_tokens_total counters. KV blocks are split into used (held by live
// requests), cached (free but still holding prefix-cache content) and free,
// so a test can check that every block is released after the load ends.
#include "server_impl.h"

#include <cinttypes>
#include <cstdio>

namespace ingot {
namespace server {

void Histogram::observe(double v) {
  std::lock_guard<std::mutex> lk(m_);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i])
    ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

namespace {
std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}
void header(std::string &out, const std::string &name, const char *type, const std::string &help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
void sample(std::string &out, const std::string &name, double v, const std::string &labels = {}) {
  out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + num(v) + "\n";
}
} // namespace

void Histogram::render(std::string &out, const std::string &name, const std::string &help) const {
  std::lock_guard<std::mutex> lk(m_);
  header(out, name, "histogram", help);
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    sample(out, name + "_bucket", double(cum), "le=\"" + num(bounds_[i]) + "\"");
  }
  cum += counts_.back();
  sample(out, name + "_bucket", double(cum), "le=\"+Inf\"");
  sample(out, name + "_sum", sum_);
  sample(out, name + "_count", double(count_));
}

Metrics::Metrics()
    : ttft({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
            80.0}),
      itl({0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
           0.75, 1.0, 2.5, 5.0}),
      e2e({0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 300.0}) {}

void Metrics::finished(const std::string &reason) {
  std::lock_guard<std::mutex> lk(m_);
  ++finished_[reason];
}

void Metrics::httpStatus(int status) {
  std::lock_guard<std::mutex> lk(m_);
  ++http_[status];
}

std::string Metrics::render(const EngineStats &s, int64_t inflight, bool draining) const {
  std::string out;
  auto gauge = [&](const char *name, const char *help, double v) {
    header(out, name, "gauge", help);
    sample(out, name, v);
  };
  auto counter = [&](const char *name, const char *help, double v) {
    header(out, name, "counter", help);
    sample(out, name, v);
  };
  gauge("ingot_requests_waiting", "Engine requests queued, not yet scheduled", double(s.waiting));
  gauge("ingot_requests_running", "Engine requests being prefilled or decoded", double(s.running));
  gauge("ingot_requests_swapped", "Engine requests preempted, waiting to be recomputed", double(s.swapped));
  gauge("ingot_http_requests_inflight", "Generation HTTP requests being served", double(inflight));
  gauge("ingot_draining", "1 while the server drains before exiting", draining ? 1.0 : 0.0);
  gauge("ingot_kv_blocks_total", "KV-cache blocks", double(s.kvBlocksTotal));
  gauge("ingot_kv_blocks_used", "KV-cache blocks held by live requests", double(s.kvBlocksUsed));
  gauge("ingot_kv_blocks_cached", "Free KV-cache blocks still holding prefix-cache content",
        double(s.kvBlocksCached));
  gauge("ingot_kv_blocks_free", "KV-cache blocks not held by any request (cached ones included)",
        double(s.kvBlocksTotal - s.kvBlocksUsed));
  gauge("ingot_kv_cache_usage_ratio", "Fraction of KV-cache blocks held by live requests",
        s.kvBlocksTotal ? double(s.kvBlocksUsed) / double(s.kvBlocksTotal) : 0.0);
  counter("ingot_prompt_tokens_total", "Prompt tokens of accepted requests", double(promptTokens_.load()));
  counter("ingot_generation_tokens_total", "Tokens generated and returned to clients",
          double(generationTokens_.load()));
  counter("ingot_engine_prompt_tokens_computed_total", "Prompt tokens the engine ran (prefix-cache misses)",
          double(s.promptTokensComputed));
  counter("ingot_engine_prompt_tokens_cached_total", "Prompt tokens served from the prefix cache",
          double(s.promptTokensCached));
  counter("ingot_engine_generation_tokens_total", "Tokens the engine generated", double(s.generatedTokens));
  counter("ingot_engine_preemptions_total", "Requests preempted for lack of KV blocks", double(s.preemptions));
  counter("ingot_engine_steps_total", "Engine steps run", double(s.steps));
  {
    std::lock_guard<std::mutex> lk(m_);
    header(out, "ingot_request_finished_total", "counter",
           "Generation choices finished, by finish_reason (stop, length, abort, error)");
    for (const char *r : {"stop", "length", "abort", "error"}) {
      auto it = finished_.find(r);
      sample(out, "ingot_request_finished_total", it == finished_.end() ? 0.0 : double(it->second),
             std::string("finish_reason=\"") + r + "\"");
    }
    uint64_t ok = 0, err = 0;
    for (const auto &kv : http_)
      (kv.first < 400 ? ok : err) += kv.second;
    header(out, "ingot_request_success_total", "counter", "HTTP responses with a status below 400");
    sample(out, "ingot_request_success_total", double(ok));
    header(out, "ingot_request_error_total", "counter", "HTTP responses with a status of 400 or more");
    sample(out, "ingot_request_error_total", double(err));
    header(out, "ingot_http_responses_total", "counter", "HTTP responses by status code");
    for (const auto &kv : http_)
      sample(out, "ingot_http_responses_total", double(kv.second), "code=\"" + std::to_string(kv.first) + "\"");
  }
  ttft.render(out, "ingot_time_to_first_token_seconds", "Time from request arrival to its first token");
  itl.render(out, "ingot_inter_token_latency_seconds", "Time between consecutive tokens of one choice");
  e2e.render(out, "ingot_e2e_request_latency_seconds", "Time from request arrival to its last token");
  return out;
}

} // namespace server
} // namespace ingot
