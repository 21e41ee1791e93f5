// Hooks for `ingot` subcommands that live in their own files
// (tools/cmd_*.cpp). Each register function adds its subcommand(s) to the
// app and returns what main() runs when one of them was parsed; errors are
// thrown as ingot::Error and reported by main() like the other commands.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct SubcommandHook {
  CLI::App *cmd = nullptr;
  std::function<int()> run;
};

// serve, chat-template (tools/cmd_serve.cpp)
std::vector<SubcommandHook> registerServeCommands(CLI::App &app);
// bench (tools/cmd_bench.cpp)
std::vector<SubcommandHook> registerBenchCommands(CLI::App &app);
// exec: run a graph plan on safetensors in/out (tools/cmd_exec.cpp)
std::vector<SubcommandHook> registerExecCommands(CLI::App &app);

namespace ingot {
class PlanFile;
struct ExecutorOptions;
} // namespace ingot

// --device, --gpu-memory-fraction, --no-cuda-graphs (run, logits,
// generate-ids, serve, bench); ingot_main.cpp.
struct DeviceArgs {
  std::string device = "auto";
  double gpuMemoryFraction = 0.9;
  bool noCudaGraphs = false;
};
void addDeviceOptions(CLI::App *cmd, DeviceArgs &a);
// Copies the options into `eo`; throws ingot::Error for an unknown device.
void applyDeviceOptions(const DeviceArgs &a, ingot::ExecutorOptions &eo);
// Throws ingot::Error when `pf` is a graph plan, saying that `ingot <command>`
// runs decoder plans and to use `ingot exec` (tools/cmd_exec.cpp).
void requireDecoderPlan(const ingot::PlanFile &pf, const std::string &command);

// "1,2,3", "1 2 3" or "[1, 2, 3]" -> token ids; throws ingot::Error
// (ingot_main.cpp).
std::vector<int32_t> parseIds(const std::string &s);

// "512MiB", "4GiB", "1000000" -> bytes; throws ingot::Error (cmd_serve.cpp).
int64_t parseByteSize(const std::string &s);
