// ingot_nd_run: runs ONE N-d kernel (runtime/include/ingot/runtime/nd.h) on
// tensors from a safetensors file and writes its outputs to another. A test
// tool: scripts/dev/nd_node_tests.py drives it over ONNX's node tests so the
// kernels can be checked before (and independently of) the compiler.
//
//   ingot_nd_run --op Add [--domain D] --inputs in.safetensors --num-inputs N
//                --num-outputs M --outputs out.safetensors [--attrs attrs.json]
// Inputs are tensors "input_<i>" (absent = omitted optional input); outputs
// are written as "output_<i>". attrs.json: {"name": {"kind": "int"|"float"|
// "string"|"ints"|"floats"|"strings"|"tensor", "value": ...}}; a tensor
// attribute's value is the name of a tensor in the inputs file.
#include "ingot/runtime/error.h"
#include "ingot/runtime/nd.h"
#include "ingot/runtime/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

using namespace ingot;

namespace {

struct Ctx : nd::KernelContext {
  std::string op, dom;
  std::vector<std::unique_ptr<nd::Tensor>> ins;
  std::vector<std::vector<uint8_t>> inData;
  std::vector<nd::Tensor> outs;
  std::vector<std::vector<uint8_t>> outData;
  std::vector<bool> written;
  nd::Attrs at;

  const std::string &opType() const override { return op; }
  const std::string &domain() const override { return dom; }
  int numInputs() const override { return int(ins.size()); }
  const nd::Tensor *input(int i) const override {
    return i >= 0 && i < int(ins.size()) ? ins[size_t(i)].get() : nullptr;
  }
  int numOutputs() const override { return int(outs.size()); }
  nd::Tensor &output(int i, DType dt, const std::vector<int64_t> &shape) override {
    INGOT_CHECK(i >= 0 && i < int(outs.size()),
                op + ": output " + std::to_string(i) + " is out of range");
    INGOT_CHECK(!written[size_t(i)], op + ": output " + std::to_string(i) + " allocated twice");
    for (int64_t d : shape)
      INGOT_CHECK(d >= 0, op + ": negative output dim");
    written[size_t(i)] = true;
    nd::Tensor &t = outs[size_t(i)];
    t.dtype = dt;
    t.shape = shape;
    outData[size_t(i)].assign(std::max<size_t>(t.nbytes(), 1), 0);
    t.data = outData[size_t(i)].data();
    return t;
  }
  const nd::Attrs &attrs() const override { return at; }
};

} // namespace

int main(int argc, char **argv) {
  std::string op, dom, inPath, outPath, attrPath;
  int nIn = 0, nOut = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "error: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--op") op = next();
    else if (a == "--domain") dom = next();
    else if (a == "--inputs") inPath = next();
    else if (a == "--outputs") outPath = next();
    else if (a == "--attrs") attrPath = next();
    else if (a == "--num-inputs") nIn = std::atoi(next().c_str());
    else if (a == "--num-outputs") nOut = std::atoi(next().c_str());
    else {
      std::fprintf(stderr, "error: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    nd::KernelFn fn = nd::findKernel(dom, op);
    INGOT_CHECK(fn, "no kernel for " + (dom.empty() ? std::string("") : dom + "::") + op);
    Ctx c;
    c.op = op;
    c.dom = dom;
    std::unique_ptr<SafetensorsFile> in;
    if (!inPath.empty())
      in = SafetensorsFile::open(inPath);
    c.ins.resize(size_t(nIn));
    c.inData.resize(size_t(nIn));
    for (int i = 0; i < nIn; ++i) {
      const TensorView *v = in ? in->find("input_" + std::to_string(i)) : nullptr;
      if (!v)
        continue;
      auto t = std::make_unique<nd::Tensor>();
      t->dtype = v->dtype;
      t->shape = v->shape;
      // Copy so kernels see aligned data (safetensors offsets are not).
      c.inData[size_t(i)].assign(v->data, v->data + v->nbytes);
      c.inData[size_t(i)].resize(std::max<size_t>(v->nbytes, 1));
      t->data = c.inData[size_t(i)].data();
      c.ins[size_t(i)] = std::move(t);
    }
    if (!attrPath.empty()) {
      std::ifstream f(attrPath);
      INGOT_CHECK(f, "cannot open " + attrPath);
      nlohmann::json j = nlohmann::json::parse(f);
      for (auto &[name, spec] : j.items()) {
        nd::AttrValue v;
        std::string kind = spec.at("kind");
        const auto &val = spec.at("value");
        if (kind == "int") { v.kind = nd::AttrValue::Int; v.i = val.get<int64_t>(); }
        else if (kind == "float") { v.kind = nd::AttrValue::Float; v.f = val.get<double>(); }
        else if (kind == "string") { v.kind = nd::AttrValue::String; v.s = val.get<std::string>(); }
        else if (kind == "ints") { v.kind = nd::AttrValue::Ints; v.ints = val.get<std::vector<int64_t>>(); }
        else if (kind == "floats") { v.kind = nd::AttrValue::Floats; v.floats = val.get<std::vector<double>>(); }
        else if (kind == "strings") { v.kind = nd::AttrValue::Strings; v.strings = val.get<std::vector<std::string>>(); }
        else if (kind == "tensor") {
          v.kind = nd::AttrValue::TensorValue;
          INGOT_CHECK(in, "tensor attribute needs --inputs");
          const TensorView *tv = in->find(val.get<std::string>());
          INGOT_CHECK(tv, "tensor attribute data '" + val.get<std::string>() + "' not in inputs");
          v.tdtype = tv->dtype;
          v.ints = tv->shape;
          v.tdata.assign(tv->data, tv->data + tv->nbytes);
        } else
          throw Error("attribute '" + name + "': unknown kind " + kind);
        c.at.values[name] = std::move(v);
      }
    }
    c.outs.resize(size_t(nOut));
    c.outData.resize(size_t(nOut));
    c.written.assign(size_t(nOut), false);
    fn(c);
    std::vector<TensorView> views;
    for (int i = 0; i < nOut; ++i) {
      INGOT_CHECK(c.written[size_t(i)], op + ": output " + std::to_string(i) + " was not produced");
      const nd::Tensor &t = c.outs[size_t(i)];
      TensorView v;
      v.name = "output_" + std::to_string(i);
      v.dtype = t.dtype;
      v.shape = t.shape;
      v.data = static_cast<const uint8_t *>(t.data);
      v.nbytes = t.nbytes();
      views.push_back(v);
    }
    writeSafetensors(outPath, views);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
