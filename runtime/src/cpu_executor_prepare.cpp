// Load-time validation of plan steps for the CPU executor: tensor ids, arity,
// dtypes and static shapes per OpKind (docs/plan-format.md, "Step
// semantics"), and parsing of the step attributes by name. Every error names
// the step (index, kind, debug name) and the attribute or tensor at fault.
// Symbolic dims (-1 = T, -2 = S) are compared symbolically here; the
// batch-dependent checks happen per step in cpu_executor.cpp.
#include "cpu_executor_impl.h"
#include "ingot/runtime/error.h"

#include <cmath>
#include <cstring>
#include <sstream>

namespace ingot {
namespace cpuexec {

std::string stepLabel(const fb::Step &s, size_t index) {
  std::string l = "step " + std::to_string(index) + " (";
  const char *kind = fb::EnumNameOpKind(s.op());
  l += (kind && *kind) ? kind : ("op " + std::to_string(int(s.op()))).c_str();
  if (s.name() && s.name()->size())
    l += " \"" + s.name()->str() + "\"";
  return l + ")";
}

namespace {

std::string shapeStr(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      os << ",";
    if (shape[i] == -1)
      os << "T";
    else if (shape[i] == -2)
      os << "S";
    else
      os << shape[i];
  }
  os << "]";
  return os.str();
}

struct StepChecker {
  const fb::Step &step;
  const std::string &label;
  const std::vector<TensorSlot> &tensors;

  [[noreturn]] void fail(const std::string &msg) const {
    throw Error(label + ": " + msg);
  }
  void check(bool cond, const std::string &msg) const {
    if (!cond)
      fail(msg);
  }

  const fb::Attr *find(const char *name) const {
    if (!step.attrs())
      return nullptr;
    for (const fb::Attr *a : *step.attrs())
      if (a && a->name() && std::strcmp(a->name()->c_str(), name) == 0)
        return a;
    return nullptr;
  }
  const fb::Attr &attr(const char *name) const {
    const fb::Attr *a = find(name);
    if (!a)
      fail(std::string("missing attribute '") + name + "'");
    return *a;
  }
  // A writer may store an integral value in `i` or `f`; FlatBuffers drops
  // default (zero) fields, so the non-zero one is the value.
  int64_t attrInt(const char *name) const {
    const fb::Attr &a = attr(name);
    if (a.i() == 0 && a.f() != 0.0) {
      check(std::floor(a.f()) == a.f(),
            std::string("attribute '") + name + "' must be an integer");
      return int64_t(a.f());
    }
    return a.i();
  }
  int64_t attrInt(const char *name, int64_t dflt) const {
    return find(name) ? attrInt(name) : dflt;
  }
  double attrFloat(const char *name) const {
    const fb::Attr &a = attr(name);
    return a.f() != 0.0 ? a.f() : double(a.i());
  }
  std::vector<double> attrFloats(const char *name) const {
    const fb::Attr &a = attr(name);
    std::vector<double> v;
    if (a.floats())
      v.assign(a.floats()->begin(), a.floats()->end());
    return v;
  }
  std::string attrStr(const char *name) const {
    const fb::Attr &a = attr(name);
    return a.s() ? a.s()->str() : std::string();
  }

  void arity(size_t minIn, size_t maxIn, size_t nOut) const {
    const size_t nIn = step.inputs() ? step.inputs()->size() : 0;
    const size_t no = step.outputs() ? step.outputs()->size() : 0;
    if (nIn < minIn || nIn > maxIn)
      fail("expects " +
           (minIn == maxIn ? std::to_string(minIn)
                           : std::to_string(minIn) + ".." + std::to_string(maxIn)) +
           " inputs, has " + std::to_string(nIn));
    if (no != nOut)
      fail("expects " + std::to_string(nOut) + " outputs, has " + std::to_string(no));
  }

  std::string what(int id) const {
    return "tensor " + std::to_string(id) + " \"" + tensors[size_t(id)].name +
           "\" " + shapeStr(tensors[size_t(id)].shape);
  }
  const TensorSlot &t(int id) const { return tensors[size_t(id)]; }
  void rank(int id, size_t r) const {
    check(t(id).shape.size() == r,
          what(id) + " must have rank " + std::to_string(r));
  }
  void isFloat(int id) const {
    check(t(id).kind != fb::TensorKind::Input && t(id).dtype != DType::I32 &&
              t(id).dtype != DType::I64 && t(id).dtype != DType::U8,
          what(id) + " must be a floating-point tensor");
  }
  void isIds(int id) const {
    check(t(id).kind == fb::TensorKind::Input && t(id).dtype == DType::I32 &&
              t(id).shape.size() == 1,
          what(id) + " must be an int32 [T] input (token ids or positions)");
  }
  void isActivation(int id) const {
    check(t(id).kind == fb::TensorKind::Activation,
          what(id) + " is an output and must be an activation");
  }
  void sameShape(int a, int b) const {
    check(t(a).shape == t(b).shape, what(a) + " and " + what(b) + " must have the same shape");
  }
  // Everything but the last dim equal (same rows).
  void sameRows(int a, int b) const {
    const auto &sa = t(a).shape, &sb = t(b).shape;
    check(!sa.empty() && !sb.empty() && sa.size() == sb.size() &&
              std::equal(sa.begin(), sa.end() - 1, sb.begin()),
          what(a) + " and " + what(b) + " must have the same rows");
  }
  void lastIs(int id, int64_t n, const std::string &why) const {
    check(!t(id).shape.empty() && t(id).shape.back() == n,
          what(id) + ": last dim must be " + std::to_string(n) + " (" + why + ")");
  }
};

void prepareNorm(StepChecker &c, PreparedStep &p, bool add, bool layer) {
  const size_t nIn = (add ? 2 : 1) + (layer ? 2 : 1);
  c.arity(nIn, nIn, add ? 2 : 1);
  const int x = p.in[0];
  const int gamma = p.in[add ? 2 : 1];
  c.isFloat(x);
  c.rank(gamma, 1);
  c.isFloat(gamma);
  // RmsNorm's optional group_size normalises each consecutive group of that
  // many elements (Qwen3's per-head q/k norm); gamma then has group_size.
  p.groupSize = (!add && !layer) ? c.attrInt("group_size", 0) : 0;
  if (p.groupSize > 0) {
    c.check(c.t(gamma).shape[0] == p.groupSize,
            "gamma size must equal attribute 'group_size'");
    c.check(lastDim(c.t(x)) > 0 && lastDim(c.t(x)) % p.groupSize == 0,
            "last dim must be a multiple of attribute 'group_size'");
  } else {
    c.check(p.groupSize == 0, "attribute 'group_size' must be >= 0");
    c.lastIs(x, c.t(gamma).shape[0], "gamma size");
  }
  if (layer) {
    const int beta = p.in[add ? 3 : 2];
    c.rank(beta, 1);
    c.isFloat(beta);
    c.sameShape(gamma, beta);
  }
  if (add) {
    c.isFloat(p.in[1]);
    c.sameShape(x, p.in[1]);
    c.sameShape(x, p.out[1]);
  }
  c.sameShape(x, p.out[0]);
  p.eps = float(c.attrFloat("epsilon"));
  c.check(p.eps >= 0.0f, "attribute 'epsilon' must be >= 0");
}

// The Rope step's attributes and the fp32 inverse frequencies the CPU rope
// uses ("table": the stored values, else cpu::ropeInvFreq).
void parseRopeAttrs(const StepChecker &c, cpu::RopeParams &r, std::vector<float> &invFreq) {
  const int64_t hd = c.attrInt("head_dim");
  const int64_t rd = c.attrInt("rotary_dim");
  c.check(hd > 0 && hd <= 65536, "attribute 'head_dim' must be positive");
  c.check(rd > 0 && rd <= hd && rd % 2 == 0,
          "attribute 'rotary_dim' must be even and in (0, head_dim]");
  r.headDim = int(hd);
  r.rotaryDim = int(rd);
  r.theta = c.attrFloat("theta");
  c.check(r.theta > 0.0, "attribute 'theta' must be positive");
  const std::string style = c.attrStr("style");
  if (style == "half")
    r.interleaved = false;
  else if (style == "interleaved")
    r.interleaved = true;
  else
    c.fail("attribute 'style' is \"" + style + "\", expected \"half\" or \"interleaved\"");
  const std::string scaling = c.attrStr("scaling");
  if (scaling == "none" || scaling.empty()) {
    r.scaling = cpu::RopeParams::Scaling::None;
  } else if (scaling == "linear" || scaling == "llama3") {
    r.scaling = scaling == "linear" ? cpu::RopeParams::Scaling::Linear
                                    : cpu::RopeParams::Scaling::Llama3;
    r.factor = c.attrFloat("factor");
    c.check(r.factor > 0.0, "attribute 'factor' must be positive");
    if (r.scaling == cpu::RopeParams::Scaling::Llama3) {
      r.lowFreqFactor = c.attrFloat("low_freq_factor");
      r.highFreqFactor = c.attrFloat("high_freq_factor");
      r.originalMaxPosition = c.attrInt("original_max_position");
      c.check(r.lowFreqFactor > 0.0 && r.highFreqFactor > r.lowFreqFactor,
              "llama3 rope needs 0 < low_freq_factor < high_freq_factor");
      c.check(r.originalMaxPosition > 0, "attribute 'original_max_position' must be positive");
    }
  } else if (scaling == "table") {
    // The frequencies as the model computes them (imported graphs).
    std::vector<double> inv = c.attrFloats("inv_freq");
    c.check(int64_t(inv.size()) * 2 == rd,
            "attribute 'inv_freq' needs rotary_dim/2 = " + std::to_string(rd / 2) +
                " values, has " + std::to_string(inv.size()));
    r.scaling = cpu::RopeParams::Scaling::None;
    invFreq.assign(inv.begin(), inv.end());
    return;
  } else {
    c.fail("attribute 'scaling' is \"" + scaling + "\", expected none, linear, llama3 or table");
  }
  invFreq = cpu::ropeInvFreq(r);
}

void prepareRope(StepChecker &c, PreparedStep &p) {
  c.arity(2, 2, 1);
  c.isFloat(p.in[0]);
  c.isIds(p.in[1]);
  c.rank(p.in[0], 2);
  c.sameShape(p.in[0], p.out[0]);
  c.check(c.t(p.in[0]).shape[0] == c.t(p.in[1]).shape[0],
          c.what(p.in[0]) + " and positions " + c.what(p.in[1]) + " must have the same rows");
  parseRopeAttrs(c, p.rope, p.invFreq);
  const int64_t hd = p.rope.headDim;
  c.check(c.t(p.in[0]).shape[1] % hd == 0,
          c.what(p.in[0]) + ": width is not a multiple of head_dim " + std::to_string(hd));
}

void prepareAttention(StepChecker &c, PreparedStep &p,
                      const std::vector<KvLayerShape> &kv) {
  c.arity(3, 3, 1);
  for (int i = 0; i < 3; ++i) {
    c.isFloat(p.in[size_t(i)]);
    c.rank(p.in[size_t(i)], 2);
  }
  cpu::AttentionParams &a = p.attn;
  const int64_t layer = c.attrInt("layer");
  const int64_t nh = c.attrInt("num_heads");
  const int64_t nkv = c.attrInt("num_kv_heads");
  const int64_t d = c.attrInt("head_dim");
  a.scale = float(c.attrFloat("scale"));
  a.slidingWindow = c.attrInt("sliding_window", 0);
  c.check(layer >= 0 && layer < int64_t(kv.size()),
          "attribute 'layer' = " + std::to_string(layer) + " but the plan's kv_cache has " +
              std::to_string(kv.size()) + " layers");
  c.check(nh > 0 && nkv > 0 && d > 0 && nh % nkv == 0,
          "num_heads must be a positive multiple of num_kv_heads, head_dim positive");
  c.check(kv[size_t(layer)].numKvHeads == nkv && kv[size_t(layer)].headDim == d,
          "num_kv_heads/head_dim do not match kv_cache layer " + std::to_string(layer));
  c.check(a.slidingWindow >= 0, "attribute 'sliding_window' must be >= 0");
  a.layer = int(layer);
  a.numHeads = int(nh);
  a.numKvHeads = int(nkv);
  a.headDim = int(d);
  c.lastIs(p.in[0], nh * d, "num_heads * head_dim");
  c.lastIs(p.in[1], nkv * d, "num_kv_heads * head_dim");
  c.lastIs(p.in[2], nkv * d, "num_kv_heads * head_dim");
  c.sameRows(p.in[0], p.in[1]);
  c.sameRows(p.in[0], p.in[2]);
  c.sameShape(p.in[0], p.out[0]);
}

void prepareElementwise(StepChecker &c, PreparedStep &p, const fb::Step &s) {
  const size_t nIn = p.in.size(), nOut = p.out.size();
  c.check(nOut >= 1, "expects at least one output");
  p.numRegs = s.num_registers();
  c.check(p.numRegs >= int(nIn) && p.numRegs <= 256,
          "num_registers " + std::to_string(p.numRegs) + " must be in [inputs, 256]");
  const TensorSlot &o0 = c.t(p.out[0]);
  c.check(!o0.shape.empty(), c.what(p.out[0]) + " must have rank >= 1");
  for (size_t i = 1; i < nOut; ++i)
    c.sameShape(p.out[0], p.out[i]);
  for (size_t i = 0; i < nIn; ++i) {
    const int id = p.in[i];
    c.isFloat(id);
    const TensorSlot &t = c.t(id);
    bool scalar = true;
    for (int64_t d : t.shape)
      scalar = scalar && d == 1;
    if (t.shape == o0.shape)
      p.ewKinds.push_back(cpu::EwInput::Kind::Full);
    else if (t.shape.size() == 1 && t.shape[0] == o0.shape.back())
      p.ewKinds.push_back(cpu::EwInput::Kind::Row);
    else if (scalar)
      p.ewKinds.push_back(cpu::EwInput::Kind::Scalar);
    else
      c.fail("input " + c.what(id) + " neither matches output " + c.what(p.out[0]) +
             " nor broadcasts over its rows");
  }
  // Registers defined so far: reading an unwritten register is a plan bug
  // that would otherwise read stale data silently.
  std::vector<bool> defined(size_t(p.numRegs), false);
  for (size_t i = 0; i < nIn; ++i)
    defined[i] = true;
  c.check(s.program() && s.program()->size() > 0, "has an empty program");
  size_t k = 0;
  for (const fb::EwInstr *in : *s.program()) {
    const std::string at = "program instruction " + std::to_string(k++);
    const uint8_t op = uint8_t(in->op());
    c.check(cpu::ewIsKnown(op), at + ": unknown opcode " + std::to_string(op));
    cpu::EwInstr e{cpu::EwOp(op), in->a(), in->b(), in->dst(), in->imm()};
    c.check(e.dst < p.numRegs, at + ": dst register out of range");
    if (e.op != cpu::EwOp::Const) {
      c.check(e.a < p.numRegs && defined[e.a], at + ": reads undefined register a");
      if (cpu::ewIsBinary(e.op))
        c.check(e.b < p.numRegs && defined[e.b], at + ": reads undefined register b");
    }
    defined[e.dst] = true;
    p.prog.push_back(e);
  }
  c.check(s.program_outputs() && s.program_outputs()->size() == nOut,
          "program_outputs must list one register per output");
  for (uint8_t r : *s.program_outputs()) {
    c.check(r < p.numRegs && defined[r], "program output register " +
                                             std::to_string(r) + " is never written");
    p.progOut.push_back(r);
  }
}

void prepareMoE(StepChecker &c, PreparedStep &p) {
  c.arity(5, 5, 1);
  const int x = p.in[0], router = p.in[1], gate = p.in[2], up = p.in[3], down = p.in[4];
  for (int id : p.in)
    c.isFloat(id);
  c.rank(x, 2);
  c.rank(router, 2);
  c.rank(gate, 3);
  c.rank(up, 3);
  c.rank(down, 3);
  const int64_t H = c.t(x).shape[1];
  const int64_t E = c.t(router).shape[0];
  const int64_t I = c.t(gate).shape[1];
  c.check(c.t(router).shape == std::vector<int64_t>{E, H}, c.what(router) + " must be [E,H]");
  c.check(c.t(gate).shape == std::vector<int64_t>{E, I, H}, c.what(gate) + " must be [E,I,H]");
  c.check(c.t(up).shape == std::vector<int64_t>{E, I, H}, c.what(up) + " must be [E,I,H]");
  c.check(c.t(down).shape == std::vector<int64_t>{E, H, I}, c.what(down) + " must be [E,H,I]");
  c.sameShape(x, p.out[0]);
  const int64_t k = c.attrInt("top_k");
  c.check(k >= 1 && k <= E, "attribute 'top_k' must be in [1, num_experts]");
  p.topK = int(k);
  p.normalize = c.attrInt("normalize_topk") != 0;
}

} // namespace

RopeStepAttrs ropeStepAttrs(const fb::Step &step, const std::string &label) {
  INGOT_CHECK(step.op() == fb::OpKind::Rope, label + ": not a Rope step");
  static const std::vector<TensorSlot> kNoTensors;
  const StepChecker c{step, label, kNoTensors};
  RopeStepAttrs a;
  parseRopeAttrs(c, a.params, a.invFreq);
  return a;
}

PreparedStep prepareStep(const fb::Plan &plan, size_t index,
                         const std::vector<TensorSlot> &tensors,
                         const std::vector<KvLayerShape> &kvLayers) {
  const fb::Step *s = plan.steps()->Get(flatbuffers::uoffset_t(index));
  PreparedStep p;
  p.index = index;
  p.op = s->op();
  p.label = stepLabel(*s, index);
  StepChecker c{*s, p.label, tensors};
  auto ids = [&](const flatbuffers::Vector<int32_t> *v, std::vector<int> &dst,
                 const char *which) {
    if (!v)
      return;
    for (int32_t id : *v) {
      c.check(id >= 0 && size_t(id) < tensors.size(),
              std::string(which) + " tensor id " + std::to_string(id) +
                  " is out of range (plan has " + std::to_string(tensors.size()) +
                  " tensors)");
      dst.push_back(id);
    }
  };
  ids(s->inputs(), p.in, "input");
  ids(s->outputs(), p.out, "output");
  for (int id : p.out)
    c.isActivation(id);

  switch (p.op) {
  case fb::OpKind::Embedding: {
    c.arity(2, 2, 1);
    c.isIds(p.in[0]);
    c.rank(p.in[1], 2);
    c.isFloat(p.in[1]);
    const auto &o = c.t(p.out[0]).shape;
    c.check(o.size() == 2 && o[0] == c.t(p.in[0]).shape[0] && o[1] == c.t(p.in[1]).shape[1],
            c.what(p.out[0]) + " must be [rows of ids, H of table]");
    break;
  }
  case fb::OpKind::Linear: {
    c.arity(2, 3, 1);
    const int x = p.in[0], w = p.in[1], out = p.out[0];
    c.isFloat(x);
    c.isFloat(w);
    c.rank(w, 2);
    c.lastIs(x, c.t(w).shape[1], "K of W [N,K]");
    c.lastIs(out, c.t(w).shape[0], "N of W [N,K]");
    c.sameRows(x, out);
    if (p.in.size() == 3) {
      c.isFloat(p.in[2]);
      c.rank(p.in[2], 1);
      c.check(c.t(p.in[2]).shape[0] == c.t(w).shape[0], c.what(p.in[2]) + " must be [N]");
    }
    const std::string act = c.find("activation") ? c.attrStr("activation") : "none";
    c.check(cpu::parseActivation(act.c_str(), p.act),
            "attribute 'activation' is \"" + act +
                "\", expected none, gelu, gelu_tanh, relu or silu");
    break;
  }
  case fb::OpKind::RmsNorm: prepareNorm(c, p, false, false); break;
  case fb::OpKind::LayerNorm: prepareNorm(c, p, false, true); break;
  case fb::OpKind::AddRmsNorm: prepareNorm(c, p, true, false); break;
  case fb::OpKind::AddLayerNorm: prepareNorm(c, p, true, true); break;
  case fb::OpKind::Rope: prepareRope(c, p); break;
  case fb::OpKind::Attention: prepareAttention(c, p, kvLayers); break;
  case fb::OpKind::Elementwise: prepareElementwise(c, p, *s); break;
  case fb::OpKind::SiluMul:
    c.arity(2, 2, 1);
    c.isFloat(p.in[0]);
    c.isFloat(p.in[1]);
    c.sameShape(p.in[0], p.in[1]);
    c.sameShape(p.in[0], p.out[0]);
    break;
  case fb::OpKind::Softmax:
    c.arity(1, 1, 1);
    c.isFloat(p.in[0]);
    c.check(!c.t(p.in[0]).shape.empty(), c.what(p.in[0]) + " must have rank >= 1");
    c.sameShape(p.in[0], p.out[0]);
    break;
  case fb::OpKind::MoE: prepareMoE(c, p); break;
  case fb::OpKind::GatherLast:
    c.arity(1, 1, 1);
    c.isFloat(p.in[0]);
    c.rank(p.in[0], 2);
    c.check(c.t(p.in[0]).shape[0] == -1, c.what(p.in[0]) + " must have T rows");
    c.check(c.t(p.out[0]).shape == std::vector<int64_t>{-2, c.t(p.in[0]).shape[1]},
            c.what(p.out[0]) + " must be [S,H]");
    break;
  case fb::OpKind::Logits: {
    c.arity(2, 2, 1);
    c.isFloat(p.in[0]);
    c.isFloat(p.in[1]);
    c.rank(p.in[0], 2);
    c.rank(p.in[1], 2);
    c.check(c.t(p.in[0]).shape[0] == -1, c.what(p.in[0]) + " must have T rows");
    c.lastIs(p.in[0], c.t(p.in[1]).shape[1], "H of W [V,H]");
    c.check(c.t(p.out[0]).shape == std::vector<int64_t>{-2, c.t(p.in[1]).shape[0]},
            c.what(p.out[0]) + " must be [S,V]");
    break;
  }
  default:
    c.fail("unsupported op kind " + std::to_string(int(p.op)) + " on the CPU backend");
  }
  return p;
}

} // namespace cpuexec
} // namespace ingot
