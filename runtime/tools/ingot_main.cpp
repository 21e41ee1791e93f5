// `ingot`: the command-line runtime. Subcommands:
//   run           generate text from a prompt, streamed to stdout
//   inspect       describe a plan (header, model, weights, memory, steps; for
//                 graph plans also inputs, outputs and op types)
//   logits        write logits for given token ids to a .npy file (tests)
//   generate-ids  greedy generation from token ids, printed as JSON
//   tokenize      encode text / decode ids with the plan's tokenizer
//   bench         latency, offline throughput, online load (tools/cmd_bench.cpp)
//   exec          run a graph plan: safetensors in -> out (tools/cmd_exec.cpp)
//   serve         OpenAI-compatible HTTP server (tools/cmd_serve.cpp)
//   chat-template render messages with the plan's chat template (cmd_serve.cpp)
// Errors: ingot::Error and other exceptions print "ingot: error: MESSAGE" and
// exit 1; command-line usage errors print CLI11's message the same way and
// exit 2. Nothing here knows about kernels: it drives the runtime library.
#include "commands.h"
#include "ingot/runtime/dtype.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/executor.h"
#include "ingot/runtime/generate.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/tokenizer.h"
#include "ingot/schema/plan_file_generated.h"
#include "ingot/schema/plan_generated.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace fb = ingot::plan;
using json = nlohmann::json;

// Shared with tools/cmd_*.cpp (commands.h).
void addDeviceOptions(CLI::App *cmd, DeviceArgs &a) {
  cmd->add_option("--device", a.device,
                  "cpu | cuda | auto: auto uses CUDA when the driver loads, a GPU exists and the plan "
                  "has CUDA kernels, else the CPU (saying why)")
      ->capture_default_str();
  cmd->add_option("--gpu-memory-fraction", a.gpuMemoryFraction,
                  "CUDA: share of the free device memory for weights, activations and the KV cache")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_flag("--no-cuda-graphs", a.noCudaGraphs, "CUDA: launch decode steps kernel by kernel");
}

void applyDeviceOptions(const DeviceArgs &a, ingot::ExecutorOptions &eo) {
  INGOT_CHECK(ingot::parseDeviceKind(a.device, eo.device),
              "--device must be cpu, cuda or auto, got \"" + a.device + "\"");
  eo.gpuMemoryFraction = a.gpuMemoryFraction;
  eo.cudaGraphs = !a.noCudaGraphs;
}

namespace {

// Options shared by the subcommands that load a plan.
struct LoadArgs {
  std::string plan;
  std::string weightsDir;
  int threads = 0;
  bool noVerifyWeights = false;
  DeviceArgs device;
};

void addLoadOptions(CLI::App *cmd, LoadArgs &a, bool executor) {
  cmd->add_option("plan", a.plan, "Plan file produced by ingotc")->required();
  cmd->add_flag("--no-verify-weights", a.noVerifyWeights,
                "Skip the checksum of the embedded weights section (faster load)");
  if (executor) {
    cmd->add_option("--weights", a.weightsDir,
                    "Checkpoint directory for weights-external plans (overrides the recorded one)");
    cmd->add_option("--threads", a.threads, "Worker threads (0: all cores)")->check(CLI::NonNegativeNumber);
    addDeviceOptions(cmd, a.device);
  }
}

std::unique_ptr<ingot::PlanFile> openPlan(const LoadArgs &a) {
  ingot::PlanLoadOptions lo;
  lo.verifyWeights = !a.noVerifyWeights;
  return ingot::PlanFile::open(a.plan, lo);
}

std::unique_ptr<ingot::Executor> makeExecutor(const ingot::PlanFile &pf, const LoadArgs &a,
                                              const char *command) {
  INGOT_CHECK(ingot::cpuRunsTarget(pf.target()),
              "plan " + a.plan + " targets \"" + pf.target() +
                  "\"; this ingot runs plans for cpu and CUDA (sm_*) targets");
  requireDecoderPlan(pf, command);
  ingot::ExecutorOptions eo;
  eo.weightsDir = a.weightsDir;
  eo.numThreads = a.threads;
  applyDeviceOptions(a.device, eo);
  return ingot::createExecutor(pf, eo);
}

std::unique_ptr<ingot::Tokenizer> planTokenizer(const ingot::PlanFile &pf) {
  const fb::Tokenizer *t = pf.program().tokenizer();
  INGOT_CHECK(t && t->tokenizer_json() && t->tokenizer_json()->size(),
              "plan " + pf.path() + " has no tokenizer");
  return ingot::Tokenizer::fromJson(t->tokenizer_json()->str());
}

std::vector<int32_t> eosIds(const ingot::PlanFile &pf) {
  std::vector<int32_t> r;
  const fb::ModelConfig *m = pf.program().model();
  if (m && m->eos_token_ids())
    for (int32_t id : *m->eos_token_ids())
      r.push_back(id);
  return r;
}

int64_t maxPosition(const ingot::PlanFile &pf) {
  const fb::ModelConfig *m = pf.program().model();
  return m ? m->max_position() : 0;
}


std::string jsonIds(const std::vector<int32_t> &ids) { return json(ids).dump(); }

// NumPy .npy, format 1.0: magic, version, little-endian u16 header length,
// a Python dict literal padded so the data starts 64-byte aligned.
void writeNpy(const std::string &path, const std::vector<float> &data, int64_t rows, int64_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  const size_t prefix = 10;
  size_t total = prefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  INGOT_CHECK(f.good(), "cannot write " + path);
  const uint16_t hlen = uint16_t(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  const char lenBytes[2] = {char(hlen & 0xff), char(hlen >> 8)};
  f.write(lenBytes, 2);
  f.write(header.data(), std::streamsize(header.size()));
  f.write(reinterpret_cast<const char *>(data.data()), std::streamsize(data.size() * sizeof(float)));
  f.close();
  INGOT_CHECK(!f.fail(), "error writing " + path);
}

// --- run ---------------------------------------------------------------

struct RunArgs {
  LoadArgs load;
  std::string prompt;
  int64_t maxTokens = 128;
  float temperature = 0.0f;
  int topK = 0;
  float topP = 1.0f;
  uint64_t seed = 0;
  int64_t prefillChunk = 0;
  bool stats = false;
};

int cmdRun(const RunArgs &a) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto pf = openPlan(a.load);
  requireDecoderPlan(*pf, "run");
  auto tok = planTokenizer(*pf);
  auto ex = makeExecutor(*pf, a.load, "run");
  const double loadSeconds = std::chrono::duration<double>(Clock::now() - t0).count();

  ingot::GenerateOptions go;
  go.maxTokens = a.maxTokens;
  go.sampling.temperature = a.temperature;
  go.sampling.topK = a.topK;
  go.sampling.topP = a.topP;
  go.sampling.seed = a.seed;
  go.prefillChunk = a.prefillChunk;
  go.eosTokenIds = eosIds(*pf);
  go.maxContext = maxPosition(*pf);
  const ingot::GenerateResult r = ingot::generateText(*ex, *tok, a.prompt, go, [](const std::string &s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (a.stats) {
    const auto &s = r.stats;
    const int64_t decoded = std::max<int64_t>(0, s.generatedTokens - 1);
    std::fprintf(stderr, "device:  %s\n", ex->description().c_str());
    std::fprintf(stderr, "load:    %.3f s\n", loadSeconds);
    std::fprintf(stderr, "prefill: %" PRId64 " tokens in %.3f s (%.1f tok/s)\n", s.promptTokens,
                 s.prefillSeconds, s.prefillSeconds > 0 ? double(s.promptTokens) / s.prefillSeconds : 0.0);
    std::fprintf(stderr, "decode:  %" PRId64 " tokens in %.3f s (%.1f tok/s)\n", decoded,
                 s.decodeSeconds, s.decodeSeconds > 0 ? double(decoded) / s.decodeSeconds : 0.0);
    std::fprintf(stderr, "stop:    %s\n", r.stopReason.c_str());
  }
  return 0;
}

// --- inspect -----------------------------------------------------------

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016" PRIx64, v);
  return b;
}

const char *kindName(fb::TensorKind k) {
  const char *n = fb::EnumNameTensorKind(k);
  return n && *n ? n : "?";
}

json shapeJson(const flatbuffers::Vector<int64_t> *s) {
  json j = json::array();
  if (s)
    for (int64_t d : *s)
      j.push_back(d == -1 ? json("T") : d == -2 ? json("S") : json(d));
  return j;
}

json attrJson(const fb::Attr &a) {
  // Node steps (graph plans) say which field is meant.
  switch (a.kind()) {
  case fb::AttrKind::Int:
    return a.i();
  case fb::AttrKind::Float:
    return a.f();
  case fb::AttrKind::String:
    return a.s() ? a.s()->str() : std::string();
  case fb::AttrKind::Ints: {
    json j = json::array();
    if (a.ints())
      for (int64_t v : *a.ints())
        j.push_back(v);
    return j;
  }
  case fb::AttrKind::Floats: {
    json j = json::array();
    if (a.floats())
      for (double v : *a.floats())
        j.push_back(v);
    return j;
  }
  case fb::AttrKind::Strings: {
    json j = json::array();
    if (a.strings())
      for (const flatbuffers::String *v : *a.strings())
        j.push_back(v ? v->str() : std::string());
    return j;
  }
  case fb::AttrKind::Tensor: {
    json shape = json::array();
    if (a.ints())
      for (int64_t v : *a.ints())
        shape.push_back(v);
    const bool valid = ingot::isValidDType(uint8_t(a.t_dtype()));
    return {{"tensor", valid ? ingot::dtypeName(ingot::DType(a.t_dtype())) : "?"},
            {"shape", shape},
            {"bytes", a.t_data() ? a.t_data()->size() : 0}};
  }
  default:
    break; // Unset: decoder steps, the step kind knows the field
  }
  if (a.s())
    return a.s()->str();
  if (a.ints() && a.ints()->size()) {
    json j = json::array();
    for (int64_t v : *a.ints())
      j.push_back(v);
    return j;
  }
  if (a.floats() && a.floats()->size()) {
    json j = json::array();
    for (double v : *a.floats())
      j.push_back(v);
    return j;
  }
  if (a.f() != 0.0)
    return a.f();
  return a.i();
}

// A graph input/output: name, dtype, shape (dims as numbers, dynamic ones
// as their dim name or "?") and dim names.
json graphIOJson(const fb::Plan &p, int32_t id) {
  json j;
  if (!p.tensors() || id < 0 || uint32_t(id) >= p.tensors()->size())
    return {{"tensor", id}, {"error", "tensor id out of range"}};
  const fb::TensorDesc *t = p.tensors()->Get(flatbuffers::uoffset_t(id));
  std::vector<std::string> params;
  if (t->dim_params())
    for (const flatbuffers::String *s : *t->dim_params())
      params.push_back(s ? s->str() : std::string());
  json shape = json::array(), names = json::array();
  size_t i = 0;
  if (t->shape())
    for (int64_t d : *t->shape()) {
      const std::string name = i < params.size() ? params[i] : std::string();
      shape.push_back(d >= 0 ? json(d) : json(name.empty() ? "?" : name));
      names.push_back(name);
      ++i;
    }
  const bool valid = ingot::isValidDType(uint8_t(t->dtype()));
  return {{"name", t->name() ? t->name()->str() : ""},
          {"tensor", id},
          {"kind", kindName(t->kind())},
          {"dtype", valid ? ingot::dtypeName(ingot::DType(t->dtype())) : "?"},
          {"shape", shape},
          {"dim_params", names}};
}

std::string opTypeName(const fb::Step &s) {
  std::string op = s.op_type() ? s.op_type()->str() : "?";
  if (s.domain() && s.domain()->size() && s.domain()->str() != "ai.onnx")
    op = s.domain()->str() + "::" + op;
  return op;
}

json describe(const ingot::PlanFile &pf, bool withSteps) {
  const fb::FileHeader &h = pf.header();
  const fb::Plan &p = pf.program();
  json j;
  json sections = json::array();
  if (h.sections())
    for (const fb::Section *s : *h.sections())
      sections.push_back({{"name", s->name() ? s->name()->str() : ""},
                          {"offset", s->offset()},
                          {"size", s->size()},
                          {"xxh3", hex64(s->xxh3())}});
  j["file"] = {{"path", pf.path()},
               {"size", pf.fileSize()},
               {"format_version", h.format_version()},
               {"schema_version", h.schema_version()},
               {"target", h.target() ? h.target()->str() : ""},
               {"producer", h.producer() ? h.producer()->str() : ""},
               {"sections", sections}};
  if (const fb::ModelConfig *m = p.model()) {
    json eos = json::array();
    if (m->eos_token_ids())
      for (int32_t id : *m->eos_token_ids())
        eos.push_back(id);
    j["model"] = {{"model_type", m->model_type() ? m->model_type()->str() : ""},
                  {"architecture", m->architecture() ? m->architecture()->str() : ""},
                  {"vocab_size", m->vocab_size()},
                  {"hidden_size", m->hidden_size()},
                  {"num_layers", m->num_layers()},
                  {"max_position", m->max_position()},
                  {"bos_token_id", m->bos_token_id()},
                  {"eos_token_ids", eos},
                  {"pad_token_id", m->pad_token_id()},
                  {"compute_dtype", ingot::dtypeName(ingot::DType(m->compute_dtype()))}};
  }
  std::string tokKind = "none";
  if (p.tokenizer() && p.tokenizer()->tokenizer_json() && p.tokenizer()->tokenizer_json()->size()) {
    const json tj = json::parse(p.tokenizer()->tokenizer_json()->str(), nullptr, false);
    tokKind = "unparseable";
    if (!tj.is_discarded() && tj.contains("model") && tj["model"].is_object()) {
      tokKind = tj["model"].value("type", "unknown");
      if (tj.contains("pre_tokenizer") && tj["pre_tokenizer"].is_object())
        tokKind += " / pre_tokenizer " + tj["pre_tokenizer"].value("type", "?");
      if (tj.contains("decoder") && tj["decoder"].is_object())
        tokKind += " / decoder " + tj["decoder"].value("type", "?");
    }
  }
  j["tokenizer"] = tokKind;

  std::map<std::string, int64_t> byKind;
  if (p.tensors())
    for (const fb::TensorDesc *t : *p.tensors())
      byKind[kindName(t->kind())]++;
  j["tensors"] = {{"count", p.tensors() ? p.tensors()->size() : 0}, {"by_kind", byKind}};
  uint64_t wbytes = 0, params = 0;
  std::map<std::string, int64_t> byDtype;
  if (p.weights())
    for (const fb::Weight *w : *p.weights()) {
      uint64_t n = 1;
      if (w->shape())
        for (int64_t d : *w->shape())
          n *= uint64_t(std::max<int64_t>(d, 0));
      params += n;
      wbytes += n * ingot::dtypeSize(ingot::DType(w->dtype()));
      byDtype[ingot::dtypeName(ingot::DType(w->dtype()))]++;
    }
  json wj = {{"count", p.weights() ? p.weights()->size() : 0},
             {"parameters", params},
             {"bytes", wbytes},
             {"by_dtype", byDtype},
             {"mode", p.weights_external() ? "external" : "embedded"}};
  if (p.weights_external()) {
    wj["weights_dir"] = p.weights_dir() ? p.weights_dir()->str() : "";
    json files = json::array();
    if (p.weight_files())
      for (const fb::WeightFile *f : *p.weight_files())
        files.push_back({{"name", f->name() ? f->name()->str() : ""}, {"size", f->size()}});
    wj["files"] = files;
  } else {
    wj["section_bytes"] = pf.weightsSize();
  }
  j["weights"] = wj;
  if (const fb::MemoryPlan *m = p.memory())
    j["memory"] = {{"arena_bytes", m->arena_bytes()},
                   {"max_tokens", m->max_tokens()},
                   {"max_seqs", m->max_seqs()}};
  if (const fb::KvCacheDesc *k = p.kv_cache()) {
    uint64_t cpuBytes = 0;
    json layers = json::array();
    if (k->layers())
      for (const fb::KvLayer *l : *k->layers()) {
        layers.push_back({{"num_kv_heads", l->num_kv_heads()}, {"head_dim", l->head_dim()}});
        cpuBytes += uint64_t(2) * uint64_t(l->num_kv_heads()) * uint64_t(l->head_dim()) * 4;
      }
    j["kv_cache"] = {{"block_size", k->block_size()},
                     {"dtype", ingot::dtypeName(ingot::DType(k->dtype()))},
                     {"bytes_per_token", k->bytes_per_token()},
                     {"cpu_fp32_bytes_per_token", cpuBytes},
                     {"layers", layers}};
  }
  const bool graph = p.kind() == fb::PlanKind::Graph;
  if (graph) {
    j["kind"] = "graph";
    j["source"] = p.source() ? p.source()->str() : "";
    json ins = json::array(), outs = json::array();
    if (p.graph_inputs())
      for (int32_t id : *p.graph_inputs())
        ins.push_back(graphIOJson(p, id));
    if (p.graph_outputs())
      for (int32_t id : *p.graph_outputs())
        outs.push_back(graphIOJson(p, id));
    j["graph"] = {{"inputs", ins}, {"outputs", outs}};
  } else {
    j["interface"] = {{"token_input", p.token_input()},
                      {"position_input", p.position_input()},
                      {"logits_output", p.logits_output()}};
  }
  std::map<std::string, int64_t> opTypes;
  std::map<std::string, int64_t> ops;
  json steps = json::array();
  if (p.steps())
    for (const fb::Step *s : *p.steps()) {
      const char *op = fb::EnumNameOpKind(s->op());
      ops[op && *op ? op : "?"]++;
      const bool node = s->op() == fb::OpKind::Node;
      if (node)
        opTypes[opTypeName(*s)]++;
      if (!withSteps)
        continue;
      json st = {{"op", node ? opTypeName(*s) : std::string(op && *op ? op : "?")},
                 {"name", s->name() ? s->name()->str() : ""}};
      st["inputs"] = json::array();
      st["outputs"] = json::array();
      if (s->inputs())
        for (int32_t id : *s->inputs())
          st["inputs"].push_back(id);
      if (s->outputs())
        for (int32_t id : *s->outputs())
          st["outputs"].push_back(id);
      json attrs = json::object();
      if (s->attrs())
        for (const fb::Attr *a : *s->attrs())
          attrs[a->name() ? a->name()->str() : "?"] = attrJson(*a);
      st["attrs"] = attrs;
      if (s->program())
        st["program_length"] = s->program()->size();
      if (s->cuda_functions() && s->cuda_functions()->size()) {
        st["cuda_functions"] = json::array();
        for (const flatbuffers::String *f : *s->cuda_functions())
          st["cuda_functions"].push_back(f ? f->str() : std::string());
      }
      steps.push_back(st);
    }
  j["steps"] = {{"count", p.steps() ? p.steps()->size() : 0}, {"by_op", ops}};
  if (graph)
    j["steps"]["by_op_type"] = opTypes;
  if (withSteps)
    j["steps"]["list"] = steps;
  // CUDA: the targets compiled for, each image of the plan's module, and
  // the entry points of every step (cuda_functions).
  json targets = json::array();
  if (p.targets())
    for (const flatbuffers::String *t : *p.targets())
      targets.push_back(t ? t->str() : std::string());
  j["targets"] = targets;
  json kernels = json::array();
  if (p.kernels())
    for (const fb::Kernel *k : *p.kernels())
      kernels.push_back({{"name", k->name() ? k->name()->str() : ""},
                         {"arch", k->arch() ? k->arch()->str() : ""},
                         {"format", k->format() ? k->format()->str() : ""},
                         {"size", k->data() ? k->data()->size() : 0}});
  j["kernels"] = kernels;
  json stepFns = json::array();
  size_t stepIndex = 0;
  if (p.steps())
    for (const fb::Step *s : *p.steps()) {
      if (s->cuda_functions() && s->cuda_functions()->size()) {
        json fns = json::array();
        for (const flatbuffers::String *f : *s->cuda_functions())
          fns.push_back(f ? f->str() : std::string());
        const char *op = fb::EnumNameOpKind(s->op());
        stepFns.push_back({{"step", stepIndex},
                           {"op", op && *op ? op : "?"},
                           {"name", s->name() ? s->name()->str() : ""},
                           {"functions", fns}});
      }
      ++stepIndex;
    }
  if (!stepFns.empty())
    j["cuda_functions"] = stepFns;
  return j;
}

std::string human(uint64_t b) {
  char buf[32];
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    ++i;
  }
  std::snprintf(buf, sizeof buf, i ? "%.2f %s" : "%.0f %s", v, u[i]);
  return buf;
}

void printText(const json &j, const ingot::PlanFile &pf) {
  std::ostringstream o;
  const json &f = j["file"];
  o << "plan " << f["path"].get<std::string>() << " (" << human(f["size"]) << ")\n"
    << "  format " << f["format_version"] << ", schema " << f["schema_version"] << ", target "
    << f["target"].get<std::string>() << ", producer \"" << f["producer"].get<std::string>() << "\"\n";
  for (const json &s : f["sections"])
    o << "  section " << s["name"].get<std::string>() << ": offset " << s["offset"] << ", "
      << human(s["size"]) << " (" << s["size"] << " bytes), xxh3 " << s["xxh3"].get<std::string>() << "\n";
  if (j.contains("model")) {
    const json &m = j["model"];
    o << "model " << m["model_type"].get<std::string>() << " (" << m["architecture"].get<std::string>()
      << "): vocab " << m["vocab_size"] << ", hidden " << m["hidden_size"] << ", layers "
      << m["num_layers"] << ", max_position " << m["max_position"] << ", compute "
      << m["compute_dtype"].get<std::string>() << "\n  bos " << m["bos_token_id"] << ", eos "
      << m["eos_token_ids"].dump() << ", pad " << m["pad_token_id"] << "\n";
  }
  const bool graph = j.contains("kind") && j["kind"] == "graph";
  if (graph) {
    o << "kind graph (source \"" << j["source"].get<std::string>()
      << "\"; run with `ingot exec`)\n";
    auto ioLines = [&](const char *what, const json &list) {
      o << what << " " << list.size() << "\n";
      for (const json &t : list) {
        if (!t.contains("name")) {
          o << "  tensor " << t["tensor"] << ": " << t["error"].get<std::string>() << "\n";
          continue;
        }
        o << "  " << t["name"].get<std::string>() << " " << t["dtype"].get<std::string>() << "[";
        for (size_t i = 0; i < t["shape"].size(); ++i)
          o << (i ? "," : "")
            << (t["shape"][i].is_string() ? t["shape"][i].get<std::string>() : t["shape"][i].dump());
        o << "]";
        if (t["kind"] != "Activation" && t["kind"] != "Input")
          o << " (" << t["kind"].get<std::string>() << ")";
        o << "\n";
      }
    };
    ioLines("inputs", j["graph"]["inputs"]);
    ioLines("outputs", j["graph"]["outputs"]);
  } else {
    o << "tokenizer " << j["tokenizer"].get<std::string>() << "\n";
  }
  o << "tensors " << j["tensors"]["count"] << " " << j["tensors"]["by_kind"].dump() << "\n";
  const json &w = j["weights"];
  o << "weights " << w["count"] << " (" << w["parameters"] << " parameters, " << human(w["bytes"])
    << ", " << w["by_dtype"].dump() << "), " << w["mode"].get<std::string>();
  if (w["mode"] == "external") {
    o << " from " << w["weights_dir"].get<std::string>() << "\n";
    for (const json &fl : w["files"])
      o << "  file " << fl["name"].get<std::string>() << " (" << fl["size"] << " bytes)\n";
  } else {
    o << " (" << human(w["section_bytes"]) << " section)\n";
  }
  if (j.contains("memory"))
    o << "memory arena " << human(j["memory"]["arena_bytes"]) << " for max_tokens "
      << j["memory"]["max_tokens"] << ", max_seqs " << j["memory"]["max_seqs"] << "\n";
  if (j.contains("kv_cache")) {
    const json &k = j["kv_cache"];
    o << "kv cache block " << k["block_size"] << " tokens, " << k["layers"].size() << " layers, "
      << k["bytes_per_token"] << " bytes/token as " << k["dtype"].get<std::string>() << " ("
      << k["cpu_fp32_bytes_per_token"] << " on the CPU, fp32)\n";
  }
  o << "steps " << j["steps"]["count"] << " " << j["steps"]["by_op"].dump() << "\n";
  if (j["steps"].contains("by_op_type")) {
    // Most frequent op types first (then by name).
    std::vector<std::pair<int64_t, std::string>> hist;
    for (auto it = j["steps"]["by_op_type"].begin(); it != j["steps"]["by_op_type"].end(); ++it)
      hist.push_back({-it.value().get<int64_t>(), it.key()});
    std::sort(hist.begin(), hist.end());
    o << "op types " << hist.size() << "\n";
    for (const auto &h : hist)
      o << "  " << h.second << " " << -h.first << "\n";
  }
  if (!j["targets"].empty()) {
    o << "targets";
    for (const json &t : j["targets"])
      o << " " << t.get<std::string>();
    o << "\n";
  }
  if (!j["kernels"].empty()) {
    o << "kernels " << j["kernels"].size() << "\n";
    for (const json &k : j["kernels"]) {
      o << "  " << k["name"].get<std::string>() << " " << k["format"].get<std::string>();
      if (!k["arch"].get<std::string>().empty())
        o << " " << k["arch"].get<std::string>();
      o << " (" << human(k["size"]) << ")\n";
    }
  }
  if (j.contains("cuda_functions")) {
    std::set<std::string> distinct;
    for (const json &s : j["cuda_functions"])
      for (const json &f : s["functions"])
        distinct.insert(f.get<std::string>());
    o << "cuda functions " << distinct.size() << " distinct, by step\n";
    for (const json &s : j["cuda_functions"]) {
      o << "  " << s["step"] << " " << s["op"].get<std::string>();
      if (!s["name"].get<std::string>().empty())
        o << " \"" << s["name"].get<std::string>() << "\"";
      o << ":";
      for (const json &f : s["functions"])
        o << " " << f.get<std::string>();
      o << "\n";
    }
  }
  if (j["steps"].contains("list")) {
    size_t i = 0;
    for (const json &s : j["steps"]["list"]) {
      o << "  " << i++ << " " << s["op"].get<std::string>();
      if (!s["name"].get<std::string>().empty())
        o << " \"" << s["name"].get<std::string>() << "\"";
      o << " in=" << s["inputs"].dump() << " out=" << s["outputs"].dump();
      if (!s["attrs"].empty())
        o << " " << s["attrs"].dump();
      if (s.contains("program_length"))
        o << " program[" << s["program_length"] << "]";
      o << "\n";
    }
  }
  (void)pf;
  std::cout << o.str();
}

// --- main --------------------------------------------------------------

int fail(const std::string &msg, int code) {
  std::fflush(stdout);
  std::fprintf(stderr, "ingot: error: %s\n", msg.c_str());
  return code;
}

} // namespace

// "1,2,3", "1 2 3" or "[1, 2, 3]".
std::vector<int32_t> parseIds(const std::string &s) {
  std::vector<int32_t> ids;
  std::string cur;
  auto flush = [&] {
    if (cur.empty())
      return;
    char *end = nullptr;
    errno = 0;
    const long long v = std::strtoll(cur.c_str(), &end, 10);
    INGOT_CHECK(end && *end == '\0' && errno == 0 && v >= INT32_MIN && v <= INT32_MAX,
                "bad token id \"" + cur + "\" in --ids");
    ids.push_back(int32_t(v));
    cur.clear();
  };
  for (char c : s) {
    if (c == ',' || c == ' ' || c == '[' || c == ']' || c == '\n' || c == '\t')
      flush();
    else
      cur += c;
  }
  flush();
  INGOT_CHECK(!ids.empty(), "no token ids given");
  return ids;
}

int main(int argc, char **argv) {
  CLI::App app{"ingot: run ahead-of-time compiled Ingot plans"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for all subcommands");

  RunArgs ra;
  CLI::App *run = app.add_subcommand("run", "Generate text from a prompt (streamed to stdout)");
  addLoadOptions(run, ra.load, true);
  run->add_option("--prompt", ra.prompt, "Prompt text")->required();
  run->add_option("--max-tokens", ra.maxTokens, "New tokens at most")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  run->add_option("--temperature", ra.temperature, "Sampling temperature (0: greedy)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  run->add_option("--top-k", ra.topK, "Keep the K most likely tokens (0: off)")->check(CLI::NonNegativeNumber);
  run->add_option("--top-p", ra.topP, "Nucleus sampling mass (1: off)")->check(CLI::Range(0.0, 1.0));
  run->add_option("--seed", ra.seed, "Sampling seed");
  run->add_option("--prefill-chunk", ra.prefillChunk, "Prompt tokens per prefill step (0: as many as fit)")
      ->check(CLI::NonNegativeNumber);
  run->add_flag("--stats", ra.stats, "Print load time and prefill/decode speed to stderr");

  LoadArgs ia;
  bool inspectJson = false, inspectSteps = false, inspectKernels = false;
  CLI::App *inspect = app.add_subcommand("inspect", "Describe a plan file");
  addLoadOptions(inspect, ia, false);
  inspect->add_flag("--json", inspectJson, "Print JSON");
  inspect->add_flag("--steps", inspectSteps, "List every step");
  inspect->add_flag("--kernels", inspectKernels,
                    "Print the plan's generated CUDA C++ source (plans compiled for sm_* targets)");

  LoadArgs la;
  std::string lids, lmode = "prefill", lout;
  CLI::App *logits = app.add_subcommand("logits", "Write float32 logits [rows, vocab] to a .npy file");
  addLoadOptions(logits, la, true);
  logits->add_option("--ids", lids, "Token ids, e.g. 1,2,3")->required();
  logits->add_option("--mode", lmode, "prefill | stepwise | chunked:N")->capture_default_str();
  logits->add_option("--out", lout, "Output .npy file")->required();

  LoadArgs ga;
  std::string gids;
  int64_t gmax = 16;
  bool gignore = false;
  int64_t gchunk = 0;
  CLI::App *genIds = app.add_subcommand("generate-ids", "Greedy generation from token ids, as JSON");
  addLoadOptions(genIds, ga, true);
  genIds->add_option("--ids", gids, "Prompt token ids, e.g. 1,2,3")->required();
  genIds->add_option("--max-tokens", gmax, "New tokens at most")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  genIds->add_flag("--ignore-eos", gignore, "Do not stop at EOS");
  genIds->add_option("--prefill-chunk", gchunk, "Prompt tokens per prefill step")->check(CLI::NonNegativeNumber);

  LoadArgs ta;
  std::string ttext, tdecode;
  bool tnoSpecial = false, tskipSpecial = false;
  CLI::App *tokenize = app.add_subcommand("tokenize", "Encode text or decode ids with the plan's tokenizer");
  addLoadOptions(tokenize, ta, false);
  auto *textOpt = tokenize->add_option("--text", ttext, "Text to encode (prints a JSON array of ids)");
  auto *decOpt = tokenize->add_option("--decode", tdecode, "Ids to decode, e.g. 1,2,3");
  textOpt->excludes(decOpt);
  tokenize->add_flag("--no-special", tnoSpecial, "Encode without the post-processor's special tokens (e.g. BOS)");
  tokenize->add_flag("--skip-special", tskipSpecial, "Decode without special tokens");

  std::vector<SubcommandHook> hooks = registerServeCommands(app);
  for (auto &h : registerBenchCommands(app))
    hooks.push_back(std::move(h));
  for (auto &h : registerExecCommands(app))
    hooks.push_back(std::move(h));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0)
      return app.exit(e); // --help, --help-all
    return fail(std::string(e.what()) + "\nRun with --help for more information.", 2);
  }

  try {
    if (run->parsed())
      return cmdRun(ra);
    if (inspect->parsed()) {
      auto pf = openPlan(ia);
      if (inspectKernels) {
        const fb::Plan &p = pf->program();
        if (p.kernels())
          for (const fb::Kernel *k : *p.kernels())
            if (k->format() && k->format()->str() == "cuda-source" && k->data()) {
              std::cout.write(reinterpret_cast<const char *>(k->data()->data()),
                              std::streamsize(k->data()->size()));
              return 0;
            }
        return fail("plan " + pf->path() +
                        " has no CUDA source (compile it with ingotc --target sm_XX)",
                    1);
      }
      const json j = describe(*pf, inspectSteps);
      if (inspectJson)
        std::cout << j.dump(2) << "\n";
      else
        printText(j, *pf);
      return 0;
    }
    if (logits->parsed()) {
      const auto ids = parseIds(lids);
      auto pf = openPlan(la);
      auto ex = makeExecutor(*pf, la, "logits");
      int64_t rows = 0;
      const auto data = ingot::computeLogits(*ex, ids, lmode, rows);
      writeNpy(lout, data, rows, ex->vocabSize());
      return 0;
    }
    if (genIds->parsed()) {
      const auto ids = parseIds(gids);
      auto pf = openPlan(ga);
      auto ex = makeExecutor(*pf, ga, "generate-ids");
      ingot::GenerateOptions go;
      go.maxTokens = gmax;
      go.eosTokenIds = eosIds(*pf);
      go.ignoreEos = gignore;
      go.prefillChunk = gchunk;
      go.maxContext = maxPosition(*pf);
      const auto r = ingot::generate(*ex, ids, go);
      std::cout << jsonIds(r.tokens) << std::endl;
      return 0;
    }
    for (const auto &h : hooks)
      if (h.cmd->parsed())
        return h.run();
    if (tokenize->parsed()) {
      if (textOpt->count() == 0 && decOpt->count() == 0)
        return fail("tokenize needs --text or --decode", 2);
      auto pf = openPlan(ta);
      requireDecoderPlan(*pf, "tokenize");
      auto tok = planTokenizer(*pf);
      if (textOpt->count())
        std::cout << jsonIds(tok->encode(ttext, !tnoSpecial)) << std::endl;
      else
        std::cout << tok->decode(parseIds(tdecode), tskipSpecial) << std::endl;
      return 0;
    }
  } catch (const ingot::Error &e) {
    return fail(e.what(), 1);
  } catch (const std::exception &e) {
    return fail(std::string("internal error: ") + e.what(), 1);
  }
  return fail("no subcommand", 2);
}
