// `ingot exec`: runs a graph plan (PlanKind.Graph, docs/onnx.md) once on
// tensors from a safetensors file and writes its outputs to another.
//
//   ingot exec PLAN --inputs in.safetensors --outputs out.safetensors
//              [--threads N] [--weights DIR] [--repeat N] [--stats]
//
// Input tensors are matched to the graph's inputs by name; a missing, extra
// or mis-typed tensor is an error that lists what the graph expects (names,
// dtypes, shapes with their dim names). Shapes are checked by the executor
// (naming the input and dim). Outputs are written under the graph's output
// names. --repeat runs the graph N times (outputs of the last run are
// written); --stats prints load and run times to stderr.
// Also here: requireDecoderPlan, which the decoder-only commands call so a
// graph plan gets a message pointing at `ingot exec`.
#include "commands.h"

#include "ingot/runtime/error.h"
#include "ingot/runtime/graph.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/safetensors.h"
#include "ingot/schema/plan_generated.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

namespace {

struct ExecArgs {
  std::string plan, inputs, outputs, weightsDir;
  int threads = 0;
  int64_t repeat = 1;
  bool stats = false, noVerifyWeights = false;
};

std::string describeIO(const ingot::GraphIO &g) {
  std::string s = g.name + " " + ingot::dtypeName(g.dtype) + "[";
  for (size_t i = 0; i < g.shape.size(); ++i) {
    if (i)
      s += ",";
    if (g.shape[i] >= 0)
      s += std::to_string(g.shape[i]);
    else
      s += i < g.dimParams.size() && !g.dimParams[i].empty() ? g.dimParams[i] : "?";
  }
  return s + "]";
}

// The input tensors in the graph's order, read from `path` (or none when the
// path is empty). Throws listing every mismatch and the expected inputs.
std::vector<ingot::HostTensor> readInputs(const std::string &path,
                                          const std::vector<ingot::GraphIO> &want) {
  std::unique_ptr<ingot::SafetensorsFile> f;
  if (!path.empty())
    f = ingot::SafetensorsFile::open(path);
  std::vector<std::string> problems;
  std::set<std::string> names;
  std::vector<ingot::HostTensor> out;
  for (const ingot::GraphIO &g : want) {
    names.insert(g.name);
    const ingot::TensorView *v = f ? f->find(g.name) : nullptr;
    if (!v) {
      problems.push_back("missing '" + g.name + "'");
      continue;
    }
    if (v->dtype != g.dtype) {
      problems.push_back("'" + g.name + "' is " + ingot::dtypeName(v->dtype) + ", expected " +
                         ingot::dtypeName(g.dtype));
      continue;
    }
    ingot::HostTensor h;
    h.dtype = v->dtype;
    h.shape = v->shape;
    h.bytes.assign(v->data, v->data + v->nbytes);
    out.push_back(std::move(h));
  }
  if (f)
    for (const auto &kv : f->tensors())
      if (!names.count(kv.first))
        problems.push_back("unexpected '" + kv.first + "'");
  if (!problems.empty()) {
    std::string msg = (path.empty() ? std::string("no --inputs given") : path) +
                      " does not match the graph's inputs: ";
    for (size_t i = 0; i < problems.size(); ++i)
      msg += (i ? "; " : "") + problems[i];
    msg += "\nthe graph takes " + std::to_string(want.size()) + " input" +
           (want.size() == 1 ? "" : "s") + (want.empty() ? "" : ":");
    for (const ingot::GraphIO &g : want)
      msg += "\n  " + describeIO(g);
    throw ingot::Error(msg);
  }
  return out;
}

int runExec(const ExecArgs &a) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  ingot::PlanLoadOptions lo;
  lo.verifyWeights = !a.noVerifyWeights;
  auto pf = ingot::PlanFile::open(a.plan, lo);
  INGOT_CHECK(ingot::cpuRunsTarget(pf->target()),
              "plan " + a.plan + " targets \"" + pf->target() +
                  "\"; this ingot runs plans for cpu and CUDA (sm_*) targets");
  INGOT_CHECK(pf->program().kind() == ingot::plan::PlanKind::Graph,
              "plan " + a.plan + " is a decoder plan; `ingot exec` runs graph plans (use "
                                 "`ingot run`, `ingot serve` or `ingot logits`)");
  ingot::GraphRunOptions go;
  go.numThreads = a.threads;
  go.weightsDir = a.weightsDir;
  auto ex = ingot::GraphExecutor::create(*pf, go);
  const double loadSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::vector<ingot::HostTensor> inputs = readInputs(a.inputs, ex->inputs());

  std::vector<double> runs;
  std::vector<ingot::HostTensor> outputs;
  for (int64_t r = 0; r < a.repeat; ++r) {
    const auto s = Clock::now();
    outputs = ex->run(inputs);
    runs.push_back(std::chrono::duration<double>(Clock::now() - s).count());
  }

  if (!a.outputs.empty()) {
    std::vector<ingot::TensorView> views;
    std::set<std::string> written;
    const auto &io = ex->outputs();
    for (size_t k = 0; k < io.size(); ++k) {
      if (!written.insert(io[k].name).second)
        continue; // the same tensor listed twice as a graph output
      ingot::TensorView v;
      v.name = io[k].name;
      v.dtype = outputs[k].dtype;
      v.shape = outputs[k].shape;
      v.data = outputs[k].bytes.data();
      v.nbytes = outputs[k].bytes.size();
      views.push_back(v);
    }
    ingot::writeSafetensors(a.outputs, views);
  }

  if (a.stats) {
    std::vector<double> sorted = runs;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (double x : runs)
      sum += x;
    std::fprintf(stderr, "load: %.3f s\n", loadSeconds);
    std::fprintf(stderr, "run:  %zu run%s, min %.3f ms, median %.3f ms, mean %.3f ms, max %.3f ms\n",
                 runs.size(), runs.size() == 1 ? "" : "s", sorted.front() * 1e3,
                 sorted[sorted.size() / 2] * 1e3, sum / double(runs.size()) * 1e3,
                 sorted.back() * 1e3);
  }
  return 0;
}

} // namespace

void requireDecoderPlan(const ingot::PlanFile &pf, const std::string &command) {
  INGOT_CHECK(pf.program().kind() != ingot::plan::PlanKind::Graph,
              "plan " + pf.path() + " is a graph plan (compiled from " +
                  (pf.program().source() && pf.program().source()->size()
                       ? pf.program().source()->str()
                       : std::string("a graph")) +
                  "; no KV cache or tokenizer): `ingot " + command +
                  "` runs decoder plans; run it with `ingot exec " + pf.path() +
                  " --inputs IN.safetensors --outputs OUT.safetensors`");
}

std::vector<SubcommandHook> registerExecCommands(CLI::App &app) {
  auto a = std::make_shared<ExecArgs>();
  CLI::App *cmd = app.add_subcommand(
      "exec", "Run a graph plan once: safetensors inputs -> safetensors outputs");
  cmd->add_option("plan", a->plan, "Graph plan file produced by ingotc")->required();
  cmd->add_option("--inputs", a->inputs,
                  "safetensors file with one tensor per graph input, named as the input");
  cmd->add_option("--outputs", a->outputs,
                  "safetensors file to write the graph outputs to (by output name)");
  cmd->add_option("--threads", a->threads, "Worker threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--weights", a->weightsDir,
                  "Checkpoint directory for weights-external plans (overrides the recorded one)");
  cmd->add_flag("--no-verify-weights", a->noVerifyWeights,
                "Skip the checksum of the embedded weights section (faster load)");
  cmd->add_option("--repeat", a->repeat, "Run the graph N times (the last run's outputs are written)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--stats", a->stats, "Print load time and run times to stderr");
  return {{cmd, [a] { return runExec(*a); }}};
}
