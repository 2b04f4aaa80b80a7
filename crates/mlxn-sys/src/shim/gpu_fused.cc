// Fused kernels for a decoder layer on CUDA GPUs (MLX's `fast::precompiled_cuda_kernel`, with
// PTX compiled by NVRTC the first time each variant runs: gpu_kernel_compile.cc; sizes that
// change from step to step are arguments, so one module serves every batch size and length).
//
// On a GPU a decoding step of a small model is bound by the host encoding its kernels (a few
// microseconds each, docs/benchmarks.md), not by the device running them. Three chains of a
// Qwen3 layer are one kernel here instead of several:
// - `qkv_heads`: the q and k RMS norms and both rotary embeddings (four kernels, plus the
//   copies MLX's RMSNorm makes of the strided head slices of a stacked q/k/v product), reading
//   the projections in place and writing q, k and v in [B, heads, L, headDim] (v copied: its
//   heads as views would be three more nodes, a reshape and a slice, and a copy when written
//   into the cache anyway);
// - `add_rms_norm`: a residual add and the RMS norm that follows it (two kernels);
// - `swiglu_halves`: `silu(gate) * up` read from the two halves of the stacked gate/up product
//   (two slices and MLX's compiled element-wise kernel);
// - `decode_attention`: a decoding step's attention over the first positions of the caches'
//   buffers read in place (no views of them to encode), with or without an explicit mask (a
//   left-padded batch: MLX's fused vector attention takes no array mask on CUDA), writing its
//   output as the rows the output projection takes.
// For a decoding step's few rows gpu_fused_rows.cc goes further: the products, with the norms
// and the SwiGLU folded into them. The norms, rotations and the SwiGLU reproduce MLX's own rounding: the sum and the normalized
// value are rounded to the activation dtype before the weight multiplies them, the rotation is
// computed in float32 from the rounded normed values with MLX's frequencies, and each of the
// SwiGLU's three element-wise ops is rounded as MLX's compiled kernel holds it. Only the sum of
// squares is added in another order (and MLX's exp may differ from CUDA's expf in the last
// bit), so results may differ from the separate kernels in the last bit of a few elements. The
// attention computes in float32 throughout. Parity is checked on the GPU
// (tooling/bench/fused-parity.ts); the CPU never takes this path.
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "gpu_fused_common.h"

namespace mlxn {

using namespace fused;

namespace {

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

// Inputs row-contiguous: q_src, k_src and v_src [B * seq, stride] (the heads are columns Q_COL..,
// K_COL.. and V_COL.. of each row), the weights [HEAD_DIM], offset [1] or [B] (PER_ROW_OFFSET).
// One block per row and head: q heads, then k heads, then v heads (N_K of them).
constexpr const char* kQkvHeads = R"(
extern "C" __global__ void mlxn_qkv_heads(const T* q_src, const T* k_src, const T* v_src, const T* q_weight,
                                          const T* k_weight, const int* offset, T* q_out, T* k_out, T* v_out,
                                          int seq) {
  __shared__ float part[32];
  constexpr int HALF = HEAD_DIM / 2;
  const long block = blockIdx.x;
  const int head = static_cast<int>(block % (N_Q + 2 * N_K));
  const long row = block / (N_Q + 2 * N_K);
  const int b = static_cast<int>(row / seq), t = static_cast<int>(row % seq);
  if (head >= N_Q + N_K) {  // a value head: a copy (the same for the whole block)
    const int h = head - N_Q - N_K;
    const T* src = v_src + row * V_STRIDE + V_COL + h * HEAD_DIM;
    T* out = v_out + ((static_cast<long>(b) * N_K + h) * seq + t) * HEAD_DIM;
    for (int j = threadIdx.x; j < HEAD_DIM; j += blockDim.x) out[j] = src[j];
    return;
  }
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
    a = to_float(src[i1]);
    c = to_float(src[i2]);
  }
  const float total = mlxn_block_sum(a * a + c * c, part);
  if (!active) return;
  const float inv = rsqrtf(total / HEAD_DIM + (is_q ? Q_EPS : K_EPS));
  const float n1 = round_to<T>(to_float(w[i1]) * round_to<T>(a * inv));
  const float n2 = round_to<T>(to_float(w[i2]) * round_to<T>(c * inv));
  const int start = PER_ROW_OFFSET ? offset[b] : offset[0];
  const float position = ROPE_SCALE * static_cast<float>(t + start);
  const float inv_freq = exp2f(-(static_cast<float>(i) / static_cast<float>(HALF)) * LOG2_BASE);
  const float theta = position * inv_freq;
  float sn, cs;
  sincosf(theta, &sn, &cs);  // one argument reduction for both
  T* out = is_q ? q_out + ((static_cast<long>(b) * N_Q + h) * seq + t) * HEAD_DIM
                : k_out + ((static_cast<long>(b) * N_K + h) * seq + t) * HEAD_DIM;
  out[i1] = from_float<T>(n1 * cs - n2 * sn);
  out[i2] = from_float<T>(n1 * sn + n2 * cs);
}
)";

constexpr int kNormThreads = 256;

// Inputs row-contiguous: residual and delta [rows, WIDTH], weight [WIDTH].
constexpr const char* kAddRmsNorm = R"(
extern "C" __global__ void mlxn_add_rms_norm(const T* residual, const T* delta, const T* weight, T* sum, T* normed) {
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
      const T r = from_float<T>(to_float(x[j]) + to_float(d[j]));
      s[j] = r;
      v[k] = to_float(r);
      squares += v[k] * v[k];
    }
  }
  const float total = mlxn_block_sum(squares, part);
  const float inv = rsqrtf(total / WIDTH + EPS);
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int j = k * THREADS + threadIdx.x;
    if (j < WIDTH) y[j] = from_float<T>(to_float(weight[j]) * round_to<T>(v[k] * inv));
  }
}
)";

constexpr int kElementwiseThreads = 256;

// Input row-contiguous: gate_up [rows, 2 * HALF], the gate in the first half of each row. Output
// [rows, HALF].
constexpr const char* kSwigluHalves = R"(
extern "C" __global__ void mlxn_swiglu_halves(const T* gate_up, T* out, int rows) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long>(rows) * HALF) return;
  const long row = i / HALF;
  const int j = static_cast<int>(i % HALF);
  out[i] = from_float<T>(mlxn_swiglu(to_float(gate_up[row * 2 * HALF + j]), to_float(gate_up[row * 2 * HALF + HALF + j])));
}
)";

// One query per row (a decoding step) against the first `keys` positions of the caches' buffers,
// with an explicit mask (HAS_MASK; bool: attend where true; else added to the scores). Inputs
// row-contiguous: q [B, N_Q, 1, HEAD_DIM], k and v [B, N_KV, capacity, HEAD_DIM] (the whole
// buffers: passing the views of their first `keys` positions would make MLX copy them), mask
// [1 or B, 1 or N_Q, 1, keys] (its strides for a row and a head are 0 where it broadcasts; without
// HAS_MASK an unread placeholder). The output's memory is [B, N_Q, 1, HEAD_DIM], the same as rows
// [B, N_Q * HEAD_DIM].
// CLUSTER blocks per (row, query head), each of WARPS warps, split the keys between them: block
// `rank` takes the rank-th of CLUSTER equal runs of keys (one block for a row's head left most of
// the GPU idle at batch 1: 16 blocks for Qwen3-0.6B). Each lane holds PER_LANE of the head's
// dimensions, so a key's score is one coalesced row read and a warp sum. Each warp takes
// KEYS_AT_ONCE keys per turn, loading their keys and values together (the values do not wait for
// the scores), with an online softmax over the turn; the warps' partial results are merged in
// shared memory, then the blocks' through the cluster's distributed shared memory by block 0
// (kCluster). MLX's fused vector attention on CUDA takes no array mask, and its fallback runs
// about five kernels per layer (two products, the mask, a softmax, copies of the strided caches);
// without a mask it takes views of the buffers' first positions, two more nodes per layer, and its
// output is reshaped into rows, one more.
// 16 warps: 512 threads leave each up to 128 registers.
constexpr int kAttentionWarps = 16;
constexpr int kAttentionKeysAtOnce = 4;
// Keys from which a row's head is split over a cluster of blocks.
constexpr int kAttentionClusterMinKeys = 512;

constexpr const char* kDecodeAttention = R"(
// PER_LANE consecutive elements at `p` as floats: one load where they are aligned (VECTOR, the
// same for the whole kernel), else one per element.
template <int N, bool VECTOR> __device__ __forceinline__ void mlxn_load_lane(const T* p, float* out) {
  constexpr int BYTES = N * static_cast<int>(sizeof(T));
  if constexpr (VECTOR && BYTES == 16) {
    const uint4 r = *reinterpret_cast<const uint4*>(p);
    const T* e = reinterpret_cast<const T*>(&r);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(e[i]);
  } else if constexpr (VECTOR && BYTES == 8) {
    const uint2 r = *reinterpret_cast<const uint2*>(p);
    const T* e = reinterpret_cast<const T*>(&r);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(e[i]);
  } else if constexpr (VECTOR && BYTES == 4) {
    const unsigned r = *reinterpret_cast<const unsigned*>(p);
    const T* e = reinterpret_cast<const T*>(&r);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(e[i]);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(p[i]);
  }
}
constexpr int PER_LANE = HEAD_DIM / 32;
// One block's part: its warps' online softmax over its keys, merged into (m, l, acc) in shared
// memory, relative to the block's largest score m (-inf when it saw no key).
template <bool VECTOR>
__device__ __forceinline__ void mlxn_attend_keys(const T* q, const T* k, const T* v, const MT* mask, int begin, int end,
                                                 int capacity, int mask_row_stride, int mask_head_stride,
                                                 float* block_m, float* block_l, float* block_acc) {
  const float NEG_INF = __int_as_float(0xff800000);
  __shared__ float warp_max[WARPS], warp_sum[WARPS];
  __shared__ float warp_acc[WARPS][HEAD_DIM];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int row = blockIdx.x / CLUSTER;
  const int b = row / N_Q, h = row % N_Q, hk = h / (N_Q / N_KV);
  float qv[PER_LANE], acc[PER_LANE];
  mlxn_load_lane<PER_LANE, VECTOR>(q + static_cast<long>(row) * HEAD_DIM + lane * PER_LANE, qv);
#pragma unroll
  for (int i = 0; i < PER_LANE; ++i) {
    qv[i] *= SCALE;
    acc[i] = 0.f;
  }
  const long mask_base = static_cast<long>(b) * mask_row_stride + static_cast<long>(h) * mask_head_stride;
  // Row (b, hk) of the buffers; this lane's dimensions of each key.
  const long kv_base = (static_cast<long>(b) * N_KV + hk) * capacity * HEAD_DIM + lane * PER_LANE;
  float m = NEG_INF, l = 0.f;
  // Turn `first`: keys first + u * WARPS, u < KEYS_AT_ONCE (the warps interleave key by key).
  for (int first = begin + warp; first < end; first += WARPS * KEYS_AT_ONCE) {
    float s[KEYS_AT_ONCE], bias[KEYS_AT_ONCE], kf[KEYS_AT_ONCE][PER_LANE], vf[KEYS_AT_ONCE][PER_LANE];
    bool seen[KEYS_AT_ONCE];
#pragma unroll
    for (int u = 0; u < KEYS_AT_ONCE; ++u) {
      const int j = first + u * WARPS;
      seen[u] = j < end;
      bias[u] = 0.f;
      if (HAS_MASK && seen[u]) {
        const MT mv = mask[mask_base + j];
        if constexpr (BOOL_MASK) {
          seen[u] = to_float(mv) != 0.f;
        } else {
          bias[u] = to_float(mv);
        }
      }
      // The same key for the whole warp: the branch is uniform.
      if (seen[u]) {
        mlxn_load_lane<PER_LANE, VECTOR>(k + kv_base + static_cast<long>(j) * HEAD_DIM, kf[u]);
        mlxn_load_lane<PER_LANE, VECTOR>(v + kv_base + static_cast<long>(j) * HEAD_DIM, vf[u]);
      }
    }
#pragma unroll
    for (int u = 0; u < KEYS_AT_ONCE; ++u) {
      float dot = 0.f;
      if (seen[u]) {
#pragma unroll
        for (int i = 0; i < PER_LANE; ++i) dot += qv[i] * kf[u][i];
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
      l += p;
#pragma unroll
      for (int i = 0; i < PER_LANE; ++i) acc[i] += p * vf[u][i];
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
  for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
    float total = 0.f, value = 0.f;
    for (int w = 0; w < WARPS; ++w) {
      const float weight = warp_max[w] == NEG_INF ? 0.f : expf(warp_max[w] - top);
      total += warp_sum[w] * weight;
      value += warp_acc[w][d] * weight;
    }
    block_acc[d] = value;
    if (d == 0) {
      *block_m = top;
      *block_l = total;
    }
  }
}
extern "C" __global__ void __launch_bounds__(WARPS * 32) CLUSTER_DIMS mlxn_decode_attention(
    const T* q, const T* k, const T* v, const MT* mask, T* out, int keys, int capacity, int mask_row_stride,
    int mask_head_stride) {
  const float NEG_INF = __int_as_float(0xff800000);
  __shared__ float block_m, block_l;
  __shared__ float block_acc[HEAD_DIM];
  const int row = blockIdx.x / CLUSTER, rank = blockIdx.x % CLUSTER;
  const int per_block = (keys + CLUSTER - 1) / CLUSTER;
  const int begin = rank * per_block < keys ? rank * per_block : keys;
  const int end = begin + per_block < keys ? begin + per_block : keys;
  const bool vector = ((reinterpret_cast<unsigned long>(q) | reinterpret_cast<unsigned long>(k) |
                        reinterpret_cast<unsigned long>(v)) & 15) == 0;
  if (vector) {
    mlxn_attend_keys<true>(q, k, v, mask, begin, end, capacity, mask_row_stride, mask_head_stride, &block_m, &block_l, block_acc);
  } else {
    mlxn_attend_keys<false>(q, k, v, mask, begin, end, capacity, mask_row_stride, mask_head_stride, &block_m, &block_l, block_acc);
  }
  mlxn_cluster_sync();
  if (rank == 0) {
    float top = NEG_INF;
#pragma unroll
    for (int r = 0; r < CLUSTER; ++r) top = fmaxf(top, mlxn_cluster_read(&block_m, r));
    bool merge = true;
    if constexpr (HAS_MASK && BOOL_MASK) {
      // Every key hidden: MLX scores hidden keys with the format's lowest value, so its softmax is
      // uniform and the row is the mean of the values. (An additive mask of -inf everywhere gives
      // NaN on both sides.) The same for every thread of the block.
      if (top == NEG_INF) {
        merge = false;
        const int b = row / N_Q, hk = (row % N_Q) / (N_Q / N_KV);
        const long row_base = (static_cast<long>(b) * N_KV + hk) * capacity * HEAD_DIM;
        for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
          float total = 0.f;
          for (int j = 0; j < keys; ++j) total += to_float(v[row_base + static_cast<long>(j) * HEAD_DIM + d]);
          out[static_cast<long>(row) * HEAD_DIM + d] = from_float<T>(total / keys);
        }
      }
    }
    if (merge) {
      for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float total = 0.f, value = 0.f;
#pragma unroll
        for (int r = 0; r < CLUSTER; ++r) {
          const float mr = mlxn_cluster_read(&block_m, r);
          const float weight = mr == NEG_INF ? 0.f : expf(mr - top);
          total += mlxn_cluster_read(&block_l, r) * weight;
          value += mlxn_cluster_read(&block_acc[d], r) * weight;
        }
        out[static_cast<long>(row) * HEAD_DIM + d] = from_float<T>(value / total);
      }
    }
  }
  // Block 0 may still be reading the others' shared memory.
  if constexpr (CLUSTER > 1) mlxn_cluster_sync();
}
)";


}  // namespace

bool is_tracer(const MlxArray& a) { return a.inner.is_tracer(); }

bool gpu_fused_kernels_usable() {
  return mx::default_device().type == mx::Device::gpu && mx::cu::is_available();
}

ListPtr gpu_qkv_heads(const QkvSources& sources, int32_t batch, int32_t seq, const QkHeadsSettings& heads) {
  const MlxArray &q_src = sources.q, &k_src = sources.k, &v_src = sources.v;
  const int64_t q_col = sources.q_col, k_col = sources.k_col, v_col = sources.v_col;
  const MlxArray &q_weight = heads.q_weight, &k_weight = heads.k_weight, &offset = heads.offset;
  const int32_t n_q = heads.n_q, n_k = heads.n_k, head_dim = heads.head_dim;
  const auto dtype = q_src.inner.dtype();
  const auto is_head_weight = [&](const mx::array& w) {
    return w.dtype() == dtype && w.ndim() == 1 && w.shape(0) == head_dim;
  };
  // A source holds `count` heads from column `col` of rows [batch * seq, stride].
  const auto holds = [&](const mx::array& src, int64_t col, int32_t count) {
    return src.dtype() == dtype && src.ndim() == 2 && src.shape(0) == static_cast<int64_t>(batch) * seq && col >= 0 &&
           col + static_cast<int64_t>(count) * head_dim <= src.shape(1) && src.shape(1) <= INT32_MAX;
  };
  const bool per_row = offset.inner.ndim() == 1;
  const int threads = head_threads(head_dim);
  const long blocks = static_cast<long>(batch) * seq * (n_q + 2 * static_cast<long>(n_k));
  // Anything else runs the separate ops (the caller's fallback for a null result).
  if (!is_float_type(dtype) || !is_head_weight(q_weight.inner) || !is_head_weight(k_weight.inner) ||
      offset.inner.dtype() != mx::int32 || head_dim <= 0 || head_dim % 2 != 0 || head_dim > 2048 ||
      offset.inner.ndim() > 1 || (per_row && offset.inner.shape(0) != batch) || batch <= 0 || seq <= 0 || n_q <= 0 ||
      n_k <= 0 || !holds(q_src.inner, q_col, n_q) || !holds(k_src.inner, k_col, n_k) ||
      !holds(v_src.inner, v_col, n_k) || blocks * threads > INT32_MAX) {
    return nullptr;
  }
  // Baked into the source: one compiled module per model configuration (and dtype).
  std::string constants = int_constant("HEAD_DIM", head_dim) + int_constant("N_Q", n_q) + int_constant("N_K", n_k) +
                          int_constant("Q_STRIDE", q_src.inner.shape(1)) + int_constant("Q_COL", q_col) +
                          int_constant("K_STRIDE", k_src.inner.shape(1)) + int_constant("K_COL", k_col) +
                          int_constant("V_STRIDE", v_src.inner.shape(1)) + int_constant("V_COL", v_col) +
                          int_constant("TRADITIONAL", heads.traditional) + int_constant("PER_ROW_OFFSET", per_row) +
                          float_constant("Q_EPS", heads.q_eps) + float_constant("K_EPS", heads.k_eps) +
                          // MLX passes log2(base) computed in float32 to its rope kernels; so does this.
                          float_constant("LOG2_BASE", std::log2(heads.base)) + float_constant("ROPE_SCALE", heads.scale);
  const mx::Shape kv_shape{batch, n_k, seq, head_dim};
  auto outs = run_kernel("mlxn_qkv_heads", kernel_variant(dtype, constants, {kBlockSum, kQkvHeads}),
                         {q_src.inner, k_src.inner, v_src.inner, q_weight.inner, k_weight.inner, offset.inner},
                         {{batch, n_q, seq, head_dim}, kv_shape, kv_shape}, {dtype, dtype, dtype}, {seq}, blocks,
                         threads);
  if (outs.empty()) return nullptr;
  return wrap_list(std::move(outs));
}

ArrayPtr gpu_decode_attention(const MlxArray& queries, const MlxArray& keys, const MlxArray& values,
                              const MlxArray* mask, int32_t length, float scale) {
  const auto &q = queries.inner, &k = keys.inner, &v = values.inner;
  const auto dtype = q.dtype();
  if (!is_float_type(dtype) || k.dtype() != dtype || v.dtype() != dtype || q.ndim() != 4 || k.ndim() != 4 ||
      v.ndim() != 4 || q.shape(2) != 1 || k.shape() != v.shape() || q.shape(0) != k.shape(0) ||
      q.shape(3) != k.shape(3) || k.shape(1) == 0 || q.shape(1) % k.shape(1) != 0 || q.shape(3) % 32 != 0 ||
      q.shape(3) > 256 || length <= 0 || length > k.shape(2) || k.size() > INT32_MAX) {
    return nullptr;  // the caller runs MLX's attention instead
  }
  // Without a mask the placeholder is q itself (never read).
  const mx::array& m = mask != nullptr ? mask->inner : q;
  const bool bool_mask = m.dtype() == mx::bool_;
  if (mask != nullptr &&
      ((!bool_mask && !is_float_type(m.dtype())) || m.ndim() != 4 || m.shape(2) != 1 || m.shape(3) != length ||
       (m.shape(0) != 1 && m.shape(0) != q.shape(0)) || (m.shape(1) != 1 && m.shape(1) != q.shape(1)))) {
    return nullptr;
  }
  const int n_q = q.shape(1), n_kv = k.shape(1), capacity = k.shape(2);
  // Blocks per (row, head): with a long cache, enough for the rows' heads to reach every
  // multiprocessor. On an H100 (kernel-bench.py, batch 1, Qwen3-0.6B's heads) 8 blocks a head
  // took 1,000 keys in 10.9 µs against 15.1 for one, but a decoding step's 160 keys in 8.6
  // against 5.2 (a cluster's launch and barriers cost more than its keys then save).
  const long heads = static_cast<long>(q.shape(0)) * n_q;
  int cluster = 1;
  while (length >= kAttentionClusterMinKeys && cluster < gpu_cluster_limit() && heads * cluster * 2 <= gpu_multiprocessors()) {
    cluster *= 2;
  }
  std::string constants = cluster_constants(cluster) + int_constant("KEYS_AT_ONCE", kAttentionKeysAtOnce) +
                          int_constant("HEAD_DIM", q.shape(3)) + int_constant("N_Q", n_q) +
                          int_constant("N_KV", n_kv) + int_constant("WARPS", kAttentionWarps) +
                          int_constant("HAS_MASK", mask != nullptr) + int_constant("BOOL_MASK", bool_mask) +
                          float_constant("SCALE", scale) + "typedef " + element_type(m.dtype()) + " MT;\n";
  const int mask_row_stride = mask == nullptr || m.shape(0) == 1 ? 0 : m.shape(1) * length;
  const int mask_head_stride = mask == nullptr || m.shape(1) == 1 ? 0 : length;
  auto outs = run_kernel("mlxn_decode_attention", kernel_variant(dtype, constants, {kCluster, kDecodeAttention}),
                         {q, k, v, m}, {{q.shape(0), n_q * q.shape(3)}}, {dtype},
                         {length, capacity, mask_row_stride, mask_head_stride}, heads * cluster, 32 * kAttentionWarps);
  if (outs.empty()) return nullptr;
  return wrap(std::move(outs[0]));
}

ArrayPtr gpu_swiglu_halves(const MlxArray& gate_up) {
  const auto& x = gate_up.inner;
  const auto dtype = x.dtype();
  if (!is_float_type(dtype) || x.ndim() != 2 || x.shape(1) % 2 != 0 || x.shape(1) == 0 ||
      static_cast<long>(x.shape(0)) * x.shape(1) / 2 + kElementwiseThreads > INT32_MAX) {
    return nullptr;
  }
  const int rows = x.shape(0), half = x.shape(1) / 2;
  const long blocks = (static_cast<long>(rows) * half + kElementwiseThreads - 1) / kElementwiseThreads;
  auto outs = run_kernel("mlxn_swiglu_halves", kernel_variant(dtype, int_constant("HALF", half), {kSwigluValue, kSwigluHalves}),
                         {x}, {{rows, half}}, {dtype}, {rows}, blocks, kElementwiseThreads);
  if (outs.empty()) return nullptr;
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
  std::string constants = int_constant("WIDTH", width) + int_constant("THREADS", kNormThreads) + float_constant("EPS", eps);
  auto outs = run_kernel("mlxn_add_rms_norm", kernel_variant(dtype, constants, {kBlockSum, kAddRmsNorm}),
                         {x, delta.inner, weight.inner}, {x.shape(), x.shape()}, {dtype, dtype}, {}, rows, kNormThreads);
  if (outs.empty()) return nullptr;
  return wrap_list(std::move(outs));
}

}  // namespace mlxn
