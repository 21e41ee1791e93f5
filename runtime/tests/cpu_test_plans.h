// Test helpers shared by test_cpu_executor.cpp and test_ingot_cli.cpp:
// PlanBuilder writes plan files built with the FlatBuffers builder (arena and
// weight offsets laid out here, independently of the compiler), and Llama is
// a tiny two-layer Llama-style model with random weights plus a naive
// double-precision forward pass used as the reference for the CPU executor.
#pragma once
#include "ingot/runtime/plan.h"
#include "ingot/schema/plan_generated.h"
#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace cputest {

using namespace ingot;
namespace fb = ingot::plan;
namespace fs = std::filesystem;

using testutil::TmpDir;

struct AttrSpec {
  std::string name;
  int64_t i = 0;
  double f = 0;
  std::string s;
};
inline AttrSpec AI(const std::string &n, int64_t v) { return {n, v, 0.0, ""}; }
inline AttrSpec AF(const std::string &n, double v) { return {n, 0, v, ""}; }
inline AttrSpec AS(const std::string &n, const std::string &v) { return {n, 0, 0.0, v}; }

struct TransformSpec {
  fb::TransformKind kind;
  fb::DType dtype = fb::DType::F32;
};

// Builds a plan file. Activations get consecutive 64-byte aligned arena
// slots sized for (maxTokens, maxSeqs); embedded weights 4096-aligned slots.
struct PlanBuilder {
  struct Tensor {
    std::string name;
    fb::TensorKind kind;
    fb::DType dtype;
    std::vector<int64_t> shape;
    int weight = -1;
  };
  struct Weight {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
    fb::DType dtype;
    std::vector<std::string> sources;
    std::vector<TransformSpec> transforms;
  };
  struct Step {
    fb::OpKind op;
    std::string name;
    std::vector<int> in, out;
    std::vector<AttrSpec> attrs;
    std::vector<fb::EwInstr> prog;
    int nregs = 0;
    std::vector<uint8_t> progOut;
    std::vector<std::string> cudaFunctions; // Step.cuda_functions
  };
  struct KernelImage {
    std::string arch, format;
    std::string data;
  };
  std::vector<KernelImage> kernels; // Plan.kernels
  std::vector<std::string> targets; // Plan.targets
  fb::DType computeDtype = fb::DType::F32;
  int64_t maxTokens = 16, maxSeqs = 4, maxPosition = 64, vocab = 0;
  int blockSize = 4;
  std::vector<std::pair<int, int>> kvLayers;
  std::vector<Tensor> tensors;
  std::vector<Weight> weights;
  std::vector<Step> steps;
  int tokenInput = -1, positionInput = -1, logitsOutput = -1;
  bool external = false;
  std::string weightsDir;
  std::vector<std::pair<std::string, uint64_t>> weightFiles;
  std::string tokenizerJson;      // empty: no tokenizer
  std::vector<int32_t> eos = {0}; // model.eos_token_ids

  int input(const std::string &name) {
    tensors.push_back({name, fb::TensorKind::Input, fb::DType::I32, {-1}});
    return int(tensors.size() - 1);
  }
  fb::DType actDtype = fb::DType::F32; // act()'s default (a plan's compute dtype)
  int act(const std::string &name, std::vector<int64_t> shape, fb::DType dt) {
    tensors.push_back({name, fb::TensorKind::Activation, dt, std::move(shape)});
    return int(tensors.size() - 1);
  }
  int act(const std::string &name, std::vector<int64_t> shape) { return act(name, std::move(shape), actDtype); }
  int weight(const std::string &name, std::vector<int64_t> shape, std::vector<float> data,
             fb::DType dt = fb::DType::F32) {
    weights.push_back({name, shape, std::move(data), dt, {name}, {}});
    tensors.push_back({name, fb::TensorKind::Weight, dt, shape, int(weights.size() - 1)});
    return int(tensors.size() - 1);
  }
  Step &step(fb::OpKind op, const std::string &name, std::vector<int> in, std::vector<int> out,
             std::vector<AttrSpec> attrs = {}) {
    steps.push_back({op, name, std::move(in), std::move(out), std::move(attrs), {}, 0, {}, {}});
    return steps.back();
  }

  static int64_t dimv(int64_t d, int64_t T, int64_t S) { return d == -1 ? T : d == -2 ? S : d; }
  static size_t esize(fb::DType d) {
    return d == fb::DType::F32 || d == fb::DType::I32 ? 4 : d == fb::DType::I64 ? 8 : d == fb::DType::U8 ? 1 : 2;
  }

  std::string write(const fs::path &path) {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<fb::TensorDesc>> tds;
    uint64_t arena = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor &t = tensors[i];
      uint64_t off = 0, size = 0;
      if (t.kind == fb::TensorKind::Activation) {
        int64_t n = 1;
        for (int64_t d : t.shape)
          n *= dimv(d, maxTokens, maxSeqs);
        size = uint64_t(n) * esize(t.dtype);
        off = arena;
        arena += (size + 63) / 64 * 64;
      }
      tds.push_back(fb::CreateTensorDescDirect(fbb, int32_t(i), t.name.c_str(), t.kind, t.dtype,
                                               &t.shape, off, size, t.weight));
    }
    std::vector<flatbuffers::Offset<fb::Weight>> ws;
    std::vector<uint8_t> blob;
    for (const Weight &w : weights) {
      std::vector<flatbuffers::Offset<flatbuffers::String>> src;
      for (const auto &s : w.sources)
        src.push_back(fbb.CreateString(s));
      std::vector<flatbuffers::Offset<fb::WeightTransform>> tr;
      for (const auto &x : w.transforms)
        tr.push_back(fb::CreateWeightTransform(fbb, x.kind, 0, 0, 0, x.dtype));
      uint64_t off = 0, size = 0;
      if (!external) {
        off = (blob.size() + kWeightAlignment - 1) / kWeightAlignment * kWeightAlignment;
        size = w.data.size() * esize(w.dtype);
        blob.resize(off + size);
        for (size_t k = 0; k < w.data.size(); ++k) {
          uint32_t bits;
          std::memcpy(&bits, &w.data[k], 4);
          if (w.dtype == fb::DType::F32) {
            std::memcpy(blob.data() + off + 4 * k, &bits, 4);
          } else { // bf16: data is bf16-exact, keep the high half
            const uint16_t h = uint16_t(bits >> 16);
            std::memcpy(blob.data() + off + 2 * k, &h, 2);
          }
        }
      }
      ws.push_back(fb::CreateWeightDirect(fbb, w.name.c_str(), &src, &tr, w.dtype, &w.shape, off, size));
    }
    std::vector<flatbuffers::Offset<fb::Step>> ss;
    for (const Step &s : steps) {
      std::vector<flatbuffers::Offset<fb::Attr>> as;
      for (const AttrSpec &a : s.attrs)
        as.push_back(fb::CreateAttrDirect(fbb, a.name.c_str(), a.i, a.f,
                                          a.s.empty() ? nullptr : a.s.c_str()));
      std::vector<int32_t> in(s.in.begin(), s.in.end()), out(s.out.begin(), s.out.end());
      std::vector<flatbuffers::Offset<flatbuffers::String>> cf;
      for (const auto &f : s.cudaFunctions)
        cf.push_back(fbb.CreateString(f));
      ss.push_back(fb::CreateStepDirect(fbb, s.op, s.name.c_str(), &in, &out, &as,
                                        s.prog.empty() ? nullptr : &s.prog, s.nregs,
                                        s.progOut.empty() ? nullptr : &s.progOut, -1, nullptr,
                                        nullptr, s.cudaFunctions.empty() ? nullptr : &cf));
    }
    auto tokenizer = tokenizerJson.empty() ? 0 : fb::CreateTokenizerDirect(fbb, tokenizerJson.c_str(), "");
    auto model = fb::CreateModelConfigDirect(fbb, "llama", "Llama", vocab, 0, int32_t(kvLayers.size()),
                                             maxPosition, 1, &eos, -1, computeDtype);
    std::vector<flatbuffers::Offset<fb::KvLayer>> kls;
    uint64_t bpt = 0;
    for (auto [h, d] : kvLayers) {
      kls.push_back(fb::CreateKvLayer(fbb, h, d));
      bpt += uint64_t(2 * h * d) * esize(computeDtype);
    }
    auto kv = fb::CreateKvCacheDescDirect(fbb, blockSize, computeDtype, &kls, bpt);
    auto mem = fb::CreateMemoryPlan(fbb, arena, maxTokens, maxSeqs);
    std::vector<flatbuffers::Offset<fb::WeightFile>> wfs;
    for (const auto &f : weightFiles)
      wfs.push_back(fb::CreateWeightFileDirect(fbb, f.first.c_str(), f.second));
    std::vector<flatbuffers::Offset<fb::Kernel>> ks;
    for (const KernelImage &k : kernels) {
      std::vector<uint8_t> bytes(k.data.begin(), k.data.end());
      ks.push_back(fb::CreateKernelDirect(fbb, "ingot", k.arch.c_str(), k.format.c_str(), &bytes));
    }
    std::vector<flatbuffers::Offset<flatbuffers::String>> tg;
    for (const auto &t : targets)
      tg.push_back(fbb.CreateString(t));
    auto root = fb::CreatePlanDirect(fbb, model, tokenizer, &tds, &ws, &ss, tokenInput, positionInput,
                                     logitsOutput, mem, kv, ks.empty() ? nullptr : &ks, external,
                                     weightsDir.empty() ? nullptr : weightsDir.c_str(), &wfs,
                                     fb::PlanKind::Decoder, nullptr, nullptr, nullptr,
                                     tg.empty() ? nullptr : &tg);
    fb::FinishPlanBuffer(fbb, root);
    PlanWriteRequest req;
    req.producer = "test_cpu_executor";
    req.program = fbb.GetBufferPointer();
    req.programSize = fbb.GetSize();
    if (!external) {
      req.weightsSize = blob.size();
      req.writeWeights = [&](const std::function<void(const void *, size_t)> &sink) {
        sink(blob.data(), blob.size());
      };
    }
    writePlanFile(path.string(), req);
    return path.string();
  }
};

inline std::vector<float> randVec(size_t n, uint32_t seed, float lo, float hi, bool bf16Exact) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v) {
    x = d(g);
    if (bf16Exact) { // truncate to a value bf16 holds exactly
      uint32_t b;
      std::memcpy(&b, &x, 4);
      b &= 0xffff0000u;
      std::memcpy(&x, &b, 4);
    }
  }
  return v;
}

// --- a tiny Llama and its double-precision reference -----------------------

struct Llama {
  int64_t V = 50, H = 32, nh = 4, nkv = 2, d = 8, I = 48, L = 2;
  double theta = 10000.0, eps = 1e-5;
  std::map<std::string, std::vector<float>> w;
  std::map<std::string, std::vector<int64_t>> shape;

  // headDim/numKvHeads: other attention shapes (the CUDA executor's tests).
  explicit Llama(bool bf16Exact, int64_t headDim = 8, int64_t numKvHeads = 2) {
    d = headDim;
    nkv = numKvHeads;
    uint32_t seed = 100;
    auto add = [&](const std::string &n, std::vector<int64_t> s, float lo, float hi) {
      int64_t k = 1;
      for (int64_t x : s)
        k *= x;
      w[n] = randVec(size_t(k), seed++, lo, hi, bf16Exact);
      shape[n] = s;
    };
    add("embed", {V, H}, -1, 1);
    for (int l = 0; l < L; ++l) {
      const std::string p = "l" + std::to_string(l) + ".";
      add(p + "attn_norm", {H}, 0.8f, 1.2f);
      add(p + "wq", {nh * d, H}, -0.3f, 0.3f);
      add(p + "wk", {nkv * d, H}, -0.3f, 0.3f);
      add(p + "wv", {nkv * d, H}, -0.3f, 0.3f);
      add(p + "wo", {H, nh * d}, -0.3f, 0.3f);
      add(p + "mlp_norm", {H}, 0.8f, 1.2f);
      add(p + "wg", {I, H}, -0.3f, 0.3f);
      add(p + "wu", {I, H}, -0.3f, 0.3f);
      add(p + "wd", {H, I}, -0.3f, 0.3f);
    }
    add("final_norm", {H}, 0.8f, 1.2f);
    add("lm_head", {V, H}, -0.3f, 0.3f);
  }

  // Logits at every position of one sequence.
  std::vector<std::vector<double>> reference(const std::vector<int32_t> &ids) const {
    const size_t T = ids.size();
    using Mat = std::vector<std::vector<double>>;
    auto W = [&](const std::string &n) { return w.at(n); };
    auto matvec = [&](const std::vector<double> &x, const std::string &n) {
      const auto &m = w.at(n);
      const int64_t N = shape.at(n)[0], K = shape.at(n)[1];
      std::vector<double> y(size_t(N), 0.0);
      for (int64_t i = 0; i < N; ++i)
        for (int64_t k = 0; k < K; ++k)
          y[size_t(i)] += m[size_t(i * K + k)] * x[size_t(k)];
      return y;
    };
    auto rms = [&](const std::vector<double> &x, const std::string &g) {
      double ss = 0;
      for (double v : x)
        ss += v * v;
      const double inv = 1.0 / std::sqrt(ss / double(x.size()) + eps);
      std::vector<double> y(x.size());
      for (size_t i = 0; i < x.size(); ++i)
        y[i] = x[i] * inv * w.at(g)[i];
      return y;
    };
    auto rope = [&](std::vector<double> &x, int64_t heads, size_t pos) {
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t j = 0; j < d / 2; ++j) {
          const double ang = double(pos) * std::pow(theta, -2.0 * double(j) / double(d));
          double &a = x[size_t(h * d + j)], &b = x[size_t(h * d + j + d / 2)];
          const double na = a * std::cos(ang) - b * std::sin(ang);
          const double nb = b * std::cos(ang) + a * std::sin(ang);
          a = na;
          b = nb;
        }
    };
    Mat h(T);
    for (size_t t = 0; t < T; ++t) {
      const auto &e = W("embed");
      h[t].assign(e.begin() + ids[t] * H, e.begin() + (ids[t] + 1) * H);
    }
    for (int l = 0; l < L; ++l) {
      const std::string p = "l" + std::to_string(l) + ".";
      Mat q(T), k(T), v(T);
      for (size_t t = 0; t < T; ++t) {
        const auto x = rms(h[t], p + "attn_norm");
        q[t] = matvec(x, p + "wq");
        k[t] = matvec(x, p + "wk");
        v[t] = matvec(x, p + "wv");
        rope(q[t], nh, t);
        rope(k[t], nkv, t);
      }
      for (size_t t = 0; t < T; ++t) {
        std::vector<double> a(size_t(nh * d), 0.0);
        for (int64_t hh = 0; hh < nh; ++hh) {
          const int64_t g = hh / (nh / nkv);
          std::vector<double> s(t + 1);
          double m = -1e300;
          for (size_t j = 0; j <= t; ++j) {
            double dot = 0;
            for (int64_t e = 0; e < d; ++e)
              dot += q[t][size_t(hh * d + e)] * k[j][size_t(g * d + e)];
            s[j] = dot / std::sqrt(double(d));
            m = std::max(m, s[j]);
          }
          double z = 0;
          for (double &x : s)
            z += (x = std::exp(x - m));
          for (size_t j = 0; j <= t; ++j)
            for (int64_t e = 0; e < d; ++e)
              a[size_t(hh * d + e)] += s[j] / z * v[j][size_t(g * d + e)];
        }
        const auto o = matvec(a, p + "wo");
        for (int64_t i = 0; i < H; ++i)
          h[t][size_t(i)] += o[size_t(i)];
        const auto x = rms(h[t], p + "mlp_norm");
        auto g = matvec(x, p + "wg");
        const auto u = matvec(x, p + "wu");
        for (size_t i = 0; i < g.size(); ++i)
          g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        const auto dn = matvec(g, p + "wd");
        for (int64_t i = 0; i < H; ++i)
          h[t][size_t(i)] += dn[size_t(i)];
      }
    }
    Mat out(T);
    for (size_t t = 0; t < T; ++t)
      out[t] = matvec(rms(h[t], "final_norm"), "lm_head");
    return out;
  }
};

// The plan for `m`: RmsNorm / AddRmsNorm / Linear / Rope / Attention /
// SiluMul / Elementwise (final residual add) / Logits.
inline void buildLlama(PlanBuilder &b, const Llama &m, fb::DType wdt) {
  b.vocab = m.V;
  const int64_t T = -1, H = m.H;
  b.tokenInput = b.input("tokens");
  b.positionInput = b.input("positions");
  auto W = [&](const std::string &n) { return b.weight(n, m.shape.at(n), m.w.at(n), wdt); };
  const std::vector<AttrSpec> ropeAttrs = {AI("head_dim", m.d), AI("rotary_dim", m.d),
                                           AF("theta", m.theta), AS("style", "half"),
                                           AS("scaling", "none")};
  int h = b.act("h0", {T, H});
  b.step(fb::OpKind::Embedding, "embed", {b.tokenInput, W("embed")}, {h});
  int mlpOut = -1;
  for (int l = 0; l < m.L; ++l) {
    const std::string p = "l" + std::to_string(l) + ".";
    b.kvLayers.push_back({int(m.nkv), int(m.d)});
    const int x = b.act(p + "x", {T, H});
    if (l == 0) {
      b.step(fb::OpKind::RmsNorm, p + "attn_norm", {h, W(p + "attn_norm")}, {x}, {AF("epsilon", m.eps)});
    } else {
      const int h2 = b.act(p + "h", {T, H});
      b.step(fb::OpKind::AddRmsNorm, p + "attn_norm", {mlpOut, h, W(p + "attn_norm")}, {h2, x},
             {AF("epsilon", m.eps)});
      h = h2;
    }
    const int q = b.act(p + "q", {T, m.nh * m.d}), k = b.act(p + "k", {T, m.nkv * m.d}),
              v = b.act(p + "v", {T, m.nkv * m.d});
    b.step(fb::OpKind::Linear, p + "q_proj", {x, W(p + "wq")}, {q}, {AS("activation", "none")});
    b.step(fb::OpKind::Linear, p + "k_proj", {x, W(p + "wk")}, {k});
    b.step(fb::OpKind::Linear, p + "v_proj", {x, W(p + "wv")}, {v});
    const int qr = b.act(p + "qr", {T, m.nh * m.d}), kr = b.act(p + "kr", {T, m.nkv * m.d});
    b.step(fb::OpKind::Rope, p + "rope_q", {q, b.positionInput}, {qr}, ropeAttrs);
    b.step(fb::OpKind::Rope, p + "rope_k", {k, b.positionInput}, {kr}, ropeAttrs);
    const int a = b.act(p + "attn", {T, m.nh * m.d});
    b.step(fb::OpKind::Attention, p + "attn", {qr, kr, v}, {a},
           {AI("layer", l), AI("num_heads", m.nh), AI("num_kv_heads", m.nkv), AI("head_dim", m.d),
            AF("scale", 1.0 / std::sqrt(double(m.d))), AI("sliding_window", 0)});
    const int o = b.act(p + "o", {T, H});
    b.step(fb::OpKind::Linear, p + "o_proj", {a, W(p + "wo")}, {o});
    const int h3 = b.act(p + "h_mid", {T, H}), x2 = b.act(p + "x2", {T, H});
    b.step(fb::OpKind::AddRmsNorm, p + "mlp_norm", {o, h, W(p + "mlp_norm")}, {h3, x2},
           {AF("epsilon", m.eps)});
    h = h3;
    const int g = b.act(p + "g", {T, m.I}), u = b.act(p + "u", {T, m.I}), gu = b.act(p + "gu", {T, m.I});
    b.step(fb::OpKind::Linear, p + "gate", {x2, W(p + "wg")}, {g});
    b.step(fb::OpKind::Linear, p + "up", {x2, W(p + "wu")}, {u});
    b.step(fb::OpKind::SiluMul, p + "silu_mul", {g, u}, {gu});
    mlpOut = b.act(p + "mlp_out", {T, H});
    b.step(fb::OpKind::Linear, p + "down", {gu, W(p + "wd")}, {mlpOut});
  }
  const int hf = b.act("h_final", {T, H}), n = b.act("normed", {T, H});
  auto &add = b.step(fb::OpKind::Elementwise, "residual", {mlpOut, h}, {hf});
  add.prog = {fb::EwInstr(fb::EwOp::Add, 0, 1, 2, 0.0f)};
  add.nregs = 3;
  add.progOut = {2};
  b.step(fb::OpKind::RmsNorm, "final_norm", {hf, W("final_norm")}, {n}, {AF("epsilon", m.eps)});
  b.logitsOutput = b.act("logits", {-2, m.V}, fb::DType::F32);
  b.step(fb::OpKind::Logits, "lm_head", {n, W("lm_head")}, {b.logitsOutput});
}

} // namespace cputest
