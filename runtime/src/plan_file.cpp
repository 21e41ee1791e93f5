// Plan file container: writing (atomically, via path.tmp + rename) and
// opening (mmap + validation). Layout, format version 1:
//   [u32 size prefix][FileHeader FlatBuffer, identifier "IGPL"]
//   [sections, each at a 64-byte aligned offset; "weights" at a
//    kWeightAlignment (4096) aligned offset so tensors can be used in place]
// Invariants checked on open, in this order, each with its own message:
// file size, magic, header size prefix bound, header FlatBuffer verification,
// format and schema versions, target, section bounds/alignment, checksums
// (XXH3-64), program FlatBuffer verification. Nothing in the mapping is
// dereferenced before the check that covers it.
#include "ingot/runtime/error.h"
#include "ingot/runtime/plan.h"
#include "ingot/schema/plan_file_generated.h"
#include "ingot/schema/plan_generated.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

namespace ingot {
namespace {

constexpr uint64_t kSectionAlignment = 64;
// The header is a handful of strings and section entries; anything larger is
// a corrupted (or hostile) size prefix, refused before it is used.
constexpr uint64_t kMaxHeaderBytes = 1u << 20;
// A FlatBuffer (and its verifier) is limited to < 2 GiB.
constexpr uint64_t kMaxProgramBytes = FLATBUFFERS_MAX_BUFFER_SIZE - 1;

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

// Printable rendering of a few magic bytes for error messages.
std::string showBytes(const uint8_t *p, size_t n) {
  std::string s = "\"";
  for (size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
      s += char(p[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", p[i]);
      s += buf;
    }
  }
  return s + "\"";
}

std::string sysError(const std::string &what, const std::string &path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

// Advises the kernel to read [p, p+n) ahead; the start is rounded down to a
// page because madvise requires page alignment. Purely a hint.
void adviseWillNeed(const uint8_t *base, const uint8_t *p, uint64_t n) {
  if (n == 0)
    return;
  static const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  uint64_t off = uint64_t(p - base);
  uint64_t start = off / page * page;
  ::madvise(const_cast<uint8_t *>(base + start), size_t(off + n - start),
            MADV_WILLNEED);
}

struct SectionEntry {
  std::string name;
  uint64_t offset, size, xxh3;
};

// Builds the header. ForceDefaults keeps every scalar field present so the
// header's size does not depend on the offset/checksum values: the writer
// sizes the layout with placeholder values, then rewrites the header in place.
flatbuffers::DetachedBuffer buildHeader(const PlanWriteRequest &req,
                                        const std::vector<SectionEntry> &secs) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  fbb.ForceDefaults(true);
  std::vector<flatbuffers::Offset<plan::Section>> offs;
  for (const SectionEntry &s : secs)
    offs.push_back(plan::CreateSectionDirect(fbb, s.name.c_str(), s.offset,
                                             s.size, s.xxh3));
  auto root = plan::CreateFileHeaderDirect(
      fbb, kPlanFormatVersion, kPlanSchemaVersion, req.target.c_str(),
      req.producer.c_str(), &offs);
  plan::FinishSizePrefixedFileHeaderBuffer(fbb, root);
  return fbb.Release();
}

void writeAll(int fd, const void *data, size_t n, const std::string &path) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      throw Error(sysError("cannot write plan file", path));
    }
    p += w;
    n -= size_t(w);
  }
}

void writeZeros(int fd, uint64_t n, const std::string &path) {
  static const uint8_t zeros[4096] = {};
  while (n > 0) {
    size_t k = size_t(std::min<uint64_t>(n, sizeof zeros));
    writeAll(fd, zeros, k, path);
    n -= k;
  }
}

} // namespace

// ---------------------------------------------------------------- writing --

void writePlanFile(const std::string &path, const PlanWriteRequest &req) {
  INGOT_CHECK(req.program && req.programSize > 0,
              "writePlanFile '" + path + "': the program buffer is empty");
  INGOT_CHECK(req.programSize <= kMaxProgramBytes,
              "writePlanFile '" + path + "': the program is " +
                  std::to_string(req.programSize) +
                  " bytes, over the 2 GiB FlatBuffer limit");
  {
    // Refuse to write a plan that open() would reject.
    flatbuffers::Verifier::Options vo;
    vo.max_tables = 1u << 28;
    flatbuffers::Verifier v(req.program, req.programSize, vo);
    INGOT_CHECK(plan::VerifyPlanBuffer(v),
                "writePlanFile '" + path +
                    "': the program is not a valid Plan FlatBuffer "
                    "(identifier \"IGPR\")");
  }
  INGOT_CHECK(req.weightsSize == 0 || req.writeWeights,
              "writePlanFile '" + path + "': weightsSize is " +
                  std::to_string(req.weightsSize) +
                  " but no writeWeights callback was given");

  // Layout, sized with placeholder offsets and checksums.
  std::vector<SectionEntry> secs;
  secs.push_back({"program", 0, req.programSize, 0});
  if (req.weightsSize > 0)
    secs.push_back({"weights", 0, req.weightsSize, 0});
  const uint64_t headerBytes = buildHeader(req, secs).size();
  secs[0].offset = alignUp(headerBytes, kSectionAlignment);
  secs[0].xxh3 = XXH3_64bits(req.program, req.programSize);
  uint64_t end = secs[0].offset + secs[0].size;
  if (req.weightsSize > 0) {
    secs[1].offset = alignUp(end, kWeightAlignment);
    end = secs[1].offset + secs[1].size;
  }

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(sysError("cannot create plan file", tmp));
  try {
    // Placeholder header (right size); rewritten once the checksums are known.
    writeZeros(fd, secs[0].offset, tmp);
    writeAll(fd, req.program, req.programSize, tmp);
    if (req.weightsSize > 0) {
      writeZeros(fd, secs[1].offset - (secs[0].offset + secs[0].size), tmp);
      XXH3_state_t *st = XXH3_createState();
      INGOT_CHECK(st, "writePlanFile: out of memory");
      std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t *)> guard(
          st, XXH3_freeState);
      XXH3_64bits_reset(st);
      uint64_t written = 0;
      req.writeWeights([&](const void *data, size_t n) {
        INGOT_CHECK(n <= req.weightsSize - written,
                    "writePlanFile '" + path +
                        "': writeWeights wrote more than the declared " +
                        std::to_string(req.weightsSize) + " bytes");
        writeAll(fd, data, n, tmp);
        XXH3_64bits_update(st, data, n);
        written += n;
      });
      INGOT_CHECK(written == req.weightsSize,
                  "writePlanFile '" + path + "': writeWeights wrote " +
                      std::to_string(written) + " bytes, expected " +
                      std::to_string(req.weightsSize));
      secs[1].xxh3 = XXH3_64bits_digest(st);
    }
    flatbuffers::DetachedBuffer hdr = buildHeader(req, secs);
    INGOT_CHECK(hdr.size() == headerBytes,
                "writePlanFile: header size changed between layout and write "
                "(internal error)");
    if (::pwrite(fd, hdr.data(), hdr.size(), 0) != ssize_t(hdr.size()))
      throw Error(sysError("cannot write plan header to", tmp));
    // The plan must be complete on disk before it replaces `path`.
    if (::fsync(fd) != 0)
      throw Error(sysError("cannot flush plan file", tmp));
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0)
      throw Error(sysError("cannot close plan file", tmp));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw Error(sysError("cannot rename '" + tmp + "' to", path));
  } catch (...) {
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
}

// ---------------------------------------------------------------- reading --

PlanFile::~PlanFile() {
  if (map_)
    ::munmap(map_, size_t(size_));
}

std::unique_ptr<PlanFile> PlanFile::open(const std::string &path,
                                         const PlanLoadOptions &opts) {
  std::unique_ptr<PlanFile> pf(new PlanFile());
  pf->path_ = path;
  const std::string where = "plan file '" + path + "'";

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error(sysError("cannot open plan file", path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(sysError("cannot stat plan file", path));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(where + " is not a regular file");
  }
  const uint64_t size = uint64_t(st.st_size);
  // Size prefix (4) + root offset (4) + identifier (4).
  if (size < 12) {
    ::close(fd);
    throw Error(where + " is truncated: " + std::to_string(size) +
                " bytes is too small to hold a plan header");
  }
  void *m = ::mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
  int savedErrno = errno;
  ::close(fd); // the mapping keeps the file alive
  if (m == MAP_FAILED) {
    errno = savedErrno;
    throw Error(sysError("cannot mmap plan file", path));
  }
  pf->map_ = m;
  pf->size_ = size;
  const uint8_t *base = static_cast<const uint8_t *>(m);

  // Magic first: a file that is not a plan should say so, not "truncated".
  if (std::memcmp(base + 8, plan::FileHeaderIdentifier(), 4) != 0) {
    std::string msg = where + " is not an Ingot plan: expected magic \"" +
                      std::string(plan::FileHeaderIdentifier(), 4) +
                      "\" at byte 8, found " + showBytes(base + 8, 4);
    if (std::memcmp(base + 4, plan::PlanIdentifier(), 4) == 0)
      msg += " (it looks like a bare program FlatBuffer without the plan "
             "container)";
    throw Error(msg);
  }
  uint32_t prefix;
  std::memcpy(&prefix, base, 4); // FlatBuffers are little-endian
  const uint64_t headerEnd = uint64_t(prefix) + 4;
  if (prefix < 8 || prefix > kMaxHeaderBytes)
    throw Error(where + " has a corrupted header: its size prefix says " +
                std::to_string(prefix) + " bytes (expected 8.." +
                std::to_string(kMaxHeaderBytes) + ")");
  if (headerEnd > size)
    throw Error(where + " is truncated: the header needs " +
                std::to_string(headerEnd) + " bytes but the file has " +
                std::to_string(size));
  {
    flatbuffers::Verifier v(base, size_t(headerEnd));
    if (!plan::VerifySizePrefixedFileHeaderBuffer(v))
      throw Error(where + " has a corrupted header (FlatBuffer verification "
                          "of the FileHeader failed)");
  }
  const plan::FileHeader *hdr = plan::GetSizePrefixedFileHeader(base);
  pf->header_ = hdr;

  const std::string recompile =
      "; recompile the model with an ingotc of the same release";
  if (hdr->format_version() != kPlanFormatVersion)
    throw Error(where + " has plan container format version " +
                std::to_string(hdr->format_version()) +
                " but this runtime reads version " +
                std::to_string(kPlanFormatVersion) + recompile);
  if (hdr->schema_version() != kPlanSchemaVersion)
    throw Error(where + " has plan schema version " +
                std::to_string(hdr->schema_version()) +
                " but this runtime supports schema version " +
                std::to_string(kPlanSchemaVersion) + recompile);
  pf->target_ = hdr->target() ? hdr->target()->str() : std::string();
  if (!opts.expectTarget.empty() && pf->target_ != opts.expectTarget)
    throw Error(where + " was compiled for target '" + pf->target_ +
                "' but this runtime runs target '" + opts.expectTarget +
                "'; recompile with --target " + opts.expectTarget);

  // Sections: bounds, alignment, uniqueness.
  const plan::Section *program = nullptr, *weights = nullptr;
  if (hdr->sections()) {
    std::vector<std::string> seen;
    for (const plan::Section *s : *hdr->sections()) {
      if (!s->name())
        throw Error(where + " has a corrupted header: a section has no name");
      const std::string name = s->name()->str();
      const std::string sw = where + ": section '" + name + "'";
      for (const std::string &n : seen)
        if (n == name)
          throw Error(sw + " appears twice in the header");
      seen.push_back(name);
      const uint64_t off = s->offset(), n = s->size();
      if (off > size || n > size - off)
        throw Error(where + " is truncated: section '" + name +
                    "' spans bytes [" + std::to_string(off) + ", " +
                    (n > UINT64_MAX - off ? std::string("overflow")
                                          : std::to_string(off + n)) +
                    ") but the file has only " + std::to_string(size) +
                    " bytes");
      if (off < headerEnd)
        throw Error(sw + " at offset " + std::to_string(off) +
                    " overlaps the header (which ends at " +
                    std::to_string(headerEnd) + "); the file is corrupted");
      const uint64_t align =
          name == "weights" ? uint64_t(kWeightAlignment) : kSectionAlignment;
      if (off % align != 0)
        throw Error(sw + " at offset " + std::to_string(off) + " is not " +
                    std::to_string(align) + "-byte aligned");
      if (name == "program")
        program = s;
      else if (name == "weights")
        weights = s;
      // Unknown sections are tolerated (bounds-checked, otherwise ignored).
    }
  }
  if (!program)
    throw Error(where + " has no 'program' section");

  auto checkSum = [&](const plan::Section *s) {
    const uint64_t got = XXH3_64bits(base + s->offset(), size_t(s->size()));
    if (got != s->xxh3())
      throw Error(where + " is corrupted: checksum mismatch in section '" +
                  s->name()->str() + "' (header says " + hex64(s->xxh3()) +
                  ", data hashes to " + hex64(got) + ")");
  };

  // The program is read in full right away (checksum, verification, then
  // the executor walks it), so ask for it up front.
  adviseWillNeed(base, base + program->offset(), program->size());
  if (weights) {
    // Embedded weights are touched by the first step anyway (and right now
    // when checksummed): start readahead while the program is verified.
    adviseWillNeed(base, base + weights->offset(), weights->size());
  }
  checkSum(program);
  if (weights && opts.verifyWeights)
    checkSum(weights);

  const uint8_t *prog = base + program->offset();
  const uint64_t progSize = program->size();
  if (progSize < 8 || std::memcmp(prog + 4, plan::PlanIdentifier(), 4) != 0)
    throw Error(where +
                ": section 'program' is not a Plan FlatBuffer "
                "(expected identifier \"" +
                std::string(plan::PlanIdentifier(), 4) + "\")");
  if (progSize > kMaxProgramBytes)
    throw Error(where + ": section 'program' is " + std::to_string(progSize) +
                " bytes, over the 2 GiB FlatBuffer limit");
  {
    flatbuffers::Verifier::Options vo;
    vo.max_tables = 1u << 28; // big models have many steps/tensors/attrs
    flatbuffers::Verifier v(prog, size_t(progSize), vo);
    if (!plan::VerifyPlanBuffer(v))
      throw Error(where + ": section 'program' failed FlatBuffer verification "
                          "(corrupted or written by an incompatible ingotc)");
  }
  pf->program_ = plan::GetPlan(prog);
  if (weights) {
    pf->weights_ = base + weights->offset();
    pf->weightsSize_ = weights->size();
  }
  return pf;
}

bool cpuRunsTarget(const std::string &target) {
  if (target.empty())
    return false;
  size_t start = 0;
  while (start <= target.size()) {
    size_t end = target.find(',', start);
    if (end == std::string::npos)
      end = target.size();
    const std::string t = target.substr(start, end - start);
    if (t != "cpu" && (t.size() <= 3 || t.compare(0, 3, "sm_") != 0))
      return false;
    start = end + 1;
  }
  return true;
}

} // namespace ingot
