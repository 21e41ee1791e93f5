//===- ingot-dsl.cpp - instantiate a .ingot model for a checkpoint --------===//
//
//   ingot-dsl MODEL.ingot CHECKPOINT_DIR     print the instantiated module
//   ingot-dsl --models-dir=DIR CHECKPOINT_DIR
//                                            pick the model file by the
//                                            checkpoint's model_type
//   ingot-dsl --print-model-file --models-dir=DIR CHECKPOINT_DIR
//                                            only print which file that is
// A test and debugging driver for the DSL front end (ingotc embeds the same
// library). Errors print as file:line:col with the source line.
//
//===----------------------------------------------------------------------===//
#include "ingot/DSL/DSL.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

static cl::list<std::string>
    positional(cl::Positional, cl::desc("[MODEL.ingot] CHECKPOINT_DIR"),
               cl::OneOrMore);
static cl::opt<std::string>
    modelsDir("models-dir",
              cl::desc("Choose the model file in DIR by config.json's "
                       "model_type instead of naming it"),
              cl::value_desc("DIR"));
static cl::opt<bool> printModelFile(
    "print-model-file",
    cl::desc("With --models-dir: print the chosen file and exit"));
static cl::opt<bool>
    ranked("ranked", cl::desc("Keep the ranked result types found while "
                              "building (default: unranked, as ingotc gets)"));

static int fail(const llvm::Twine &msg) {
  llvm::errs() << "ingot-dsl: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::ParseCommandLineOptions(argc, argv, "Ingot model DSL driver\n");

  std::string modelPath, ckptDir;
  if (!modelsDir.empty()) {
    if (positional.size() != 1)
      return fail("with --models-dir give only CHECKPOINT_DIR");
    ckptDir = positional[0];
    llvm::SmallString<256> cfg(ckptDir);
    llvm::sys::path::append(cfg, "config.json");
    auto buf = llvm::MemoryBuffer::getFile(cfg);
    if (!buf)
      return fail("cannot read " + cfg + ": " + buf.getError().message());
    llvm::Expected<llvm::json::Value> json =
        llvm::json::parse((*buf)->getBuffer());
    if (!json)
      return fail(cfg + ": " + llvm::toString(json.takeError()));
    std::optional<llvm::StringRef> type;
    if (const llvm::json::Object *o = json->getAsObject())
      type = o->getString("model_type");
    if (!type)
      return fail(cfg + " has no string model_type");
    modelPath = mlir::ingot::dsl::modelFileForType(modelsDir, *type);
    if (modelPath.empty())
      return fail("no model file in " + modelsDir + " for model_type '" +
                  *type + "'");
    if (printModelFile) {
      llvm::outs() << modelPath << "\n";
      return 0;
    }
  } else {
    if (positional.size() != 2)
      return fail("usage: ingot-dsl MODEL.ingot CHECKPOINT_DIR");
    modelPath = positional[0];
    ckptDir = positional[1];
  }

  mlir::MLIRContext ctx;
  // The op printout adds nothing to a DSL error: the location says where.
  ctx.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);
  mlir::ingot::dsl::InstantiateOptions opts;
  opts.keepRankedTypes = ranked;
  auto module =
      mlir::ingot::dsl::instantiateModel(ctx, modelPath, ckptDir, opts);
  if (failed(module))
    return 1;
  (*module)->print(llvm::outs());
  llvm::outs() << "\n";
  return 0;
}
