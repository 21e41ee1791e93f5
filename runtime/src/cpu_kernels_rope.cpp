// Rotary position embedding. Inverse frequencies and angles are computed in
// fp32 in the same order of operations as Hugging Face transformers
// (modeling_rope_utils.py: default, linear and `_compute_llama3_parameters`;
// angle = float(position) * inv_freq), so long positions round like HF's.
#include "cpu_kernels.h"

#include <cmath>
#include <cstring>

namespace ingot {
namespace cpu {

std::vector<float> ropeInvFreq(const RopeParams &p) {
  const int half = p.rotaryDim / 2;
  std::vector<float> inv(static_cast<size_t>(half > 0 ? half : 0));
  const float base = float(p.theta);
  for (int i = 0; i < half; ++i) {
    // HF: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all fp32.
    const float e = float(2 * i) / float(p.rotaryDim);
    inv[size_t(i)] = 1.0f / std::pow(base, e);
  }
  if (p.scaling == RopeParams::Scaling::Linear) {
    for (float &f : inv)
      f = f / float(p.factor);
  } else if (p.scaling == RopeParams::Scaling::Llama3) {
    const float factor = float(p.factor);
    const float lowF = float(p.lowFreqFactor);
    const float highF = float(p.highFreqFactor);
    const float oldCtx = float(p.originalMaxPosition);
    const float lowWavelen = float(double(p.originalMaxPosition) / p.lowFreqFactor);
    const float highWavelen = float(double(p.originalMaxPosition) / p.highFreqFactor);
    const float twoPi = float(2.0 * M_PI);
    for (float &f : inv) {
      const float wavelen = twoPi / f;
      // wavelen > low_freq_wavelen: divide by factor; < high: keep;
      // in between: interpolate with the smooth factor.
      float scaled = wavelen > lowWavelen ? f / factor : f;
      const bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      if (medium) {
        const float smooth = (oldCtx / wavelen - lowF) / (highF - lowF);
        scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
      }
      f = scaled;
    }
  }
  return inv;
}

void rope(const float *x, int64_t T, int numHeads, const int32_t *positions,
          const RopeParams &p, const std::vector<float> &invFreq, float *out) {
  const int64_t d = p.headDim;
  const int64_t width = int64_t(numHeads) * d;
  const int half = p.rotaryDim / 2;
#pragma omp parallel
  {
    std::vector<float> cs(static_cast<size_t>(2 * half));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; ++t) {
      const float pos = float(positions[t]);
      for (int j = 0; j < half; ++j) {
        const float ang = pos * invFreq[size_t(j)];
        cs[size_t(2 * j)] = float(std::cos(double(ang)));
        cs[size_t(2 * j + 1)] = float(std::sin(double(ang)));
      }
      const float *xr = x + t * width;
      float *orow = out + t * width;
      for (int h = 0; h < numHeads; ++h) {
        const float *xh = xr + h * d;
        float *oh = orow + h * d;
        if (p.interleaved) {
          for (int j = 0; j < half; ++j) {
            const float c = cs[size_t(2 * j)], s = cs[size_t(2 * j + 1)];
            const float a = xh[2 * j], b = xh[2 * j + 1];
            oh[2 * j] = a * c - b * s;
            oh[2 * j + 1] = b * c + a * s;
          }
        } else {
          for (int j = 0; j < half; ++j) {
            const float c = cs[size_t(2 * j)], s = cs[size_t(2 * j + 1)];
            const float a = xh[j], b = xh[j + half];
            oh[j] = a * c - b * s;
            oh[j + half] = b * c + a * s;
          }
        }
        if (oh != xh)
          std::memcpy(oh + p.rotaryDim, xh + p.rotaryDim,
                      sizeof(float) * size_t(d - p.rotaryDim));
      }
    }
  }
}

} // namespace cpu
} // namespace ingot
