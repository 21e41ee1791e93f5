// onnxruntime's com.microsoft GroupQueryAttention with its CPU semantics (as of
// onnxruntime 1.32; checked against it by runtime/tests/nd_gqa_vs_ort.py).
//
// Inputs: query [B,S,Hq·D] (or packed [B,S,(Hq+2·Hkv)·D] when key and value
// are omitted), key/value [B,S,Hkv·D], past_key/past_value [B,Hkv,P,D] (BNSH),
// seqlens_k [B] (valid total length − 1 per row), total_sequence_length
// (scalar), cos_cache/sin_cache [max_pos, rd/2], position_ids [B,S],
// attention_bias [B|1, Hq|1, S, total], head_sink [Hq]. Outputs: output
// [B,S,Hq·D], present_key/present_value [B,Hkv,L,D] with
// L = max(total_sequence_length, P): P + S for a growing cache (total must
// then be P + S), P for a shared/static buffer (total <= P).
//
// Row b holds T = seqlens_k[b] + 1 tokens after this step. A first prompt
// (S == total_sequence_length) starts at position 0 and ignores the past;
// otherwise the row's past length is T − S. Query row s is at position
// pos = past + s; it sees keys j ≤ pos (causal) that are also < T, and with a
// local window W ≥ 0 only keys j > pos − W. Rows that see no key are zero.
// Right padding of a first prompt therefore behaves as in onnxruntime: padded
// query rows attend to the row's T valid keys, and present holds every new
// key/value (padded ones included) at [past, past + S), zeros elsewhere.
// Scores: scale·q·k (scale 0 → 1/sqrt(D)), then softcap·tanh(x/softcap), then
// + attention_bias; softmax with an extra exp(sink) term in the denominator
// when head_sink is given (smooth_softmax: sink 0).
//
// Not supported (an ingot::Error, never silently wrong): quantized caches
// (k_scale/v_scale, k_quant_type, kv_cache_bit_width), q/k_norm_weight,
// query_seqlens, sliding_window_cache, qk_output/output_qk.
//
// Values are computed in double and rounded once to the dtype; rotated q/k
// are rounded to the dtype first, as onnxruntime stores them. Each (batch,
// head) is computed alone, so the thread count cannot change a result.
#include "nd_copy.h"

#include <algorithm>
#include <cmath>

namespace ingot::nd {
namespace {

const std::string kOp = "GroupQueryAttention";

std::string dimsStr(std::initializer_list<int64_t> d) {
  return shapeToString(std::vector<int64_t>(d));
}

// Rounds values through the dtype (what storing them in a tensor does).
void roundTo(DType dt, std::vector<double> &v) {
  if (dt == DType::F64 || v.empty())
    return;
  std::vector<uint8_t> tmp(v.size() * dtypeSize(dt));
  storeDoubles(dt, v.data(), int64_t(v.size()), tmp.data());
  loadDoubles(dt, tmp.data(), int64_t(v.size()), v.data());
}

// Copies heads [h0, h0 + H) of a [B,S,W] tensor (as doubles) into [B,S,H,D].
std::vector<double> takeHeads(const std::vector<double> &src, int64_t B, int64_t S, int64_t W,
                              int64_t h0, int64_t H, int64_t D) {
  std::vector<double> out(size_t(B * S * H * D));
  for (int64_t r = 0; r < B * S; ++r)
    std::copy_n(src.begin() + r * W + h0 * D, H * D, out.begin() + r * H * D);
  return out;
}

// Every float input has the query's dtype (a past cache of another dtype
// would be a quantized cache).
void checkFloat(const Tensor &t, DType dt, const char *what, const char *hint = "") {
  INGOT_CHECK(t.dtype == dt, kOp + ": " + what + " has dtype " + dtypeName(t.dtype) +
                                 ", query has " + dtypeName(dt) + hint);
}

void gqaKernel(KernelContext &c) {
  const Attrs &at = c.attrs();
  // Features of the op this kernel does not implement: refuse them by name.
  static const char *const unsupportedInputs[] = {"k_scale", "v_scale", "q_norm_weight",
                                                  "k_norm_weight", "query_seqlens"};
  for (int i = 12; i < c.numInputs(); ++i)
    INGOT_CHECK(!c.input(i), kOp + ": input " + std::to_string(i) + " (" +
                                 (i < 17 ? unsupportedInputs[i - 12] : "unknown") +
                                 ") is not supported");
  INGOT_CHECK(at.getInt("sliding_window_cache", 0) == 0,
              kOp + ": sliding_window_cache=1 is not supported");
  INGOT_CHECK(at.getInt("qk_output", 0) == 0 && c.numOutputs() <= 3,
              kOp + ": the output_qk output (qk_output) is not supported");
  for (const char *q : {"k_quant_type", "v_quant_type"})
    INGOT_CHECK(at.getString(q, "NONE") == "NONE", kOp + ": " + q + "=" + at.getString(q, "") +
                                                       " (quantized caches) is not supported");

  const int64_t Hq = at.getInt("num_heads", 0), Hkv = at.getInt("kv_num_heads", 0);
  INGOT_CHECK(Hq > 0 && Hkv > 0, kOp + ": num_heads and kv_num_heads must be positive, got " +
                                     std::to_string(Hq) + " and " + std::to_string(Hkv));
  INGOT_CHECK(Hq % Hkv == 0, kOp + ": num_heads " + std::to_string(Hq) +
                                 " is not a multiple of kv_num_heads " + std::to_string(Hkv));
  const bool causal = at.getInt("causal", 1) != 0;
  const int64_t window = at.getInt("local_window_size", -1);
  INGOT_CHECK(window >= -1,
              kOp + ": local_window_size must be -1 (none) or >= 0, got " + std::to_string(window));
  INGOT_CHECK(causal || window == -1, kOp + ": local_window_size needs causal=1");
  const bool doRotary = at.getInt("do_rotary", 0) != 0;
  const bool interleaved = at.getInt("rotary_interleaved", 0) != 0;
  const double softcap = at.getFloat("softcap", 0.0);
  const bool smooth = at.getInt("smooth_softmax", 0) != 0;

  // Shapes.
  const Tensor &query = c.in(0);
  const Tensor *key = c.input(1), *value = c.input(2);
  const DType dt = query.dtype;
  INGOT_CHECK(isFloatDType(dt), kOp + ": query must be a float tensor, got " + dtypeName(dt));
  INGOT_CHECK(query.rank() == 3,
              kOp + ": query must be 3-D [batch, seq, hidden], got " + shapeToString(query.shape));
  INGOT_CHECK(!key == !value,
              kOp + ": key and value must both be given or both omitted (packed QKV)");
  const bool packed = !key;
  const int64_t B = query.shape[0], S = query.shape[1], W = query.shape[2];
  const int64_t heads = packed ? Hq + 2 * Hkv : Hq;
  INGOT_CHECK(W % heads == 0 && W > 0,
              kOp + ": query hidden size " + std::to_string(W) + " is not a positive multiple of " +
                  (packed ? "num_heads + 2*kv_num_heads = " : "num_heads = ") +
                  std::to_string(heads));
  const int64_t D = W / heads;
  if (!packed) {
    for (const Tensor *t : {key, value}) {
      const char *what = t == key ? "key" : "value";
      checkFloat(*t, dt, what);
      INGOT_CHECK(t->rank() == 3 && t->shape[0] == B && t->shape[1] == S && t->shape[2] == Hkv * D,
                  kOp + ": " + what + " must be [batch, seq, kv_num_heads*head_size] = " +
                      dimsStr({B, S, Hkv * D}) + ", got " + shapeToString(t->shape));
    }
  }
  const Tensor *pastK = c.input(3), *pastV = c.input(4);
  INGOT_CHECK(!pastK == !pastV,
              kOp + ": past_key and past_value must both be given or both omitted");
  int64_t P = 0;
  if (pastK) {
    P = pastK->rank() == 4 ? pastK->shape[2] : 0;
    for (const Tensor *t : {pastK, pastV}) {
      const char *what = t == pastK ? "past_key" : "past_value";
      checkFloat(*t, dt, what, " (quantized caches are not supported)");
      INGOT_CHECK(t->rank() == 4 && t->shape[0] == B && t->shape[1] == Hkv && t->shape[2] == P &&
                      t->shape[3] == D,
                  kOp + ": " + what + " must be [batch, kv_num_heads, past_seq, head_size] = " +
                      dimsStr({B, Hkv, P, D}) + ", got " + shapeToString(t->shape));
    }
  }
  const Tensor &seqlensT = c.in(5), &totalT = c.in(6);
  // [batch], or [batch, 1] as onnxruntime-genai's builder declares it
  // (ReduceSum with keepdims); onnxruntime accepts both.
  INGOT_CHECK((seqlensT.rank() == 1 && seqlensT.shape[0] == B) ||
                  (seqlensT.rank() == 2 && seqlensT.shape[0] == B && seqlensT.shape[1] == 1),
              kOp + ": seqlens_k must be [batch] or [batch, 1] with batch " + std::to_string(B) + ", got " +
                  shapeToString(seqlensT.shape));
  INGOT_CHECK(totalT.numel() == 1 && totalT.rank() <= 1,
              kOp + ": total_sequence_length must be a scalar, got " + shapeToString(totalT.shape));
  const std::vector<int64_t> seqlens = readInts(kOp, seqlensT);
  const int64_t total = readInts(kOp, totalT)[0];
  INGOT_CHECK(total >= S, kOp + ": total_sequence_length " + std::to_string(total) +
                              " is less than the sequence length " + std::to_string(S));
  INGOT_CHECK(total == P + S || total <= P,
              kOp + ": total_sequence_length " + std::to_string(total) +
                  " must be past_seq + seq = " + std::to_string(P + S) +
                  " or, for a shared buffer, at most past_seq = " + std::to_string(P));
  const bool firstPrompt = S == total;
  const int64_t L = std::max(total, P); // present length
  std::vector<int64_t> past(static_cast<size_t>(B)), T(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t sk = seqlens[size_t(b)];
    INGOT_CHECK(sk >= 0 && sk < total, kOp + ": seqlens_k[" + std::to_string(b) +
                                           "] = " + std::to_string(sk) + " is outside [0, " +
                                           std::to_string(total) + ")");
    T[size_t(b)] = sk + 1;
    INGOT_CHECK(firstPrompt || sk + 1 >= S,
                kOp + ": seqlens_k[" + std::to_string(b) + "] + 1 = " + std::to_string(sk + 1) +
                    " is less than the " + std::to_string(S) + " new tokens");
    past[size_t(b)] = firstPrompt ? 0 : sk + 1 - S; // <= P by the total check
  }

  // Rotary caches and positions.
  const Tensor *cosT = c.input(7), *sinT = c.input(8), *posT = c.input(9);
  INGOT_CHECK(!cosT == !sinT, kOp + ": cos_cache and sin_cache must both be given or both omitted");
  std::vector<double> cosv, sinv;
  int64_t rd = 0, maxPos = 0;
  std::vector<int64_t> posIds;
  if (doRotary) {
    INGOT_CHECK(cosT, kOp + ": do_rotary=1 needs cos_cache and sin_cache");
    checkFloat(*cosT, dt, "cos_cache");
    checkFloat(*sinT, dt, "sin_cache");
    INGOT_CHECK(cosT->rank() == 2 && cosT->shape == sinT->shape,
                kOp + ": cos_cache " + shapeToString(cosT->shape) + " and sin_cache " +
                    shapeToString(sinT->shape) + " must be the same 2-D [max_pos, rotary_dim/2]");
    maxPos = cosT->shape[0];
    rd = 2 * cosT->shape[1];
    INGOT_CHECK(rd > 0 && rd <= D, kOp + ": rotary dim 2*" + std::to_string(rd / 2) +
                                       " must be in [2, head_size " + std::to_string(D) + "]");
    cosv = toDoubles(*cosT);
    sinv = toDoubles(*sinT);
    if (posT) {
      INGOT_CHECK(posT->rank() == 2 && posT->shape[0] == B && posT->shape[1] == S,
                  kOp + ": position_ids must be [batch, seq] = " + dimsStr({B, S}) + ", got " +
                      shapeToString(posT->shape));
      posIds = readInts(kOp, *posT);
    }
  }
  // Position of the rotation of token (b, s). A first prompt with
  // position_ids uses only its first element (onnxruntime's rule).
  auto rotPos = [&](int64_t b, int64_t s) -> int64_t {
    if (posIds.empty())
      return past[size_t(b)] + s;
    return firstPrompt ? posIds[0] + s : posIds[size_t(b * S + s)];
  };
  if (doRotary)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t p = rotPos(b, s);
        INGOT_CHECK(p >= 0 && p < maxPos, kOp + ": rotary position " + std::to_string(p) +
                                              " is outside the cos/sin cache of " +
                                              std::to_string(maxPos) + " positions");
      }

  const Tensor *biasT = c.input(10), *sinkT = c.input(11);
  std::vector<double> bias, sink;
  int64_t biasB = 0, biasH = 0;
  if (biasT) {
    checkFloat(*biasT, dt, "attention_bias");
    INGOT_CHECK(biasT->rank() == 4 && (biasT->shape[0] == B || biasT->shape[0] == 1) &&
                    (biasT->shape[1] == Hq || biasT->shape[1] == 1) && biasT->shape[2] == S &&
                    biasT->shape[3] == total,
                kOp + ": attention_bias must be [batch|1, num_heads|1, seq, total_seq] = " +
                    dimsStr({B, Hq, S, total}) + ", got " + shapeToString(biasT->shape));
    biasB = biasT->shape[0];
    biasH = biasT->shape[1];
    bias = toDoubles(*biasT);
  }
  if (sinkT) {
    checkFloat(*sinkT, dt, "head_sink");
    INGOT_CHECK(sinkT->rank() == 1 && sinkT->shape[0] == Hq,
                kOp + ": head_sink must be [num_heads] = [" + std::to_string(Hq) + "], got " +
                    shapeToString(sinkT->shape));
    sink = toDoubles(*sinkT);
  } else if (smooth) {
    sink.assign(size_t(Hq), 0.0);
  }

  // Q, K, V as [B,S,H,D] doubles, rotated.
  std::vector<double> q, k, v;
  {
    const std::vector<double> qa = toDoubles(query);
    q = takeHeads(qa, B, S, W, 0, Hq, D);
    if (packed) {
      k = takeHeads(qa, B, S, W, Hq, Hkv, D);
      v = takeHeads(qa, B, S, W, Hq + Hkv, Hkv, D);
    } else {
      k = toDoubles(*key);
      v = toDoubles(*value);
    }
  }
  if (doRotary) {
    const int64_t half = rd / 2;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t co = rotPos(b, s) * half;
        for (int64_t h = 0; h < Hq; ++h)
          rotateHead(&q[size_t(((b * S + s) * Hq + h) * D)], &cosv[size_t(co)], &sinv[size_t(co)],
                     rd, interleaved);
        for (int64_t h = 0; h < Hkv; ++h)
          rotateHead(&k[size_t(((b * S + s) * Hkv + h) * D)], &cosv[size_t(co)], &sinv[size_t(co)],
                     rd, interleaved);
      }
    roundTo(dt, q);
    roundTo(dt, k);
  }

  // Present K/V [B,Hkv,L,D]: the row's past, then the S new tokens, zeros after.
  std::vector<double> pk(size_t(B * Hkv * L * D), 0.0), pv(pk.size(), 0.0);
  {
    const std::vector<double> pastKv = pastK ? toDoubles(*pastK) : std::vector<double>();
    const std::vector<double> pastVv = pastV ? toDoubles(*pastV) : std::vector<double>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t g = 0; g < Hkv; ++g) {
        const int64_t dst = (b * Hkv + g) * L * D, src = (b * Hkv + g) * P * D;
        const int64_t n = past[size_t(b)] * D;
        if (n) {
          std::copy_n(pastKv.begin() + src, n, pk.begin() + dst);
          std::copy_n(pastVv.begin() + src, n, pv.begin() + dst);
        }
        for (int64_t s = 0; s < S; ++s) {
          const int64_t from = ((b * S + s) * Hkv + g) * D, to = dst + (past[size_t(b)] + s) * D;
          std::copy_n(k.begin() + from, D, pk.begin() + to);
          std::copy_n(v.begin() + from, D, pv.begin() + to);
        }
      }
  }

  // Attention per (batch, query head).
  const double scale =
      at.getFloat("scale", 0.0) != 0.0 ? at.getFloat("scale", 0.0) : 1.0 / std::sqrt(double(D));
  const int64_t group = Hq / Hkv;
  std::vector<double> out(size_t(B * S * Hq * D), 0.0);
  const double work = double(B) * double(Hq) * double(S) * double(L) * double(D);
#pragma omp parallel if (work >= double(1 << 16))
  {
    std::vector<double> p(static_cast<size_t>(L));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * Hq; ++bh) {
      const int64_t b = bh / Hq, h = bh % Hq, g = h / group;
      const double *K = &pk[size_t((b * Hkv + g) * L * D)], *V = &pv[size_t((b * Hkv + g) * L * D)];
      for (int64_t s = 0; s < S; ++s) {
        const int64_t pos = past[size_t(b)] + s;
        const int64_t hi = causal ? std::min(pos + 1, T[size_t(b)]) : T[size_t(b)];
        const int64_t lo = window >= 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
        if (lo >= hi)
          continue; // no visible key: zeros
        const double *qv = &q[size_t(((b * S + s) * Hq + h) * D)];
        const double *brow =
            bias.empty()
                ? nullptr
                : &bias[size_t((((biasB == 1 ? 0 : b) * biasH + (biasH == 1 ? 0 : h)) * S + s) *
                               total)];
        double m = -INFINITY;
        for (int64_t j = lo; j < hi; ++j) {
          double x = 0;
          for (int64_t d = 0; d < D; ++d)
            x += qv[d] * K[j * D + d];
          x *= scale;
          if (softcap > 0)
            x = softcap * std::tanh(x / softcap);
          if (brow)
            x += brow[j];
          p[size_t(j)] = x;
          m = std::max(m, x);
        }
        if (!sink.empty())
          m = std::max(m, sink[size_t(h)]);
        double sum = sink.empty() ? 0.0 : std::exp(sink[size_t(h)] - m);
        for (int64_t j = lo; j < hi; ++j)
          sum += (p[size_t(j)] = std::exp(p[size_t(j)] - m));
        double *o = &out[size_t(((b * S + s) * Hq + h) * D)];
        for (int64_t j = lo; j < hi; ++j) {
          const double w = p[size_t(j)] / sum;
          for (int64_t d = 0; d < D; ++d)
            o[d] += w * V[j * D + d];
        }
      }
    }
  }

  Tensor &y = c.output(0, dt, {B, S, Hq * D});
  storeDoubles(dt, out.data(), y.numel(), y.data);
  for (int i = 1; i < 3 && i < c.numOutputs(); ++i) {
    Tensor &t = c.output(i, dt, {B, Hkv, L, D});
    storeDoubles(dt, (i == 1 ? pk : pv).data(), t.numel(), t.data);
  }
}

} // namespace

void registerNnAttentionKernels(Registry &r) {
  r.add("com.microsoft", "GroupQueryAttention", gqaKernel);
}

} // namespace ingot::nd
