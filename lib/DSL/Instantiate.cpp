//===- Instantiate.cpp - the DSL's public entry points --------------------===//
//
// Reads the model file, config.json, generation_config.json and the
// checkpoint index, runs the Evaluator into a fresh module, then applies the
// front-end contract: unranked compute results, @forward returning
// tensor<*xf32>, the `ingot.model` summary attribute, and a verified module.
//
//===----------------------------------------------------------------------===//
#include "ingot/DSL/DSL.h"

#include "CheckpointBridge.h"
#include "Evaluator.h"
#include "Parser.h"

#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::ingot;
using namespace mlir::ingot::dsl;

namespace {
// Reads `path` as a JSON object. `optional`: a missing file gives an empty
// object. Errors name the file.
LogicalResult readJsonObject(MLIRContext &ctx, const std::string &path,
                             bool optional, llvm::json::Value &storage) {
  auto buf = llvm::MemoryBuffer::getFile(path);
  if (!buf) {
    if (optional && buf.getError() == std::errc::no_such_file_or_directory) {
      storage = llvm::json::Object();
      return success();
    }
    emitError(UnknownLoc::get(&ctx))
        << "cannot read " << path << ": " << buf.getError().message();
    return failure();
  }
  llvm::Expected<llvm::json::Value> v = llvm::json::parse((*buf)->getBuffer());
  if (!v) {
    emitError(FileLineColLoc::get(&ctx, path, 1, 1))
        << "invalid JSON: " << llvm::toString(v.takeError());
    return failure();
  }
  if (!v->getAsObject()) {
    emitError(FileLineColLoc::get(&ctx, path, 1, 1))
        << "expected a JSON object at the top level";
    return failure();
  }
  storage = std::move(*v);
  return success();
}

// bos/eos/pad from config.json, then generation_config.json.
void tokenIds(const llvm::json::Object &config, const llvm::json::Object &gen,
              ModelMeta &m) {
  auto intKey = [](const llvm::json::Object &o,
                   llvm::StringRef k) -> std::optional<int64_t> {
    if (const llvm::json::Value *v = o.get(k))
      return v->getAsInteger();
    return std::nullopt;
  };
  if (!m.bosTokenId)
    if (!(m.bosTokenId = intKey(config, "bos_token_id")))
      m.bosTokenId = intKey(gen, "bos_token_id");
  if (!m.padTokenId)
    if (!(m.padTokenId = intKey(config, "pad_token_id")))
      m.padTokenId = intKey(gen, "pad_token_id");
  if (m.eosTokenIds)
    return;
  // The union of both files, config first: instruct checkpoints often list
  // extra end-of-turn ids only in generation_config.json.
  std::vector<int64_t> ids;
  auto add = [&](const llvm::json::Object &o) {
    const llvm::json::Value *v = o.get("eos_token_id");
    if (!v)
      return;
    auto push = [&](const llvm::json::Value &x) {
      if (std::optional<int64_t> i = x.getAsInteger())
        if (!llvm::is_contained(ids, *i))
          ids.push_back(*i);
    };
    if (const llvm::json::Array *a = v->getAsArray())
      for (const llvm::json::Value &x : *a)
        push(x);
    else
      push(*v);
  };
  add(config);
  add(gen);
  m.eosTokenIds = ids;
}
} // namespace

FailureOr<OwningOpRef<ModuleOp>>
mlir::ingot::dsl::instantiateModel(MLIRContext &ctx, llvm::StringRef dslPath,
                                   llvm::StringRef checkpointDir,
                                   const InstantiateOptions &options) {
  ctx.loadDialect<IngotDialect, func::FuncDialect>();

  auto buf = llvm::MemoryBuffer::getFile(dslPath);
  if (!buf) {
    emitError(UnknownLoc::get(&ctx)) << "cannot read model file " << dslPath
                                     << ": " << buf.getError().message();
    return failure();
  }
  ModelFile file;
  ParseError perr;
  if (!parseModelFile((*buf)->getBuffer(), file, perr)) {
    emitError(FileLineColLoc::get(&ctx, dslPath, perr.loc.line, perr.loc.col))
        << perr.message;
    return failure();
  }

  llvm::SmallString<256> configPath(checkpointDir), genPath(checkpointDir);
  llvm::sys::path::append(configPath, "config.json");
  llvm::sys::path::append(genPath, "generation_config.json");
  llvm::json::Value configJson(nullptr), genJson(nullptr);
  if (failed(readJsonObject(ctx, configPath.str().str(), false, configJson)) ||
      failed(readJsonObject(ctx, genPath.str().str(), true, genJson)))
    return failure();
  const llvm::json::Object &config = *configJson.getAsObject();
  const llvm::json::Object &gen = *genJson.getAsObject();

  std::string ckptError;
  std::unique_ptr<::ingot::dslbridge::CheckpointIndex> ckpt =
      ::ingot::dslbridge::CheckpointIndex::open(checkpointDir.str(), ckptError);
  if (!ckpt) {
    emitError(UnknownLoc::get(&ctx)) << "cannot open checkpoint: " << ckptError;
    return failure();
  }

  Location headerLoc =
      FileLineColLoc::get(&ctx, dslPath, file.nameLoc.line, file.nameLoc.col);
  std::string modelType;
  if (std::optional<llvm::StringRef> t = config.getString("model_type"))
    modelType = t->str();
  if (!file.modelTypes.empty() && !modelType.empty() &&
      !llvm::is_contained(file.modelTypes, modelType))
    emitWarning(headerLoc) << "model '" << file.name << "' is written for "
                           << "model_type " << llvm::join(file.modelTypes, ", ")
                           << " but config.json has model_type '" << modelType
                           << "'";

  OwningOpRef<ModuleOp> module = ModuleOp::create(headerLoc);
  OpBuilder b(&ctx);
  b.setInsertionPointToEnd(module->getBody());
  Type f32 = b.getF32Type();
  auto ids = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
  auto fnType = b.getFunctionType({ids, ids, BatchType::get(&ctx)},
                                  {UnrankedTensorType::get(f32)});
  auto fn = func::FuncOp::create(b, headerLoc, "forward", fnType);
  fn.addEntryBlock();

  Evaluator ev(ctx, dslPath, config, gen, *ckpt, *module, fn);
  if (failed(ev.run(file)))
    return failure();
  unsigned lastLine = (*buf)->getBuffer().count('\n') + 1;
  if (!ev.returned()) {
    emitError(FileLineColLoc::get(&ctx, dslPath, lastLine, 1))
        << "the model never returns its output (end with `return "
           "logits(...)`)";
    return failure();
  }
  ModelMeta meta = ev.meta();
  if (!meta.given) {
    emitError(headerLoc) << "the model never calls meta(vocab_size = ..., "
                            "hidden_size = ..., num_layers = ..., "
                            "max_position = ...)";
    return failure();
  }

  mlir::Value out = *ev.returned();
  OpBuilder end(&ctx);
  end.setInsertionPointToEnd(&fn.getBody().front());
  func::ReturnOp::create(end, out.getLoc(), out);
  if (!options.keepRankedTypes) {
    fn.walk([](Operation *op) {
      if (!isa<ShapeInference>(op))
        return;
      for (OpResult r : op->getResults())
        if (auto t = dyn_cast<RankedTensorType>(r.getType()))
          r.setType(UnrankedTensorType::get(t.getElementType()));
    });
  }
  fn.setFunctionType(b.getFunctionType(fnType.getInputs(), {out.getType()}));

  tokenIds(config, gen, meta);
  SmallVector<NamedAttribute> info = {
      b.getNamedAttr(
          "model_type",
          b.getStringAttr(modelType.empty() ? file.name : modelType)),
      b.getNamedAttr("architecture", b.getStringAttr(file.name)),
      b.getNamedAttr("vocab_size", b.getI64IntegerAttr(*meta.vocabSize)),
      b.getNamedAttr("hidden_size", b.getI64IntegerAttr(*meta.hiddenSize)),
      b.getNamedAttr("num_layers", b.getI64IntegerAttr(*meta.numLayers)),
      b.getNamedAttr("max_position", b.getI64IntegerAttr(*meta.maxPosition)),
      b.getNamedAttr("bos_token_id",
                     b.getI64IntegerAttr(meta.bosTokenId.value_or(-1))),
      b.getNamedAttr("eos_token_ids",
                     b.getDenseI64ArrayAttr(*meta.eosTokenIds)),
      b.getNamedAttr("pad_token_id",
                     b.getI64IntegerAttr(meta.padTokenId.value_or(-1))),
  };
  (*module)->setAttr("ingot.model", b.getDictionaryAttr(info));

  if (failed(mlir::verify(*module)))
    return failure();
  return module;
}

std::string mlir::ingot::dsl::modelFileForType(llvm::StringRef modelsDir,
                                               llvm::StringRef modelType) {
  std::vector<std::string> files;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(modelsDir, ec), end;
       it != end && !ec; it.increment(ec))
    if (llvm::sys::path::extension(it->path()) == ".ingot")
      files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const std::string &f : files) {
    auto buf = llvm::MemoryBuffer::getFile(f);
    if (!buf)
      continue;
    ModelFile header;
    ParseError err;
    if (parseModelHeader((*buf)->getBuffer(), header, err) &&
        llvm::is_contained(header.modelTypes, modelType))
      return f;
  }
  llvm::SmallString<256> fallback(modelsDir);
  llvm::sys::path::append(fallback, modelType + ".ingot");
  if (llvm::sys::fs::exists(fallback))
    return fallback.str().str();
  return "";
}
