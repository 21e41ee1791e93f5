//===- Parser.h - parses a .ingot model file --------------------*- C++ -*-===//
//
// Recursive descent over the tokens of Lexer.h; stops at the first error
// with its position and what was expected. No MLIR dependency: the caller
// turns a ParseError into a diagnostic.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LIB_DSL_PARSER_H
#define INGOT_LIB_DSL_PARSER_H

#include "AST.h"

namespace mlir::ingot::dsl {

struct ParseError {
  SrcLoc loc;
  std::string message;
};

// Parses a whole model file (header and body).
bool parseModelFile(llvm::StringRef source, ModelFile &out, ParseError &err);

// Parses only the `model NAME for "type", ...` header (used to map a
// checkpoint's model_type to a file without parsing every file fully).
bool parseModelHeader(llvm::StringRef source, ModelFile &out, ParseError &err);

} // namespace mlir::ingot::dsl

#endif
