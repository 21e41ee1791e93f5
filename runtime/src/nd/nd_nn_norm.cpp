// N-d normalizations: LayerNormalization, RMSNormalization (opset 23),
// BatchNormalization, InstanceNormalization, MeanVarianceNormalization, and
// the onnxruntime contrib norms SimplifiedLayerNormalization (RMSNorm),
// SkipSimplifiedLayerNormalization and SkipLayerNormalization.
//
// Every norm works on rows: each row is widened to double, its statistics are
// summed in double in index order, and the result is rounded once to the
// output dtype. Rows are independent and computed identically, so splitting
// them across threads cannot change a bit. Optional statistics outputs
// (Mean, InvStdDev, ...) are produced whenever the node declares them.
#include "nd_copy.h"

#include <cmath>

namespace ingot::nd {
namespace {

constexpr int64_t kParallelMin = int64_t(1) << 15; // elements

void checkFloat(const std::string &op, const Tensor &t, const char *what) {
  INGOT_CHECK(isFloatDType(t.dtype), op + ": " + what + " must be a float tensor, got " +
                                         dtypeName(t.dtype));
}

// `t` broadcast (numpy, unidirectionally) to `target`, as doubles.
std::vector<double> broadcastTo(const std::string &op, const char *what, const Tensor &t,
                                const std::vector<int64_t> &target) {
  checkFloat(op, t, what);
  // Leading unit dims beyond the target's rank (e.g. a [1, H] scale) are dropped.
  std::vector<int64_t> ts = t.shape;
  while (ts.size() > target.size() && ts.front() == 1)
    ts.erase(ts.begin());
  const bool ok = ts.size() <= target.size() && broadcastShapes(op, {ts, target}) == target;
  INGOT_CHECK(ok, op + ": " + what + " shape " + shapeToString(t.shape) +
                      " does not broadcast to " + shapeToString(target));
  std::vector<double> src = toDoubles(t), out(size_t(product(target)));
  std::vector<int64_t> st = rowMajorStrides(ts), str(target.size(), 0);
  const size_t off = target.size() - ts.size();
  for (size_t i = 0; i < ts.size(); ++i)
    str[off + i] = ts[i] == 1 ? 0 : st[i];
  if (!out.empty())
    stridedCopy(out.data(), src.data(), target, str, sizeof(double));
  return out;
}

// Normalizes R rows of H values. load(r, buf) fills buf[0..H) with row r;
// y_r = (x - mean)·inv·gamma + beta (center) or x·inv·gamma (RMS), with
// inv = 1/sqrt(var + eps) (var = mean of squares for RMS). gamma/beta have H
// values (beta may be null). Y is stored as `dt`; mean/inv (R values each)
// are written where non-null.
template <class Load>
void normRows(int64_t R, int64_t H, Load load, const double *gamma, const double *beta,
              double eps, bool center, DType dt, void *y, double *meanOut, double *invOut) {
  const size_t es = dtypeSize(dt);
#pragma omp parallel if (R * H >= kParallelMin && R > 1)
  {
    std::vector<double> buf(static_cast<size_t>(H));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < R; ++r) {
      load(r, buf.data());
      double mean = 0;
      if (center && H) {
        for (int64_t i = 0; i < H; ++i)
          mean += buf[size_t(i)];
        mean /= double(H);
      }
      double ss = 0;
      for (int64_t i = 0; i < H; ++i) {
        const double d = buf[size_t(i)] - mean;
        ss += d * d;
      }
      const double inv = 1.0 / std::sqrt((H ? ss / double(H) : 0.0) + eps);
      for (int64_t i = 0; i < H; ++i) {
        double v = (buf[size_t(i)] - mean) * inv;
        if (gamma)
          v *= gamma[i];
        if (beta)
          v += beta[i];
        buf[size_t(i)] = v;
      }
      storeDoubles(dt, buf.data(), H, static_cast<char *>(y) + r * H * int64_t(es));
      if (meanOut)
        meanOut[r] = mean;
      if (invOut)
        invOut[r] = inv;
    }
  }
}

// Row loader reading a float tensor's rows of H elements.
auto rowLoader(const Tensor &x, int64_t H) {
  return [&x, H](int64_t r, double *buf) {
    loadDoubles(x.dtype, static_cast<const char *>(x.data) + r * H * int64_t(dtypeSize(x.dtype)),
                H, buf);
  };
}

// Writes R statistics as output `i` of shape `shape` and dtype `dt`.
void statOutput(KernelContext &c, int i, DType dt, const std::vector<int64_t> &shape,
                const std::vector<double> &v) {
  Tensor &o = c.output(i, dt, shape);
  INGOT_CHECK(o.numel() == int64_t(v.size()), c.opType() + ": statistics size mismatch");
  storeDoubles(dt, v.data(), o.numel(), o.data);
}

// LayerNormalization (center) / RMSNormalization and SimplifiedLayerNormalization
// (RMS): normalize over dims [axis, rank); scale (and B) broadcast to them.
void axisNorm(KernelContext &c, bool center) {
  const std::string &op = c.opType();
  const Tensor &x = c.in(0);
  checkFloat(op, x, "X");
  const int axis = normalizeAxis(op, c.attrs().getInt("axis", -1), x.rank());
  const double eps = c.attrs().getFloat("epsilon", 1e-5);
  const DType stash = onnxDType(op, c.attrs().getInt("stash_type", 1));
  std::vector<int64_t> inner(x.shape.begin() + axis, x.shape.end());
  const int64_t H = product(inner), R = H ? x.numel() / H : 0;
  std::vector<double> gamma = broadcastTo(op, "scale", c.in(1), inner), beta;
  const Tensor *b = center ? c.input(2) : nullptr;
  if (b)
    beta = broadcastTo(op, "B", *b, inner);
  std::vector<double> mean(static_cast<size_t>(R)), inv(static_cast<size_t>(R));
  Tensor &y = c.output(0, x.dtype, x.shape);
  normRows(R, H, rowLoader(x, H), gamma.data(), b ? beta.data() : nullptr, eps, center, x.dtype,
           y.data, mean.data(), inv.data());
  std::vector<int64_t> sshape(x.shape.begin(), x.shape.begin() + axis);
  sshape.resize(x.shape.size(), 1);
  // LayerNormalization: Y, Mean, InvStdDev. Simplified: Y, inv_std_var.
  int next = 1;
  if (center && c.numOutputs() > next)
    statOutput(c, next++, stash, sshape, mean);
  if (c.numOutputs() > next && (center || op == "SimplifiedLayerNormalization"))
    statOutput(c, next++, stash, sshape, inv);
}

void layerNormKernel(KernelContext &c) { axisNorm(c, true); }
void rmsNormKernel(KernelContext &c) { axisNorm(c, false); }

// SkipLayerNormalization / SkipSimplifiedLayerNormalization (com.microsoft):
// sum = input + skip + bias over the last dim, normalized.
void skipNorm(KernelContext &c, bool center) {
  const std::string &op = c.opType();
  const Tensor &x = c.in(0);
  checkFloat(op, x, "input");
  INGOT_CHECK(x.rank() >= 1, op + ": input must have rank >= 1");
  const double eps = c.attrs().getFloat("epsilon", 1e-12);
  const int64_t H = x.shape.back(), R = H ? x.numel() / H : 0;
  const std::vector<int64_t> inner = {H};
  std::vector<double> sum = toDoubles(x);
  {
    std::vector<double> skip = broadcastTo(op, "skip", c.in(1), x.shape);
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += skip[i];
  }
  std::vector<double> gamma = broadcastTo(op, "gamma", c.in(2), inner), beta;
  const Tensor *betaT = center ? c.input(3) : nullptr;
  const Tensor *biasT = c.input(center ? 4 : 3);
  if (betaT)
    beta = broadcastTo(op, "beta", *betaT, inner);
  if (biasT) {
    std::vector<double> bias = broadcastTo(op, "bias", *biasT, inner);
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += bias[i % size_t(H)];
  }
  std::vector<double> mean(static_cast<size_t>(R)), inv(static_cast<size_t>(R));
  Tensor &y = c.output(0, x.dtype, x.shape);
  const double *sp = sum.data();
  normRows(
      R, H, [sp, H](int64_t r, double *buf) { std::copy(sp + r * H, sp + (r + 1) * H, buf); },
      gamma.data(), betaT ? beta.data() : nullptr, eps, center, x.dtype, y.data, mean.data(),
      inv.data());
  // Outputs: output, mean, inv_std_var, input_skip_bias_sum. onnxruntime
  // leaves mean/inv_std_var unset at inference; here they hold the values
  // (mean is 0 for the RMS form), shaped like the input with the last dim 1.
  std::vector<int64_t> sshape = x.shape;
  sshape.back() = 1;
  if (c.numOutputs() > 1)
    statOutput(c, 1, DType::F32, sshape, center ? mean : std::vector<double>(size_t(R), 0.0));
  if (c.numOutputs() > 2)
    statOutput(c, 2, DType::F32, sshape, inv);
  if (c.numOutputs() > 3) {
    Tensor &s = c.output(3, x.dtype, x.shape);
    storeDoubles(x.dtype, sum.data(), s.numel(), s.data);
  }
}

void skipLayerNormKernel(KernelContext &c) { skipNorm(c, true); }
void skipSimplifiedLayerNormKernel(KernelContext &c) { skipNorm(c, false); }

// Per-channel parameter of a [N, C, ...] norm, as C doubles.
std::vector<double> channelParam(const std::string &op, const Tensor &t, const char *what,
                                 int64_t C) {
  checkFloat(op, t, what);
  INGOT_CHECK(t.numel() == C, op + ": " + what + " has " + std::to_string(t.numel()) +
                                  " elements for " + std::to_string(C) + " channels");
  return toDoubles(t);
}

void batchNormKernel(KernelContext &c) {
  const std::string op = "BatchNormalization";
  const Tensor &x = c.in(0);
  checkFloat(op, x, "X");
  INGOT_CHECK(x.rank() >= 2, op + ": X must have rank >= 2, got " + shapeToString(x.shape));
  const int64_t N = x.shape[0], C = x.shape[1];
  const int64_t S = product(std::vector<int64_t>(x.shape.begin() + 2, x.shape.end()));
  const double eps = c.attrs().getFloat("epsilon", 1e-5);
  const double momentum = c.attrs().getFloat("momentum", 0.9);
  const bool training = c.attrs().getInt("training_mode", 0) != 0;
  std::vector<double> scale = channelParam(op, c.in(1), "scale", C);
  std::vector<double> bias = channelParam(op, c.in(2), "B", C);
  std::vector<double> mean = channelParam(op, c.in(3), "input_mean", C);
  std::vector<double> var = channelParam(op, c.in(4), "input_var", C);
  std::vector<double> xv = toDoubles(x);
  std::vector<double> useMean = mean, useVar = var;
  if (training) { // batch statistics (population variance) over N and spatial dims
    for (int64_t ch = 0; ch < C; ++ch) {
      double s = 0, ss = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < S; ++i)
          s += xv[size_t((n * C + ch) * S + i)];
      const double cnt = double(N * S), m = cnt ? s / cnt : 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < S; ++i) {
          const double d = xv[size_t((n * C + ch) * S + i)] - m;
          ss += d * d;
        }
      useMean[size_t(ch)] = m;
      useVar[size_t(ch)] = cnt ? ss / cnt : 0;
    }
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < C; ++ch) {
      const double inv = 1.0 / std::sqrt(useVar[size_t(ch)] + eps);
      for (int64_t i = 0; i < S; ++i) {
        double &v = xv[size_t((n * C + ch) * S + i)];
        v = (v - useMean[size_t(ch)]) * inv * scale[size_t(ch)] + bias[size_t(ch)];
      }
    }
  Tensor &y = c.output(0, x.dtype, x.shape);
  storeDoubles(x.dtype, xv.data(), y.numel(), y.data);
  // Training: running_mean/var = input·momentum + batch·(1 - momentum).
  const DType sdt = c.in(3).dtype;
  for (int k = 1; k <= 2 && k < c.numOutputs(); ++k) {
    std::vector<double> v(static_cast<size_t>(C));
    for (int64_t ch = 0; ch < C; ++ch) {
      const double in = (k == 1 ? mean : var)[size_t(ch)];
      const double cur = (k == 1 ? useMean : useVar)[size_t(ch)];
      v[size_t(ch)] = training ? in * momentum + cur * (1 - momentum) : in;
    }
    statOutput(c, k, sdt, {C}, v);
  }
}

void instanceNormKernel(KernelContext &c) {
  const std::string op = "InstanceNormalization";
  const Tensor &x = c.in(0);
  checkFloat(op, x, "input");
  INGOT_CHECK(x.rank() >= 2, op + ": input must have rank >= 2, got " + shapeToString(x.shape));
  const int64_t N = x.shape[0], C = x.shape[1];
  const int64_t S = product(std::vector<int64_t>(x.shape.begin() + 2, x.shape.end()));
  const double eps = c.attrs().getFloat("epsilon", 1e-5);
  std::vector<double> scale = channelParam(op, c.in(1), "scale", C);
  std::vector<double> bias = channelParam(op, c.in(2), "B", C);
  Tensor &y = c.output(0, x.dtype, x.shape);
  // Rows are (n, c) planes; gamma/beta are per row, so apply them per row.
  const size_t es = dtypeSize(x.dtype);
#pragma omp parallel if (x.numel() >= kParallelMin && N * C > 1)
  {
    std::vector<double> buf(static_cast<size_t>(S));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N * C; ++r) {
      loadDoubles(x.dtype, static_cast<const char *>(x.data) + r * S * int64_t(es), S, buf.data());
      double m = 0, ss = 0;
      for (double v : buf)
        m += v;
      m = S ? m / double(S) : 0;
      for (double v : buf)
        ss += (v - m) * (v - m);
      const double inv = 1.0 / std::sqrt((S ? ss / double(S) : 0) + eps);
      const int64_t ch = r % C;
      for (double &v : buf)
        v = (v - m) * inv * scale[size_t(ch)] + bias[size_t(ch)];
      storeDoubles(x.dtype, buf.data(), S, static_cast<char *>(y.data) + r * S * int64_t(es));
    }
  }
}

void mvnKernel(KernelContext &c) {
  const std::string op = "MeanVarianceNormalization";
  const Tensor &x = c.in(0);
  checkFloat(op, x, "X");
  std::vector<int64_t> axes = c.attrs().getInts("axes", {0, 2, 3});
  const int r = x.rank();
  std::vector<bool> red(size_t(r), false);
  for (int64_t a : axes)
    red[size_t(normalizeAxis(op, a, r))] = true;
  // Each element's group: its index over the kept dims.
  std::vector<int64_t> kst(size_t(r), 0);
  int64_t groups = 1;
  for (int d = r - 1; d >= 0; --d)
    if (!red[size_t(d)]) {
      kst[size_t(d)] = groups;
      groups *= x.shape[size_t(d)];
    }
  const int64_t n = x.numel();
  std::vector<int64_t> key(static_cast<size_t>(n));
  std::vector<int64_t> st = rowMajorStrides(x.shape);
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = 0;
    for (int d = 0; d < r; ++d)
      k += (i / st[size_t(d)] % x.shape[size_t(d)]) * kst[size_t(d)];
    key[size_t(i)] = k;
  }
  std::vector<double> xv = toDoubles(x), sum(size_t(groups), 0), ss(size_t(groups), 0);
  std::vector<int64_t> cnt(size_t(groups), 0);
  for (int64_t i = 0; i < n; ++i) {
    sum[size_t(key[size_t(i)])] += xv[size_t(i)];
    ++cnt[size_t(key[size_t(i)])];
  }
  for (int64_t g = 0; g < groups; ++g)
    sum[size_t(g)] = cnt[size_t(g)] ? sum[size_t(g)] / double(cnt[size_t(g)]) : 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = xv[size_t(i)] - sum[size_t(key[size_t(i)])];
    ss[size_t(key[size_t(i)])] += d * d;
  }
  // ONNX's function body: (X - E[X]) / (sqrt(Var[X]) + 1e-9).
  for (int64_t i = 0; i < n; ++i) {
    const size_t g = size_t(key[size_t(i)]);
    const double sd = std::sqrt(cnt[g] ? ss[g] / double(cnt[g]) : 0);
    xv[size_t(i)] = (xv[size_t(i)] - sum[g]) / (sd + 1e-9);
  }
  Tensor &y = c.output(0, x.dtype, x.shape);
  storeDoubles(x.dtype, xv.data(), n, y.data);
}

} // namespace

void registerNnNormKernels(Registry &r) {
  r.add("", "LayerNormalization", layerNormKernel);
  r.add("", "RMSNormalization", rmsNormKernel);
  r.add("", "BatchNormalization", batchNormKernel);
  r.add("", "InstanceNormalization", instanceNormKernel);
  r.add("", "MeanVarianceNormalization", mvnKernel);
  // onnxruntime declares SimplifiedLayerNormalization in the ONNX domain;
  // exporters also write it under com.microsoft.
  r.add("", "SimplifiedLayerNormalization", rmsNormKernel);
  r.add("com.microsoft", "SimplifiedLayerNormalization", rmsNormKernel);
  r.add("com.microsoft", "SkipSimplifiedLayerNormalization", skipSimplifiedLayerNormKernel);
  r.add("com.microsoft", "SkipLayerNormalization", skipLayerNormKernel);
}

} // namespace ingot::nd
