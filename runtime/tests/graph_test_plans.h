// Test helpers for graph plans (PlanKind.Graph), shared by
// test_graph_executor.cpp and test_ingot_exec.cpp: GraphPlanBuilder writes a
// plan file with the FlatBuffers builder directly (independently of the
// compiler's emission), with Node steps, typed attributes, graph
// inputs/outputs with dim_params, and embedded or external weights; plus
// small helpers to make HostTensors and read them back.
#pragma once
#include "ingot/runtime/plan.h"
#include "ingot/runtime/weights.h"
#include "ingot/schema/plan_generated.h"
#include "test_util.h"

#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace graphtest {

using namespace ingot;
namespace fb = ingot::plan;
namespace fs = std::filesystem;

using testutil::TmpDir;

template <class T> std::vector<uint8_t> bytesOf(const std::vector<T> &v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!b.empty())
    std::memcpy(b.data(), v.data(), b.size());
  return b;
}

template <class T> std::vector<T> valuesOf(const HostTensor &h) {
  std::vector<T> v(h.bytes.size() / sizeof(T));
  if (!v.empty())
    std::memcpy(v.data(), h.bytes.data(), v.size() * sizeof(T));
  return v;
}

template <class T>
HostTensor hostTensor(DType dt, std::vector<int64_t> shape, const std::vector<T> &v) {
  HostTensor h;
  h.dtype = dt;
  h.shape = std::move(shape);
  h.bytes = bytesOf(v);
  return h;
}

// One typed attribute of a Node step.
struct GAttr {
  std::string name;
  fb::AttrKind kind = fb::AttrKind::Unset;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  fb::DType tdtype = fb::DType::F32;
  std::vector<uint8_t> tdata;
};
inline GAttr aInt(const std::string &n, int64_t v) {
  GAttr a{n, fb::AttrKind::Int};
  a.i = v;
  return a;
}
inline GAttr aFloat(const std::string &n, double v) {
  GAttr a{n, fb::AttrKind::Float};
  a.f = v;
  return a;
}
inline GAttr aInts(const std::string &n, std::vector<int64_t> v) {
  GAttr a{n, fb::AttrKind::Ints};
  a.ints = std::move(v);
  return a;
}
inline GAttr aTensor(const std::string &n, fb::DType dt, std::vector<int64_t> shape,
                     std::vector<uint8_t> data) {
  GAttr a{n, fb::AttrKind::Tensor};
  a.tdtype = dt;
  a.ints = std::move(shape);
  a.tdata = std::move(data);
  return a;
}

struct GraphPlanBuilder {
  struct Tensor {
    std::string name;
    fb::TensorKind kind;
    fb::DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::string> dimParams;
    int weight = -1;
  };
  struct Weight {
    std::string name;
    fb::DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;        // embedded data (no sources)
    std::vector<std::string> sources;  // external: checkpoint tensor names
    std::vector<fb::TransformKind> transforms;
    int64_t embeddedSizeDelta = 0;     // to write a wrong embedded_size
  };
  struct Step {
    fb::OpKind op = fb::OpKind::Node;
    std::string name, opType, domain;
    std::vector<int> in, out;
    std::vector<GAttr> attrs;
  };

  fb::PlanKind kind = fb::PlanKind::Graph;
  std::vector<Tensor> tensors;
  std::vector<Weight> weights;
  std::vector<Step> steps;
  std::vector<int> inputs, outputs;
  bool external = false;
  std::string weightsDir;
  std::vector<std::pair<std::string, uint64_t>> weightFiles;

  int tensor(const std::string &name, fb::TensorKind k, fb::DType dt, std::vector<int64_t> shape,
             std::vector<std::string> params = {}) {
    tensors.push_back({name, k, dt, std::move(shape), std::move(params)});
    return int(tensors.size() - 1);
  }
  // A graph input (appended to graph_inputs).
  int input(const std::string &name, fb::DType dt, std::vector<int64_t> shape,
            std::vector<std::string> params = {}) {
    inputs.push_back(tensor(name, fb::TensorKind::Input, dt, std::move(shape), std::move(params)));
    return inputs.back();
  }
  int act(const std::string &name, fb::DType dt = fb::DType::F32,
          std::vector<int64_t> shape = {}) {
    return tensor(name, fb::TensorKind::Activation, dt, std::move(shape));
  }
  // An embedded constant (no sources).
  int constant(const std::string &name, fb::DType dt, std::vector<int64_t> shape,
               std::vector<uint8_t> bytes) {
    weights.push_back({name, dt, shape, std::move(bytes), {}, {}});
    const int t = tensor(name, fb::TensorKind::Weight, dt, std::move(shape));
    tensors[size_t(t)].weight = int(weights.size() - 1);
    return t;
  }
  // An external weight read from checkpoint tensor `source`.
  int externalWeight(const std::string &name, fb::DType dt, std::vector<int64_t> shape,
                     const std::string &source, std::vector<fb::TransformKind> transforms = {}) {
    weights.push_back({name, dt, shape, {}, {source}, std::move(transforms)});
    const int t = tensor(name, fb::TensorKind::Weight, dt, std::move(shape));
    tensors[size_t(t)].weight = int(weights.size() - 1);
    return t;
  }
  Step &node(const std::string &opType, const std::string &name, std::vector<int> in,
             std::vector<int> out, std::vector<GAttr> attrs = {}) {
    steps.push_back({fb::OpKind::Node, name, opType, "", std::move(in), std::move(out),
                     std::move(attrs)});
    return steps.back();
  }
  void output(int id) { outputs.push_back(id); }

  std::string write(const fs::path &path) const {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<fb::TensorDesc>> tds;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor &t = tensors[i];
      std::vector<flatbuffers::Offset<flatbuffers::String>> params;
      for (const auto &p : t.dimParams)
        params.push_back(fbb.CreateString(p));
      tds.push_back(fb::CreateTensorDescDirect(fbb, int32_t(i), t.name.c_str(), t.kind, t.dtype,
                                               &t.shape, 0, 0, t.weight,
                                               t.dimParams.empty() ? nullptr : &params));
    }
    std::vector<flatbuffers::Offset<fb::Weight>> ws;
    std::vector<uint8_t> blob;
    for (const Weight &w : weights) {
      std::vector<flatbuffers::Offset<flatbuffers::String>> src;
      for (const auto &s : w.sources)
        src.push_back(fbb.CreateString(s));
      std::vector<flatbuffers::Offset<fb::WeightTransform>> tr;
      for (fb::TransformKind k : w.transforms)
        tr.push_back(fb::CreateWeightTransform(fbb, k));
      uint64_t off = 0, size = 0;
      if (w.sources.empty()) {
        off = (blob.size() + kWeightAlignment - 1) / kWeightAlignment * kWeightAlignment;
        size = w.bytes.size();
        blob.resize(off + size);
        if (size)
          std::memcpy(blob.data() + off, w.bytes.data(), size);
        size = uint64_t(int64_t(size) + w.embeddedSizeDelta);
      }
      ws.push_back(fb::CreateWeightDirect(fbb, w.name.c_str(), &src, &tr, w.dtype, &w.shape, off,
                                          size));
    }
    std::vector<flatbuffers::Offset<fb::Step>> ss;
    for (const Step &s : steps) {
      std::vector<flatbuffers::Offset<fb::Attr>> as;
      for (const GAttr &a : s.attrs) {
        std::vector<flatbuffers::Offset<flatbuffers::String>> strs;
        for (const auto &x : a.strings)
          strs.push_back(fbb.CreateString(x));
        as.push_back(fb::CreateAttrDirect(
            fbb, a.name.c_str(), a.i, a.f, a.kind == fb::AttrKind::String ? a.s.c_str() : nullptr,
            &a.ints, &a.floats, a.kind, &strs, a.tdtype,
            a.kind == fb::AttrKind::Tensor ? &a.tdata : nullptr));
      }
      std::vector<int32_t> in(s.in.begin(), s.in.end()), out(s.out.begin(), s.out.end());
      ss.push_back(fb::CreateStepDirect(fbb, s.op, s.name.c_str(), &in, &out, &as, nullptr, 0,
                                        nullptr, -1, s.opType.empty() ? nullptr : s.opType.c_str(),
                                        s.domain.empty() ? nullptr : s.domain.c_str()));
    }
    std::vector<flatbuffers::Offset<fb::WeightFile>> wfs;
    for (const auto &f : weightFiles)
      wfs.push_back(fb::CreateWeightFileDirect(fbb, f.first.c_str(), f.second));
    std::vector<int32_t> gi(inputs.begin(), inputs.end()), go(outputs.begin(), outputs.end());
    auto tdv = fbb.CreateVector(tds);
    auto wsv = fbb.CreateVector(ws);
    auto ssv = fbb.CreateVector(ss);
    auto wfv = fbb.CreateVector(wfs);
    auto giv = fbb.CreateVector(gi);
    auto gov = fbb.CreateVector(go);
    auto wd = weightsDir.empty() ? 0 : fbb.CreateString(weightsDir);
    auto src = fbb.CreateString("test");
    fb::PlanBuilder pb(fbb);
    pb.add_tensors(tdv);
    pb.add_weights(wsv);
    pb.add_steps(ssv);
    pb.add_weights_external(external);
    if (!weightsDir.empty())
      pb.add_weights_dir(wd);
    pb.add_weight_files(wfv);
    pb.add_kind(kind);
    pb.add_graph_inputs(giv);
    pb.add_graph_outputs(gov);
    pb.add_source(src);
    pb.add_token_input(-1);
    pb.add_position_input(-1);
    pb.add_logits_output(-1);
    fb::FinishPlanBuffer(fbb, pb.Finish());
    PlanWriteRequest req;
    req.producer = "graph_test_plans";
    req.program = fbb.GetBufferPointer();
    req.programSize = fbb.GetSize();
    if (!blob.empty()) {
      req.weightsSize = blob.size();
      req.writeWeights = [&](const std::function<void(const void *, size_t)> &sink) {
        sink(blob.data(), blob.size());
      };
    }
    writePlanFile(path.string(), req);
    return path.string();
  }
};

} // namespace graphtest
