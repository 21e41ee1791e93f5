//===- ingotc.cpp - the Ingot compiler driver ----------------------------===//
//
//   ingotc CHECKPOINT_DIR [-o model.plan]       (DSL picked by model_type)
//   ingotc CHECKPOINT_DIR --model-def my.ingot  (a DSL file of your own)
//   ingotc lowered.mlir --checkpoint DIR        (ingot IR as input)
//   ingotc model.onnx [--tokenizer DIR]         (an ONNX export)
//   ingotc model.onnx --stop-after=import|fold|raise   (print the IR there)
//   ingotc graph.mlir                           (an imported ONNX module:
//                                                ingot.source = "onnx")
//   ingotc CHECKPOINT_DIR --target cpu,sm_80,sm_90a [--dtype bf16]
//                                               (plus the plan's CUDA kernels,
//                                                compiled with NVRTC)
//
// Runs the one compile pipeline (lib/Pipeline) and writes a plan. MLIR's
// IR-printing flags (--mlir-print-ir-after-all, ...) apply to that pipeline.
//
//===----------------------------------------------------------------------===//
#include "ingot/DSL/DSL.h"
#include "ingot/InitAll.h"
#include "ingot/OnnxRaise/OnnxRaise.h"
#include "ingot/ONNX/Import.h"
#include "ingot/Pipeline/Pipeline.h"
#include "ingot/Target/Plan/PlanEmitter.h"
#include "ingot/runtime/safetensors.h"
#ifdef INGOT_HAVE_NVRTC
#include "CudaModule.h"
#include "Nvrtc.h"
#endif

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory cat("ingotc options");
static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<checkpoint dir | model.mlir | model.onnx>"),
                                      cl::cat(cat));
static cl::opt<std::string> outputPath("o", cl::desc("Output plan file"),
                                       cl::value_desc("file"), cl::cat(cat));
static cl::opt<std::string> modelDef(
    "model-def", cl::desc("DSL model definition (default: by config.json's model_type)"),
    cl::value_desc("file.ingot"), cl::cat(cat));
static cl::opt<std::string> modelsDir("models-dir",
                                      cl::desc("Directory of DSL model definitions"),
                                      cl::cat(cat));
static cl::opt<std::string> checkpointDir(
    "checkpoint", cl::desc("Checkpoint directory (for .mlir input)"), cl::cat(cat));
enum class WeightsMode { Embed, External };
static cl::opt<WeightsMode> weightsMode(
    "weights", cl::desc("Where the plan's weights live"),
    cl::values(clEnumValN(WeightsMode::Embed, "embed", "inside the plan (default)"),
               clEnumValN(WeightsMode::External, "external",
                          "in the checkpoint's safetensors, bound at load")),
    cl::init(WeightsMode::Embed), cl::cat(cat));
static cl::opt<std::string> target(
    "target",
    cl::desc("Comma-separated targets: cpu and/or CUDA archs (sm_80, sm_90, "
             "sm_90a, ...); every sm_* arch gets a cubin, plus one PTX"),
    cl::value_desc("list"), cl::init("cpu"), cl::cat(cat));
static cl::opt<std::string> dtypeOpt(
    "dtype",
    cl::desc("Compute dtype of activations, KV cache and weights: f32, bf16 or "
             "f16 (default: f32 for cpu only, bf16 when an sm_* target is given)"),
    cl::value_desc("f32|bf16|f16"), cl::cat(cat));
static cl::opt<bool> verbose("verbose",
                             cl::desc("Print the CUDA kernel compile times"),
                             cl::cat(cat));
static cl::opt<bool> noKernelCache(
    "no-kernel-cache", cl::desc("Compile the CUDA kernels without the NVRTC cache"),
    cl::cat(cat));
// Tests only: kernel headers from this directory replace the embedded ones
// of the same name (stand-in kernel families).
static cl::opt<std::string> cudaKernelHeaders("cuda-kernel-headers", cl::Hidden,
                                              cl::cat(cat));
static cl::opt<int64_t> maxTokens("max-tokens",
                                  cl::desc("Worst-case tokens per step"),
                                  cl::init(512), cl::cat(cat));
static cl::opt<int64_t> maxSeqs("max-seqs",
                                cl::desc("Worst-case sequences per step"),
                                cl::init(64), cl::cat(cat));
static cl::opt<int64_t> blockSize("block-size",
                                  cl::desc("KV cache block size in tokens"),
                                  cl::init(16), cl::cat(cat));
static cl::opt<bool> noFuse("no-fuse", cl::desc("Disable fusion"), cl::cat(cat));
static cl::opt<bool> noRaise(
    "no-raise",
    cl::desc("ONNX: do not raise a decoder export to the paged ops (compile it "
             "as a graph plan; the pattern sets still run)"),
    cl::cat(cat));
static cl::opt<std::string> tokenizerDir(
    "tokenizer",
    cl::desc("ONNX decoders: directory with tokenizer.json (and config.json, "
             "tokenizer_config.json) for the plan; default: the model's "
             "directory when it has one"),
    cl::value_desc("dir"), cl::cat(cat));
enum class Emit { Import, Mlir, Cuda, Plan };
static cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"),
    cl::values(clEnumValN(Emit::Import, "import",
                          "print the IR right after the front end"),
               clEnumValN(Emit::Mlir, "mlir", "print the IR after the pipeline"),
               clEnumValN(Emit::Cuda, "cuda",
                          "print the plan's generated CUDA C++ module"),
               clEnumValN(Emit::Plan, "plan", "write the plan (default)")),
    cl::init(Emit::Plan), cl::cat(cat));
enum class StopAfter { None, Import, Fold, Raise };
static cl::opt<int64_t> onnxInlineLimit(
    "onnx-inline-limit",
    cl::desc("ONNX: float initializers with at most this many elements become "
             "inline constants, larger ones weights"),
    cl::init(1024), cl::cat(cat));
static cl::opt<bool> memoryReport("memory-report",
                                  cl::desc("Print the memory report"),
                                  cl::cat(cat));
static cl::opt<std::string> memorySize(
    "memory-size",
    cl::desc("With --memory-report: how many KV tokens fit in this much "
             "memory (e.g. 8GiB, 512MiB)"),
    cl::cat(cat));

static bool parseBytes(llvm::StringRef s, uint64_t &out) {
  s = s.trim();
  uint64_t mult = 1;
  for (auto [suf, m] : {std::pair<const char *, uint64_t>{"GiB", 1ull << 30},
                        {"MiB", 1ull << 20},
                        {"KiB", 1ull << 10},
                        {"GB", 1000000000ull},
                        {"MB", 1000000ull},
                        {"G", 1ull << 30},
                        {"M", 1ull << 20}})
    if (s.consume_back(suf)) {
      mult = m;
      break;
    }
  double v;
  if (s.trim().getAsDouble(v) || v <= 0)
    return false;
  out = uint64_t(v * double(mult));
  return true;
}

static std::string defaultModelsDir(const char *argv0) {
  // Installed layout first (bin/../share/ingot/models), then the source tree.
  std::string exe = llvm::sys::fs::getMainExecutable(argv0, (void *)&defaultModelsDir);
  llvm::SmallString<256> p(llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(p, "share", "ingot", "models");
  if (llvm::sys::fs::is_directory(p))
    return std::string(p);
  return INGOT_SOURCE_MODELS_DIR;
}

static int fail(const llvm::Twine &msg) {
  llvm::errs() << "ingotc: error: " << msg << "\n";
  return 1;
}

// Prints the module to -o or stdout (--stop-after, --emit=import).
static int printModule(ModuleOp module) {
  std::string err;
  auto out = mlir::openOutputFile(outputPath.empty() ? "-" : outputPath.getValue(), &err);
  if (!out)
    return fail(err);
  module.print(out->os());
  out->os() << "\n";
  out->keep();
  return 0;
}

// Copies bos/eos/pad token ids and max_position_embeddings from a
// config.json into the raised decoder's ingot.model summary (an ONNX graph
// does not carry them).
static LogicalResult applyDecoderConfig(ModuleOp module, const std::string &dir) {
  auto model = module->getAttrOfType<DictionaryAttr>("ingot.model");
  if (!model)
    return success();
  auto cfg = llvm::MemoryBuffer::getFile(dir + "/config.json");
  if (!cfg)
    return success(); // tokenizer only: ids stay unknown
  auto json = llvm::json::parse((*cfg)->getBuffer());
  if (!json || !json->getAsObject()) {
    llvm::errs() << "ingotc: error: " << dir << "/config.json is not a JSON object\n";
    return failure();
  }
  const llvm::json::Object &o = *json->getAsObject();
  Builder b(module.getContext());
  NamedAttrList attrs(model);
  if (auto v = o.getInteger("bos_token_id"))
    attrs.set("bos_token_id", b.getI64IntegerAttr(*v));
  if (auto v = o.getInteger("pad_token_id"))
    attrs.set("pad_token_id", b.getI64IntegerAttr(*v));
  if (auto v = o.getInteger("max_position_embeddings"))
    attrs.set("max_position", b.getI64IntegerAttr(*v));
  else if (auto v = o.getInteger("n_positions"))
    attrs.set("max_position", b.getI64IntegerAttr(*v));
  SmallVector<int64_t> eos;
  if (auto v = o.getInteger("eos_token_id"))
    eos.push_back(*v);
  else if (const llvm::json::Array *arr = o.getArray("eos_token_id"))
    for (const llvm::json::Value &e : *arr)
      if (auto i = e.getAsInteger())
        eos.push_back(*i);
  attrs.set("eos_token_ids", b.getDenseI64ArrayAttr(eos));
  if (auto v = o.getString("model_type"))
    attrs.set("model_type", b.getStringAttr(*v));
  module->setAttr("ingot.model", attrs.getDictionary(module.getContext()));
  return success();
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  // Passes must be registered before the pass-manager options are created,
  // so that --mlir-print-ir-after=<pass> can name them.
  mlir::ingot::registerAllPasses();
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  // --stop-after: libLLVM already registers a codegen option of that name,
  // which ingotc never uses; replace it (an option created at static
  // initialization would collide with it).
  auto &registered = cl::getRegisteredOptions();
  if (auto it = registered.find("stop-after"); it != registered.end())
    it->second->removeArgument();
  static cl::opt<StopAfter> stopAfter(
      "stop-after",
      cl::desc("Print the IR after this front-end stage (to -o or stdout) and "
               "stop"),
      cl::values(clEnumValN(StopAfter::Import, "import",
                            "after the front end (ONNX import, DSL "
                            "instantiation or parsing)"),
                 clEnumValN(StopAfter::Fold, "fold", "ONNX: after ingot-onnx-fold"),
                 clEnumValN(StopAfter::Raise, "raise", "ONNX: after ingot-onnx-raise")),
      cl::init(StopAfter::None), cl::cat(cat));
  cl::HideUnrelatedOptions({&cat, &cl::getGeneralCategory()});
  cl::ParseCommandLineOptions(argc, argv, "Ingot ahead-of-time compiler\n");

  DialectRegistry registry;
  mlir::ingot::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  // Errors point at DSL lines; dumping the failing op adds noise for users.
  ctx.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diag(sourceMgr, &ctx);

  // --target: "cpu" and CUDA archs, each once.
  std::vector<std::string> targets, archs;
  {
    llvm::SmallVector<llvm::StringRef> parts;
    llvm::StringRef(target).split(parts, ',');
    for (llvm::StringRef p : parts) {
      std::string t = p.trim().str();
      if (t.empty())
        return fail("--target '" + target + "' has an empty entry");
      if (std::find(targets.begin(), targets.end(), t) != targets.end())
        return fail("--target lists '" + t + "' twice");
      targets.push_back(t);
      if (t == "cpu")
        continue;
      if (!llvm::StringRef(t).starts_with("sm_"))
        return fail("--target entry '" + t +
                    "' is neither 'cpu' nor a CUDA arch (sm_80, sm_90a, ...)");
#ifdef INGOT_HAVE_NVRTC
      std::string err;
      if (!::ingot::cuda::checkArch(t, err))
        return fail("--target entry '" + t + "': " + err);
#else
      return fail("--target entry '" + t +
                  "': this ingotc was built without NVRTC (INGOT_ENABLE_NVRTC=OFF), "
                  "so it cannot compile CUDA kernels; use --target cpu");
#endif
      archs.push_back(t);
    }
  }
  std::string computeDtype = dtypeOpt;
  if (computeDtype.empty())
    computeDtype = archs.empty() ? "f32" : "bf16";
  if (computeDtype != "f32" && computeDtype != "bf16" && computeDtype != "f16")
    return fail("--dtype '" + computeDtype + "' is not f32, bf16 or f16");
#ifndef INGOT_HAVE_NVRTC
  if (emit == Emit::Cuda)
    return fail("--emit=cuda needs an ingotc built with NVRTC (INGOT_ENABLE_NVRTC=ON)");
#endif
  uint64_t memBytes = 0;
  if (!memorySize.empty() && !parseBytes(memorySize, memBytes))
    return fail("--memory-size '" + memorySize +
                "' is not a size (examples: 8GiB, 512MiB)");

  auto t0 = std::chrono::steady_clock::now();
  OwningOpRef<ModuleOp> module;
  std::string ckptDir = checkpointDir;
  bool onnx = !llvm::sys::fs::is_directory(inputPath) &&
              mlir::ingot::isOnnxPath(inputPath);
  if ((stopAfter == StopAfter::Fold || stopAfter == StopAfter::Raise) && !onnx)
    return fail("--stop-after=fold and --stop-after=raise apply to ONNX "
                "inputs (.onnx, .onnx.txt, .textproto, .pbtxt) only");
  if (onnxInlineLimit < 0)
    return fail("--onnx-inline-limit must be >= 0");
  // The in-memory checkpoint holding the ONNX model's large initializers.
  std::unique_ptr<::ingot::Checkpoint> onnxWeights;
  if (onnx) {
    mlir::ingot::OnnxImportOptions iopts;
    iopts.inlineLimit = onnxInlineLimit;
    mlir::ingot::OnnxImportResult imported;
    std::string err;
    if (!mlir::ingot::importOnnx(ctx, inputPath, iopts, imported, err))
      return fail(err);
    for (const std::string &w : imported.warnings)
      llvm::errs() << "ingotc: warning: " << w << "\n";
    module = std::move(imported.module);
    onnxWeights = std::move(imported.weights);
    if (stopAfter == StopAfter::Import || emit == Emit::Import)
      return printModule(*module);
    if (weightsMode != WeightsMode::Embed)
      return fail("--weights=external is not available for ONNX inputs: the "
                  "plan embeds the model's initializers");
    // Tokenizer and config for a decoder plan: --tokenizer, or the model's
    // own directory (optimum exports keep tokenizer.json next to it).
    ckptDir = tokenizerDir;
    if (ckptDir.empty()) {
      llvm::SmallString<256> dir(inputPath);
      llvm::sys::path::remove_filename(dir);
      if (dir.empty())
        dir = ".";
      if (llvm::sys::fs::exists(dir + "/tokenizer.json"))
        ckptDir = std::string(dir);
    } else if (!llvm::sys::fs::exists(ckptDir + "/tokenizer.json")) {
      return fail("--tokenizer '" + ckptDir + "' has no tokenizer.json");
    }
  } else if (llvm::sys::fs::is_directory(inputPath)) {
    ckptDir = inputPath;
    std::string def = modelDef;
    if (def.empty()) {
      auto cfg = llvm::MemoryBuffer::getFile(ckptDir + "/config.json");
      if (!cfg)
        return fail("'" + ckptDir + "' has no config.json: " +
                    cfg.getError().message());
      auto json = llvm::json::parse((*cfg)->getBuffer());
      if (!json)
        return fail(ckptDir + "/config.json is not valid JSON: " +
                    llvm::toString(json.takeError()));
      auto *obj = json->getAsObject();
      auto type = obj ? obj->getString("model_type") : std::nullopt;
      if (!type)
        return fail(ckptDir + "/config.json has no \"model_type\"; name a "
                              "model definition with --model-def");
      std::string dir = modelsDir.empty() ? defaultModelsDir(argv[0]) : modelsDir;
      def = mlir::ingot::dsl::modelFileForType(dir, *type);
      if (def.empty())
        return fail("no model definition in '" + dir + "' handles model_type '" +
                    *type + "'; write one (docs/dsl.md) and pass --model-def");
    }
    auto m = mlir::ingot::dsl::instantiateModel(ctx, def, ckptDir);
    if (failed(m))
      return 1; // diagnostics already printed with file:line:col
    module = std::move(*m);
  } else {
    auto buf = llvm::MemoryBuffer::getFile(inputPath);
    if (!buf)
      return fail("cannot read '" + inputPath + "': " + buf.getError().message());
    sourceMgr.AddNewSourceBuffer(std::move(*buf), llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sourceMgr, &ctx);
    if (!module)
      return 1;
  }

  if (emit == Emit::Import || stopAfter == StopAfter::Import)
    return printModule(*module);

  PassManager pm(&ctx);
  if (failed(applyPassManagerCLOptions(pm)))
    return 1;
  mlir::ingot::PipelineOptions popts;
  popts.maxTokens = maxTokens;
  popts.maxSeqs = maxSeqs;
  popts.fuse = !noFuse;
  if (maxTokens <= 0 || maxSeqs <= 0 || maxSeqs > maxTokens)
    return fail("need 0 < --max-seqs <= --max-tokens");
  if (blockSize <= 0 || blockSize > 1024)
    return fail("--block-size must be in [1, 1024]");
  // An imported ONNX module goes through the ONNX front end; what comes out
  // is a decoder (func @forward: the compile pipeline) or a graph (func
  // @main: a graph plan). See docs/onnx.md.
  auto source = (*module)->getAttrOfType<StringAttr>("ingot.source");
  if (source && source.getValue() == "onnx") {
    mlir::ingot::buildOnnxFrontendPipeline(pm);
    if (failed(pm.run(*module)))
      return 1;
    if (stopAfter == StopAfter::Fold)
      return printModule(*module);
    pm.clear();
    mlir::ingot::OnnxRaiseOptions ropts;
    ropts.weights = onnxWeights.get();
    ropts.patternsOnly = noRaise;
    pm.addPass(mlir::ingot::createOnnxRaisePass(ropts));
    if (failed(pm.run(*module)))
      return 1;
    if (stopAfter == StopAfter::Raise)
      return printModule(*module);
    pm.clear();
    if (!module->lookupSymbol("main")) {
      // A decoder: it needs a tokenizer, and takes bos/eos/max_position
      // from config.json next to it.
      if (ckptDir.empty())
        return fail("the ONNX model was raised to a decoder plan, which carries "
                    "its tokenizer: pass --tokenizer DIR (a directory with "
                    "tokenizer.json and config.json), or --no-raise for a graph plan");
      if (failed(applyDecoderConfig(*module, ckptDir)))
        return 1;
    }
    if (module->lookupSymbol("main"))
      mlir::ingot::buildGraphPipeline(pm);
    else
      mlir::ingot::buildCompilePipeline(pm, popts);
  } else {
    mlir::ingot::buildCompilePipeline(pm, popts);
  }
  if (failed(pm.run(*module)))
    return 1;

  if (emit == Emit::Mlir) {
    module->print(llvm::outs());
    llvm::outs() << "\n";
    return 0;
  }

  std::string out = outputPath;
  if (out.empty()) {
    llvm::StringRef base = llvm::sys::path::filename(
        llvm::sys::path::remove_leading_dotslash(inputPath));
    if (base.empty() || base == ".")
      base = "model";
    out = (llvm::sys::path::stem(base) + ".plan").str();
  }
  mlir::ingot::PlanEmitOptions eopts;
  eopts.outputPath = out;
  eopts.checkpointDir = ckptDir;
  eopts.target = target;
  eopts.targets = targets;
  eopts.computeDtype = computeDtype;
#ifdef INGOT_HAVE_NVRTC
  // GPU targets: the plan's CUDA module, compiled before anything is written
  // (an NVRTC error leaves no plan behind).
  ::ingot::cuda::CudaPlanModule cudaModule;
  if (!archs.empty() || emit == Emit::Cuda) {
    std::string err;
    if (!::ingot::cuda::buildCudaModule(*module, computeDtype, cudaModule, err))
      return fail(err);
    if (emit == Emit::Cuda) {
      llvm::outs() << cudaModule.source;
      return 0;
    }
    ::ingot::cuda::CudaCompileOptions copts;
    copts.archs = archs;
    copts.useCache = !noKernelCache;
    copts.extraHeadersDir = cudaKernelHeaders;
    std::vector<::ingot::cuda::CompiledKernel> images;
    ::ingot::cuda::CudaCompileReport crep;
    if (!::ingot::cuda::compileCudaModule(cudaModule, copts, images, crep, err))
      return fail(err);
    for (auto &k : images)
      eopts.kernels.push_back({"ingot", k.arch, k.format, std::move(k.data)});
    eopts.kernels.push_back({"ingot", "", "cuda-source",
                             std::vector<uint8_t>(cudaModule.source.begin(),
                                                  cudaModule.source.end())});
    eopts.stepFunctions = &cudaModule.stepFunctions;
    llvm::errs() << "ingotc: CUDA kernels: " << crep.images << " images ("
                 << crep.cacheHits << " from the cache) in "
                 << llvm::format("%.2f", crep.millis / 1000.0) << " s\n";
    if (verbose)
      for (const auto &k : images)
        llvm::errs() << "  " << k.arch << " " << k.format << ": "
                     << (k.fromCache ? "cache hit" : "compiled") << ", "
                     << llvm::format("%.1f", k.millis) << " ms\n";
  }
#endif
  eopts.producer = "ingotc 0.1.0";
  eopts.embedWeights = weightsMode == WeightsMode::Embed;
  eopts.blockSize = blockSize;
  eopts.checkpoint = onnxWeights.get();
  mlir::ingot::PlanMemoryReport report;
  std::string err;
  if (!mlir::ingot::emitPlan(*module, eopts, report, err))
    return fail(err);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  llvm::errs() << "ingotc: wrote " << out << " (" << report.numSteps << " steps, "
               << (eopts.embedWeights ? "embedded" : "external")
               << " weights) in " << llvm::format("%.2f", secs) << " s\n";
  if (memoryReport)
    llvm::outs() << mlir::ingot::formatMemoryReport(report, memBytes);
  return 0;
}
