// Reading and writing plan files (see runtime/schema/*.fbs and
// docs/plan-format.md). A PlanFile is mmapped; the program and, when embedded,
// the weights are used in place.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ingot {
namespace plan {
struct Plan;
struct FileHeader;
} // namespace plan

constexpr uint32_t kPlanFormatVersion = 1;   // container layout
constexpr uint32_t kPlanSchemaVersion = 2;   // plan.fbs (2: Node steps, graph plans, more dtypes)
constexpr int64_t kDimTokens = -1;           // T: tokens in the step
constexpr int64_t kDimSeqs = -2;             // S: sequences in the step
constexpr int64_t kDimDynamic = -3;          // graph plans: known when the step runs
constexpr size_t kWeightAlignment = 4096;

// A plan's header target is ingotc's --target list as given ("cpu",
// "cpu,sm_90a", "sm_80,sm_90"). The CPU executor runs every decoder plan
// whose entries are all "cpu" or CUDA archs ("sm_*"): plans compiled for
// GPUs hold the same steps (docs/dev/cuda-abi.md, "Runtime behaviour").
bool cpuRunsTarget(const std::string &target);

struct PlanLoadOptions {
  bool verifyWeights = true;         // checksum the weights section too
  std::string expectTarget;          // refuse another target when non-empty
};

class PlanFile {
public:
  // Maps and validates `path`: identifier, versions, section bounds and
  // checksums, FlatBuffer verification. Throws ingot::Error naming the problem.
  static std::unique_ptr<PlanFile> open(const std::string &path,
                                        const PlanLoadOptions &opts = {});
  ~PlanFile();

  const plan::Plan &program() const { return *program_; }
  const plan::FileHeader &header() const { return *header_; }
  const std::string &path() const { return path_; }
  const std::string &target() const { return target_; }
  // The embedded weights section, or nullptr/0 when the plan is external.
  const uint8_t *weightsData() const { return weights_; }
  uint64_t weightsSize() const { return weightsSize_; }
  uint64_t fileSize() const { return size_; }

private:
  PlanFile() = default;
  std::string path_, target_;
  void *map_ = nullptr;
  uint64_t size_ = 0;
  const plan::FileHeader *header_ = nullptr;
  const plan::Plan *program_ = nullptr;
  const uint8_t *weights_ = nullptr;
  uint64_t weightsSize_ = 0;
};

// Writes a plan file: the program FlatBuffer and an optional weights blob whose
// internal offsets the caller already chose (each aligned to kWeightAlignment).
// `writeWeights` streams the weights section into the file so large models
// need not sit in memory twice; it must write exactly `weightsSize` bytes.
struct PlanWriteRequest {
  std::string target = "cpu";
  std::string producer;
  const uint8_t *program = nullptr;
  size_t programSize = 0;
  uint64_t weightsSize = 0;
  // Called with a sink; the sink takes (data, size) chunks in order.
  std::function<void(const std::function<void(const void *, size_t)> &)>
      writeWeights;
};
void writePlanFile(const std::string &path, const PlanWriteRequest &req);

} // namespace ingot
