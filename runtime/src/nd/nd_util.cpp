// Shared pieces of the N-d operator library: attributes, broadcasting, axes.
#include "nd_internal.h"
#include "ingot/runtime/error.h"

#include <cstring>

namespace ingot::nd {

int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t Tensor::numel() const { return product(shape); }

const Tensor &KernelContext::in(int i) const {
  const Tensor *t = input(i);
  INGOT_CHECK(t, opType() + ": input " + std::to_string(i) + " is required");
  return *t;
}

bool Attrs::has(std::string_view name) const { return values.find(name) != values.end(); }

const AttrValue *Attrs::find(std::string_view name) const {
  auto it = values.find(name);
  return it == values.end() ? nullptr : &it->second;
}

const AttrValue &Attrs::get(std::string_view name) const {
  const AttrValue *v = find(name);
  INGOT_CHECK(v, "required attribute '" + std::string(name) + "' is missing");
  return *v;
}

static const char *kindName(AttrValue::Kind k) {
  switch (k) {
  case AttrValue::Int: return "int";
  case AttrValue::Float: return "float";
  case AttrValue::String: return "string";
  case AttrValue::Ints: return "ints";
  case AttrValue::Floats: return "floats";
  case AttrValue::Strings: return "strings";
  case AttrValue::TensorValue: return "tensor";
  }
  return "?";
}

static const AttrValue *typed(const Attrs &a, std::string_view name,
                              AttrValue::Kind want) {
  const AttrValue *v = a.find(name);
  if (!v)
    return nullptr;
  INGOT_CHECK(v->kind == want, "attribute '" + std::string(name) + "' is " +
                                   kindName(v->kind) + ", expected " + kindName(want));
  return v;
}

int64_t Attrs::getInt(std::string_view name, int64_t def) const {
  const AttrValue *v = typed(*this, name, AttrValue::Int);
  return v ? v->i : def;
}
double Attrs::getFloat(std::string_view name, double def) const {
  const AttrValue *v = find(name);
  if (v && v->kind == AttrValue::Int) // an integer literal where a float is meant
    return double(v->i);
  v = typed(*this, name, AttrValue::Float);
  return v ? v->f : def;
}
std::string Attrs::getString(std::string_view name, const std::string &def) const {
  const AttrValue *v = typed(*this, name, AttrValue::String);
  return v ? v->s : def;
}
std::vector<int64_t> Attrs::getInts(std::string_view name,
                                    const std::vector<int64_t> &def) const {
  const AttrValue *v = typed(*this, name, AttrValue::Ints);
  return v ? v->ints : def;
}
std::vector<double> Attrs::getFloats(std::string_view name,
                                     const std::vector<double> &def) const {
  const AttrValue *v = typed(*this, name, AttrValue::Floats);
  return v ? v->floats : def;
}

static std::string shapeStr(const std::vector<int64_t> &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

std::vector<int64_t> broadcastShapes(std::string_view op,
                                     const std::vector<std::vector<int64_t>> &shapes) {
  size_t rank = 0;
  for (auto &s : shapes)
    rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (auto &s : shapes) {
    size_t off = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t d = s[i], &o = out[off + i];
      if (d == o || d == 1)
        continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string all;
      for (auto &x : shapes)
        all += (all.empty() ? "" : " and ") + shapeStr(x);
      throw Error(std::string(op) + ": shapes " + all + " do not broadcast");
    }
  }
  return out;
}

int normalizeAxis(std::string_view op, int64_t axis, int rank) {
  INGOT_CHECK(axis >= -rank && axis < std::max(rank, 1) && (rank > 0 || axis == 0 || axis == -1),
              std::string(op) + ": axis " + std::to_string(axis) +
                  " is out of range for rank " + std::to_string(rank));
  return int(axis < 0 ? axis + rank : axis);
}

std::vector<int64_t> readInts(std::string_view op, const Tensor &t) {
  int64_t n = t.numel();
  std::vector<int64_t> v(static_cast<size_t>(n));
  auto rd = [&](auto *p) {
    for (int64_t i = 0; i < n; ++i)
      v[size_t(i)] = int64_t(p[i]);
  };
  switch (t.dtype) {
  case DType::I64: rd(t.as<int64_t>()); break;
  case DType::I32: rd(t.as<int32_t>()); break;
  case DType::I16: rd(t.as<int16_t>()); break;
  case DType::I8: rd(t.as<int8_t>()); break;
  case DType::U8: rd(t.as<uint8_t>()); break;
  case DType::U16: rd(t.as<uint16_t>()); break;
  case DType::U32: rd(t.as<uint32_t>()); break;
  case DType::U64: rd(t.as<uint64_t>()); break;
  default:
    throw Error(std::string(op) + ": expected an integer tensor, got " +
                dtypeName(t.dtype));
  }
  return v;
}

} // namespace ingot::nd
