// ingot_tokenize: a small CLI over ingot::Tokenizer for the live comparison
// against Hugging Face `tokenizers` (test/tokenizer/compare_live.py).
//
//   ingot_tokenize TOKENIZER_JSON [--no-special]
//
// Reads JSON lines on stdin and writes one JSON line per input line:
//   "text"                                -> [ids]   (encode; BOS etc. unless
//                                                      --no-special)
//   {"encode": "text", "add_special": b}  -> [ids]
//   {"decode": [ids], "skip_special": b}  -> "text"
//   {"stream": [ids], "skip_special": b}  -> "text"  (StreamDecoder pushes
//                                                      + flush, concatenated)
// A failing line prints {"error": "..."} and processing continues.
#include "ingot/runtime/error.h"
#include "ingot/runtime/tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <iostream>
#include <string>

using nlohmann::json;

static std::string dumpLine(const json &j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int main(int argc, char **argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::cerr << "usage: ingot_tokenize TOKENIZER_JSON [--no-special] < lines.jsonl\n";
    return 2;
  }
  bool addSpecialDefault = true;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-special") == 0) {
      addSpecialDefault = false;
    } else {
      std::cerr << "ingot_tokenize: unknown option " << argv[i] << "\n";
      return 2;
    }
  }
  std::unique_ptr<ingot::Tokenizer> tok;
  try {
    tok = ingot::Tokenizer::fromFile(argv[1]);
  } catch (const std::exception &e) {
    std::cerr << "ingot_tokenize: " << e.what() << "\n";
    return 1;
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty())
      continue;
    json out;
    try {
      json in = json::parse(line);
      if (in.is_string()) {
        out = tok->encode(in.get<std::string>(), addSpecialDefault);
      } else if (in.is_object() && in.contains("encode")) {
        out = tok->encode(in["encode"].get<std::string>(),
                          in.value("add_special", addSpecialDefault));
      } else if (in.is_object() && in.contains("decode")) {
        out = tok->decode(in["decode"].get<std::vector<int32_t>>(),
                          in.value("skip_special", false));
      } else if (in.is_object() && in.contains("stream")) {
        ingot::StreamDecoder sd(*tok, in.value("skip_special", false));
        std::string text;
        for (int32_t id : in["stream"].get<std::vector<int32_t>>())
          text += sd.push(id);
        text += sd.flush();
        out = text;
      } else {
        out = json{{"error", "unrecognised request"}};
      }
    } catch (const std::exception &e) {
      out = json{{"error", e.what()}};
    }
    std::cout << dumpLine(out) << "\n";
  }
  std::cout.flush();
  return 0;
}
