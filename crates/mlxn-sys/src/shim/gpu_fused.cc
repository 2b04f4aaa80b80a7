// Fused kernels for a decoder layer on CUDA GPUs (MLX's `fast::cuda_kernel`, compiled by NVRTC
// the first time each variant runs; shapes that change from step to step are read at run time,
// so one module serves every batch size and length).
//
// On a GPU a decoding step of a small model is bound by the host encoding its kernels (a few
// microseconds each, docs/benchmarks.md), not by the device running them. Three chains of a
// Qwen3 layer are one kernel here instead of several:
// - `qk_norm_rope`: the q and k RMS norms and both rotary embeddings (four kernels, plus the
//   copies MLX's RMSNorm makes of the strided head slices of a stacked q/k/v product), reading
//   the projections in place and writing q and k in [B, heads, L, headDim];
// - `add_rms_norm`: a residual add and the RMS norm that follows it (two kernels);
// - `masked_decode_attention`: a decoding step's attention under an explicit mask (a
//   left-padded batch), which MLX's fused vector attention does not take on CUDA.
// The first two reproduce MLX's own rounding: the sum and the normalized value are rounded to
// the activation dtype before the weight multiplies them, the rotation is computed in float32
// from the rounded normed values with MLX's frequencies. Only the sum of squares is added in
// another order, so results may differ from the separate kernels in the last bit of a few
// elements. The attention computes in float32 throughout. Parity is checked on the GPU
// (tooling/bench/fused-parity.ts); the CPU never takes this path.
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "shim.h"

namespace mlxn {

namespace {

// A float as a CUDA literal that reads back to the same float32.
std::string float_literal(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9ef", static_cast<double>(v));
  return buf;
}

// Threads per block for one head: a pair of elements each, rounded up to whole warps.
int head_threads(int head_dim) { return ((head_dim / 2 + 31) / 32) * 32; }

// Sums `v` over the block (blockDim.x a multiple of 32, at most 1024) and hands every thread
// the total.
constexpr const char* kBlockSum = R"(
__device__ __forceinline__ float mlxn_block_sum(float v, float* part) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  float total = 0.f;
  for (int i = 0; i < warps; ++i) total += part[i];
  return total;
}
)";

constexpr const char* kQkNormRope = R"(
  __shared__ float part[32];
  constexpr int HALF = HEAD_DIM / 2;
  const long block = blockIdx.x;
  const int head = static_cast<int>(block % (N_Q + N_K));
  const long row = block / (N_Q + N_K);
  // The sequence length is read at run time (q_src is [B, L, width]): one compiled module
  // serves every prompt length and batch size.
  const int seq = q_src_shape[1];
  const int b = static_cast<int>(row / seq), t = static_cast<int>(row % seq);
  const bool is_q = head < N_Q;
  const int h = is_q ? head : head - N_Q;
  const T* src = is_q ? q_src + row * Q_STRIDE + Q_COL + h * HEAD_DIM
                      : k_src + row * K_STRIDE + K_COL + h * HEAD_DIM;
  const T* w = is_q ? q_weight : k_weight;
  const int i = threadIdx.x;
  const bool active = i < HALF;
  const int i1 = TRADITIONAL ? 2 * i : i;
  const int i2 = TRADITIONAL ? 2 * i + 1 : i + HALF;
  float a = 0.f, c = 0.f;
  if (active) {
    a = static_cast<float>(src[i1]);
    c = static_cast<float>(src[i2]);
  }
  const float total = mlxn_block_sum(a * a + c * c, part);
  if (!active) return;
  const float inv = rsqrtf(total / HEAD_DIM + (is_q ? Q_EPS : K_EPS));
  const float n1 = static_cast<float>(static_cast<T>(static_cast<float>(w[i1]) * static_cast<float>(static_cast<T>(a * inv))));
  const float n2 = static_cast<float>(static_cast<T>(static_cast<float>(w[i2]) * static_cast<float>(static_cast<T>(c * inv))));
  const int start = PER_ROW_OFFSET ? offset[b] : offset[0];
  const float position = ROPE_SCALE * static_cast<float>(t + start);
  const float inv_freq = exp2f(-(static_cast<float>(i) / static_cast<float>(HALF)) * LOG2_BASE);
  const float theta = position * inv_freq;
  const float cs = cosf(theta), sn = sinf(theta);
  T* out = is_q ? q_out + ((static_cast<long>(b) * N_Q + h) * seq + t) * HEAD_DIM
                : k_out + ((static_cast<long>(b) * N_K + h) * seq + t) * HEAD_DIM;
  out[i1] = static_cast<T>(n1 * cs - n2 * sn);
  out[i2] = static_cast<T>(n1 * sn + n2 * cs);
)";

constexpr int kNormThreads = 256;

constexpr const char* kAddRmsNorm = R"(
  __shared__ float part[32];
  constexpr int PER_THREAD = (WIDTH + THREADS - 1) / THREADS;
  const long row = blockIdx.x;
  const T* x = residual + row * WIDTH;
  const T* d = delta + row * WIDTH;
  T* s = sum + row * WIDTH;
  T* y = normed + row * WIDTH;
  float v[PER_THREAD];
  float squares = 0.f;
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int j = k * THREADS + threadIdx.x;
    v[k] = 0.f;
    if (j < WIDTH) {
      const T r = static_cast<T>(static_cast<float>(x[j]) + static_cast<float>(d[j]));
      s[j] = r;
      v[k] = static_cast<float>(r);
      squares += v[k] * v[k];
    }
  }
  const float total = mlxn_block_sum(squares, part);
  const float inv = rsqrtf(total / WIDTH + EPS);
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int j = k * THREADS + threadIdx.x;
    if (j < WIDTH) y[j] = static_cast<T>(static_cast<float>(weight[j]) * static_cast<float>(static_cast<T>(v[k] * inv)));
  }
)";

// One query per row (a decoding step) against keys and values read in place from the caches'
// strided views, with an explicit mask (bool: attend where true; else added to the scores).
// One block per (row, query head) of WARPS warps; each lane holds PER_LANE of the head's
// dimensions, so a key's score is one coalesced row read and a warp sum. Each warp takes
// KEYS_AT_ONCE keys per turn with independent loads and sums in flight (one key at a time, a
// warp waited out a memory round trip per key: 8 warps over 2,000 keys measured slower than
// MLX's unfused fallback on an H200), with an online softmax over the turn; the warps' partial
// results are merged at the end. MLX's fused vector attention on CUDA takes no array mask, and
// its fallback runs about five kernels per layer (two products, the mask, a softmax, copies of
// the strided caches).
// 16 warps: 512 threads leave each up to 128 registers (MLX's generated kernel declares no
// launch bounds).
constexpr int kAttentionWarps = 16;

constexpr const char* kMaskedDecodeAttention = R"(
  constexpr int PER_LANE = HEAD_DIM / 32;
  constexpr int KEYS_AT_ONCE = 4;
  const float NEG_INF = __int_as_float(0xff800000);
  __shared__ float warp_max[WARPS], warp_sum[WARPS];
  __shared__ float warp_acc[WARPS][HEAD_DIM];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n_q = q_shape[1], n_kv = k_shape[1], keys = k_shape[2];
  const int b = blockIdx.x / n_q, h = blockIdx.x % n_q, hk = h / (n_q / n_kv);
  float qv[PER_LANE], acc[PER_LANE];
#pragma unroll
  for (int i = 0; i < PER_LANE; ++i) {
    const long d = lane * PER_LANE + i;
    qv[i] = static_cast<float>(q[b * q_strides[0] + h * q_strides[1] + d * q_strides[3]]) * SCALE;
    acc[i] = 0.f;
  }
  const long mask_base = (mask_shape[0] == 1 ? 0 : b * mask_strides[0]) + (mask_shape[1] == 1 ? 0 : h * mask_strides[1]);
  const long k_base = b * k_strides[0] + hk * k_strides[1] + lane * PER_LANE * k_strides[3];
  const long v_base = b * v_strides[0] + hk * v_strides[1] + lane * PER_LANE * v_strides[3];
  float m = NEG_INF, l = 0.f;
  // Turn `first`: keys first + u * WARPS, u < KEYS_AT_ONCE (the warps interleave key by key).
  for (int first = warp; first < keys; first += WARPS * KEYS_AT_ONCE) {
    float s[KEYS_AT_ONCE], bias[KEYS_AT_ONCE];
    bool seen[KEYS_AT_ONCE];
#pragma unroll
    for (int u = 0; u < KEYS_AT_ONCE; ++u) {
      const int j = first + u * WARPS;
      seen[u] = j < keys;
      bias[u] = 0.f;
      if (seen[u]) {
        const auto mv = mask[mask_base + j * mask_strides[3]];
        if constexpr (BOOL_MASK) {
          seen[u] = static_cast<bool>(mv);
        } else {
          bias[u] = static_cast<float>(mv);
        }
      }
      // The same key for the whole warp: the branch is uniform.
      float dot = 0.f;
      if (seen[u]) {
#pragma unroll
        for (int i = 0; i < PER_LANE; ++i) dot += qv[i] * static_cast<float>(k[k_base + j * k_strides[2] + i * k_strides[3]]);
      }
      s[u] = dot;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
      for (int u = 0; u < KEYS_AT_ONCE; ++u) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
    }
    // The mask after the warp sum: each lane holds a part of the dot product, not of the bias.
#pragma unroll
    for (int u = 0; u < KEYS_AT_ONCE; ++u) s[u] += bias[u];
    float m_new = m;
#pragma unroll
    for (int u = 0; u < KEYS_AT_ONCE; ++u) {
      if (!seen[u]) s[u] = NEG_INF;
      m_new = fmaxf(m_new, s[u]);
    }
    if (m_new == NEG_INF) continue;  // nothing seen yet (uniform across the warp)
    const float correction = expf(m - m_new);
    l *= correction;
#pragma unroll
    for (int i = 0; i < PER_LANE; ++i) acc[i] *= correction;
#pragma unroll
    for (int u = 0; u < KEYS_AT_ONCE; ++u) {
      if (s[u] == NEG_INF) continue;
      const float p = expf(s[u] - m_new);
      const int j = first + u * WARPS;
      l += p;
#pragma unroll
      for (int i = 0; i < PER_LANE; ++i) acc[i] += p * static_cast<float>(v[v_base + j * v_strides[2] + i * v_strides[3]]);
    }
    m = m_new;
  }
  if (lane == 0) {
    warp_max[warp] = m;
    warp_sum[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < PER_LANE; ++i) warp_acc[warp][lane * PER_LANE + i] = acc[i];
  __syncthreads();
  float top = NEG_INF;
  for (int w = 0; w < WARPS; ++w) top = fmaxf(top, warp_max[w]);
  if constexpr (BOOL_MASK) {
    // Every key hidden: MLX scores hidden keys with the format's lowest value, so its softmax is
    // uniform and the row is the mean of the values. (An additive mask of -inf everywhere gives
    // NaN on both sides.) The same for every thread of the block: no barrier follows.
    if (top == NEG_INF) {
      const long row_base = b * v_strides[0] + hk * v_strides[1];
      for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float total = 0.f;
        for (int j = 0; j < keys; ++j) total += static_cast<float>(v[row_base + j * v_strides[2] + d * v_strides[3]]);
        out[static_cast<long>(blockIdx.x) * HEAD_DIM + d] = static_cast<T>(total / keys);
      }
      return;
    }
  }
  for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
    float total = 0.f, value = 0.f;
    for (int w = 0; w < WARPS; ++w) {
      const float weight = warp_max[w] == NEG_INF ? 0.f : expf(warp_max[w] - top);
      total += warp_sum[w] * weight;
      value += warp_acc[w][d] * weight;
    }
    out[static_cast<long>(blockIdx.x) * HEAD_DIM + d] = static_cast<T>(value / total);
  }
)";

// MLX's kernel function for this source and header, made once per process: making one scans
// the source for each input's name, and the attention kernel is called per layer per step
// outside compiled blocks.
const mx::fast::CustomKernelFunction& kernel_for(const char* name, const std::vector<std::string>& inputs,
                                                 const std::vector<std::string>& outputs, const char* source,
                                                 const std::string& header, bool ensure_row_contiguous) {
  static std::mutex lock;
  static std::map<std::string, mx::fast::CustomKernelFunction> kernels;
  std::lock_guard<std::mutex> guard(lock);
  auto key = std::string(name) + '\n' + header;
  auto it = kernels.find(key);
  if (it == kernels.end()) {
    it = kernels.emplace(key, mx::fast::cuda_kernel(name, inputs, outputs, source, header, ensure_row_contiguous)).first;
  }
  return it->second;  // std::map keeps its elements in place
}

bool is_float_type(mx::Dtype t) { return t == mx::float32 || t == mx::float16 || t == mx::bfloat16; }

}  // namespace

bool is_tracer(const MlxArray& a) { return a.inner.is_tracer(); }

bool gpu_fused_kernels_usable() {
  return mx::default_device().type == mx::Device::gpu && mx::cu::is_available();
}

ListPtr gpu_qk_norm_rope(const MlxArray& q_src, const MlxArray& k_src, const MlxArray& q_weight,
                         const MlxArray& k_weight, const MlxArray& offset, int32_t batch, int32_t seq,
                         int32_t n_q, int32_t n_k, int32_t head_dim, int64_t q_stride, int64_t q_col,
                         int64_t k_stride, int64_t k_col, float q_eps, float k_eps, bool traditional, float base,
                         float scale) {
  const auto dtype = q_src.inner.dtype();
  const auto is_head_weight = [&](const mx::array& w) {
    return w.dtype() == dtype && w.ndim() == 1 && w.shape(0) == head_dim;
  };
  const bool per_row = offset.inner.ndim() == 1;
  // Anything else runs the separate ops (the caller's fallback for a null result).
  if (!is_float_type(dtype) || k_src.inner.dtype() != dtype || !is_head_weight(q_weight.inner) ||
      !is_head_weight(k_weight.inner) || offset.inner.dtype() != mx::int32 || head_dim <= 0 || head_dim % 2 != 0 ||
      head_dim > 2048 || offset.inner.ndim() > 1 || (per_row && offset.inner.shape(0) != batch) || batch <= 0 ||
      seq <= 0 || n_q <= 0 || n_k <= 0 || q_col < 0 || k_col < 0 ||
      q_col + static_cast<int64_t>(n_q) * head_dim > q_stride || k_col + static_cast<int64_t>(n_k) * head_dim > k_stride ||
      q_src.inner.ndim() != 2 || k_src.inner.ndim() != 2 || q_src.inner.shape(0) != batch * seq ||
      k_src.inner.shape(0) != batch * seq || q_src.inner.shape(1) != q_stride || k_src.inner.shape(1) != k_stride) {
    return nullptr;
  }
  // Baked into the source: one compiled module per model configuration.
  std::string header = kBlockSum;
  header += "constexpr float Q_EPS = " + float_literal(q_eps) + ";\n";
  header += "constexpr float K_EPS = " + float_literal(k_eps) + ";\n";
  // MLX passes log2(base) computed in float32 to its rope kernels; so does this.
  header += "constexpr float LOG2_BASE = " + float_literal(std::log2(base)) + ";\n";
  header += "constexpr float ROPE_SCALE = " + float_literal(scale) + ";\n";
  const auto& kernel = kernel_for("mlxn_qk_norm_rope", {"q_src", "k_src", "q_weight", "k_weight", "offset"},
                                      {"q_out", "k_out"}, kQkNormRope, header, /*ensure_row_contiguous=*/true);
  const int threads = head_threads(head_dim);
  const long blocks = static_cast<long>(batch) * seq * (n_q + n_k);
  if (blocks * threads > INT32_MAX) return nullptr;
  const auto q3 = mx::reshape(q_src.inner, {batch, seq, static_cast<int>(q_stride)});
  const auto k3 = mx::reshape(k_src.inner, {batch, seq, static_cast<int>(k_stride)});
  auto outs = kernel({q3, k3, q_weight.inner, k_weight.inner, offset.inner},
                     {{batch, n_q, seq, head_dim}, {batch, n_k, seq, head_dim}}, {dtype, dtype},
                     {static_cast<int>(blocks * threads), 1, 1}, {threads, 1, 1},
                     {{"T", dtype}, {"HEAD_DIM", head_dim}, {"N_Q", n_q}, {"N_K", n_k},
                      {"Q_STRIDE", static_cast<int>(q_stride)}, {"Q_COL", static_cast<int>(q_col)},
                      {"K_STRIDE", static_cast<int>(k_stride)}, {"K_COL", static_cast<int>(k_col)},
                      {"TRADITIONAL", traditional}, {"PER_ROW_OFFSET", per_row}},
                     std::nullopt, false, {});
  return wrap_list(std::move(outs));
}

ArrayPtr gpu_masked_decode_attention(const MlxArray& queries, const MlxArray& keys, const MlxArray& values,
                                     const MlxArray& mask, float scale) {
  const auto &q = queries.inner, &k = keys.inner, &v = values.inner, &m = mask.inner;
  const auto dtype = q.dtype();
  const bool bool_mask = m.dtype() == mx::bool_;
  if (!is_float_type(dtype) || k.dtype() != dtype || v.dtype() != dtype || (!bool_mask && !is_float_type(m.dtype())) ||
      q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4 || m.ndim() != 4 || q.shape(2) != 1 || k.shape() != v.shape() ||
      q.shape(0) != k.shape(0) || q.shape(3) != k.shape(3) || k.shape(1) == 0 || q.shape(1) % k.shape(1) != 0 ||
      q.shape(3) % 32 != 0 || q.shape(3) > 256 || m.shape(2) != 1 || m.shape(3) != k.shape(2) ||
      (m.shape(0) != 1 && m.shape(0) != q.shape(0)) || (m.shape(1) != 1 && m.shape(1) != q.shape(1))) {
    return nullptr;  // the caller runs MLX's attention instead
  }
  std::string header = "constexpr float SCALE = " + float_literal(scale) + ";\n";
  const auto& kernel = kernel_for("mlxn_masked_decode_attention", {"q", "k", "v", "mask"}, {"out"},
                                      kMaskedDecodeAttention, header, /*ensure_row_contiguous=*/false);
  const int blocks = q.shape(0) * q.shape(1), threads = 32 * kAttentionWarps;
  auto outs = kernel({q, k, v, m}, {q.shape()}, {dtype}, {blocks * threads, 1, 1}, {threads, 1, 1},
                     {{"T", dtype}, {"HEAD_DIM", q.shape(3)}, {"WARPS", kAttentionWarps}, {"BOOL_MASK", bool_mask}},
                     std::nullopt, false, {});
  return wrap(std::move(outs[0]));
}

ListPtr gpu_add_rms_norm(const MlxArray& residual, const MlxArray& delta, const MlxArray& weight, float eps) {
  const auto& x = residual.inner;
  const auto dtype = x.dtype();
  // Anything else runs the separate ops (the caller's fallback for a null result).
  if (!is_float_type(dtype) || delta.inner.dtype() != dtype || weight.inner.dtype() != dtype || x.ndim() != 2 ||
      delta.inner.shape() != x.shape() || weight.inner.ndim() != 1 || weight.inner.shape(0) != x.shape(1) ||
      x.shape(1) > 64 * kNormThreads || static_cast<long>(x.shape(0)) * kNormThreads > INT32_MAX) {
    return nullptr;
  }
  const int rows = x.shape(0), width = x.shape(1);
  std::string header = kBlockSum;
  header += "constexpr float EPS = " + float_literal(eps) + ";\n";
  const auto& kernel = kernel_for("mlxn_add_rms_norm", {"residual", "delta", "weight"}, {"sum", "normed"},
                                      kAddRmsNorm, header, /*ensure_row_contiguous=*/true);
  auto outs = kernel({x, delta.inner, weight.inner}, {x.shape(), x.shape()}, {dtype, dtype},
                     {rows * kNormThreads, 1, 1}, {kNormThreads, 1, 1},
                     {{"T", dtype}, {"WIDTH", width}, {"THREADS", kNormThreads}}, std::nullopt, false, {});
  return wrap_list(std::move(outs));
}

}  // namespace mlxn
