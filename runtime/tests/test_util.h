// Helpers shared by the runtime's gtests: a scratch directory removed at
// scope exit, and running the `ingot` binary (INGOT_CLI_PATH) with its exit
// code, stdout and stderr captured through files in that directory.
#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace testutil {

namespace fs = std::filesystem;

struct TmpDir {
  fs::path path;
  TmpDir() {
    static int counter = 0; // per test binary: one process, sequential tests
    path = fs::temp_directory_path() /
           ("ingot-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TmpDir() { fs::remove_all(path); }
};

struct Cmd {
  int code = -1;
  std::string out, err;
};

inline std::string shellQuote(const std::string &s) {
  std::string r = "'";
  for (char c : s)
    r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

// Runs `binary args...` with no stdin; `scratch` holds the captured output.
inline Cmd runTool(const std::string &binary, const std::vector<std::string> &args,
                   const fs::path &scratch) {
  std::string cmd = shellQuote(binary);
  for (const auto &a : args)
    cmd += " " + shellQuote(a);
  const fs::path out = scratch / "stdout", err = scratch / "stderr";
  cmd += " >" + shellQuote(out.string()) + " 2>" + shellQuote(err.string()) + " </dev/null";
  const int st = std::system(cmd.c_str());
  Cmd r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  auto slurp = [](const fs::path &p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

} // namespace testutil
