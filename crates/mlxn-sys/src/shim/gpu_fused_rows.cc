// The fused CUDA kernels for a decoding step's few rows (at most `kRowsProductMaxRows`): the
// products of x · Wᵀ read from a Linear's own `[out, in]` weight, and the folded kernels, where the
// residual add and RMS norm before a product run inside the product's kernel
// (`norm_product`, `norm_qkv_heads`) and the SwiGLU in the gate/up product's (`norm_product`
// with PAIRED). With them a Qwen3 layer's decoding step is seven or eight kernels (mlxn-qwen3
// fused_kernels.rs, `Plan::folded`). What their device time goes to was measured with
// tooling/bench/gpu/kernel-profile.cc and kernel-bench.py. Compiled and run as gpu_fused.cc's
// kernels are (gpu_fused_common.h); checked on a GPU by tooling/bench/fused-parity.ts.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "gpu_fused_common.h"

namespace mlxn {

using namespace fused;

namespace {

constexpr int kRowsProductWarps = 8;

// y [ROWS, n_out] = a · wᵀ for w [n_out, K], all row-contiguous, where `a` is x [ROWS, K] itself or
// with SWIGLU the SwiGLU of x [ROWS, 2K]'s two halves (gate | up): the down projection with the
// activation before it, one kernel instead of two. float32 sums of T products, rounded once (as
// cuBLAS does for T = bf16/f16 with float32 accumulation). Each warp first issues the loads of its
// COLS weight rows (the memory a decoding step's product is bound by). Without SWIGLU and with
// one or two rows (HELD_ROWS) each warp then loads a's rows into its registers too; else the
// block puts a's rows in shared memory (computing the SwiGLU once per element, not once per
// output column) while those loads are in flight. Then each warp multiplies (kDotRows).
constexpr const char* kRowsProduct = R"(
extern "C" __global__ void __launch_bounds__(WARPS * 32) mlxn_rows_product(const T* x, const T* w, T* y, int n_out) {
  __shared__ __align__(16) T xs[ROWS * K];
  uint4 pieces[COLS][SOURCES][PIECES];
  if constexpr (!SWIGLU) {
    if (mlxn_held(x, w)) {
      mlxn_columns_load(w, n_out, pieces);
      uint4 held[ROWS][PIECES];
      mlxn_load_rows(x, held);
      mlxn_columns_finish_held(held, pieces, y, n_out);
      return;
    }
  }
  const bool whole = mlxn_columns_load(w, n_out, pieces);
#pragma unroll (LOAD_UNROLL)
  for (int i = threadIdx.x; i < ROWS * K; i += WARPS * 32) {
    if constexpr (SWIGLU) {
      const long gate = static_cast<long>(i / K) * 2 * K + i % K;
      xs[i] = from_float<T>(mlxn_swiglu(to_float(x[gate]), to_float(x[gate + K])));
    } else {
      xs[i] = x[i];
    }
  }
  __syncthreads();
  mlxn_columns_finish(xs, w, pieces, whole, y, n_out);
}
)";

// Rows a product's kernel holds in each warp's registers (HELD_ROWS) at most: more would take
// more registers than the weight rows leave.
constexpr int kHeldRowsMax = 2;

// kDotRows's ROW_PIECES: the 16-byte pieces per lane of a whole weight row of K elements, 0 when
// rows are read in a loop. A warp holds at most kMaxHeldPieces pieces (4 registers each) at once.
constexpr int kMaxHeldPieces = 16;
int whole_row_pieces(mx::Dtype dtype, int k) {
  const int per_piece = 32 * (16 / static_cast<int>(dtype.size()));
  return k % per_piece == 0 && k / per_piece <= 16 ? k / per_piece : 0;
}

// The folded products (a decoding step of at most kRowsProductMaxRows rows): the residual add and
// RMS norm before a projection run inside the projection's kernel, so a layer's norms cost no
// kernels of their own. Every block computes the normed rows itself into shared memory (a few
// kilobytes read from L2) instead of waiting on another kernel for them.
constexpr int kFoldedWarps = 8;
constexpr int kFoldedHeadWarps = 16;
// The normed rows are held in shared memory as T, the q/k/v head's products as float32: both
// within the 48 KB a kernel may declare statically.
constexpr long kFoldedSharedBytes = 46 * 1024;

// How many iterations of the few-row kernels' loops that wait on memory (the passes over the rows
// before a product, the q/k/v head's columns) are unrolled: `MLXN_KERNEL_UNROLL` (1 to 8), 1 by
// default, as measured. One iteration at a time kept the PTX small while MLX hashed it on every
// call; with the PTX handed over by name (gpu_kernel_by_name.cc) more loads in flight may pay on
// the device (not measured yet).
int load_unroll() {
  static const int n = [] {
    const char* v = std::getenv("MLXN_KERNEL_UNROLL");
    const int u = v == nullptr ? 1 : std::atoi(v);
    return u >= 1 && u <= 8 ? u : 1;
  }();
  return n;
}

// `residual` [ROWS, K] plus (with ADD) `delta`, rounded to T as MLX's add holds it, written by
// block 0 to `sum` (without ADD a copy of the residual), then RMS-normed with `weight` as
// add_rms_norm does, into `xs` [ROWS, K] in shared memory. The whole block reads each row,
// coalesced, every row at once (the loads of one pass are independent: their latency, not their
// bytes, is what a decoding step's few rows cost); every thread reads back only what it wrote
// until the final barrier.
constexpr const char* kNormRows = R"(
__device__ __forceinline__ void mlxn_norm_rows(const T* residual, const T* delta, const T* weight, T* sum, T* xs) {
  __shared__ float part[ROWS][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float squares[ROWS];
#pragma unroll
  for (int m = 0; m < ROWS; ++m) squares[m] = 0.f;
#pragma unroll (LOAD_UNROLL)
  for (int k = threadIdx.x; k < K; k += WARPS * 32) {
#pragma unroll
    for (int m = 0; m < ROWS; ++m) {
      const long i = static_cast<long>(m) * K + k;
      const T r = ADD ? from_float<T>(to_float(residual[i]) + to_float(delta[i])) : residual[i];
      if (blockIdx.x == 0) sum[i] = r;
      xs[i] = r;
      const float v = to_float(r);
      squares[m] += v * v;
    }
  }
#pragma unroll
  for (int m = 0; m < ROWS; ++m) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) squares[m] += __shfl_xor_sync(0xffffffffu, squares[m], o);
    if (lane == 0) part[m][warp] = squares[m];
  }
  __syncthreads();
  float inv[ROWS];
#pragma unroll
  for (int m = 0; m < ROWS; ++m) {
    float total = 0.f;
    for (int w = 0; w < WARPS; ++w) total += part[m][w];
    inv[m] = rsqrtf(total / K + EPS);
  }
#pragma unroll (LOAD_UNROLL)
  for (int k = threadIdx.x; k < K; k += WARPS * 32) {
    const float wk = to_float(weight[k]);
#pragma unroll
    for (int m = 0; m < ROWS; ++m) {
      const long i = static_cast<long>(m) * K + k;
      xs[i] = from_float<T>(wk * round_to<T>(to_float(xs[i]) * inv[m]));
    }
  }
  __syncthreads();
}
)";

// Rows of a weight [n_out, K] times the ROWS rows of `xs` (shared memory), one weight row per warp
// at a time: float32 sums of the T products, in every lane. A decoding step's products wait on
// memory, not arithmetic, so a warp loads a whole weight row at once (PIECES 16-byte pieces per
// lane, held in registers) where K allows, before the rows in `xs` are ready: the kernel's
// prologue (a norm, the SwiGLU) runs while the loads are in flight. Otherwise (K not a multiple
// of 32 lanes × 16 bytes, too long to hold, or a weight at an odd offset) a loop reads 16 bytes
// per lane at a time.
constexpr const char* kDotRows = R"(
constexpr int VEC = 16 / sizeof(T);
constexpr int ROW_PIECES = K % (32 * VEC) == 0 && K / (32 * VEC) <= 16 ? K / (32 * VEC) : 0;
constexpr int PIECES = ROW_PIECES > 0 ? ROW_PIECES : 1;
// The 16 / sizeof(U) elements of `v` as floats; bfloat16 pairs by a shift and a mask of each word
// (fewer instructions than a conversion per element).
template <typename U> __device__ __forceinline__ void mlxn_unpack(const uint4& v, float* out, U) {
  const U* p = reinterpret_cast<const U*>(&v);
#pragma unroll
  for (int j = 0; j < static_cast<int>(16 / sizeof(U)); ++j) out[j] = to_float(p[j]);
}
__device__ __forceinline__ void mlxn_unpack(const uint4& v, float* out, mlxn_bf16) {
  const unsigned words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    out[2 * j] = __uint_as_float(words[j] << 16);
    out[2 * j + 1] = __uint_as_float(words[j] & 0xffff0000u);
  }
}
__device__ __forceinline__ void mlxn_warp_sums(float* acc) {
#pragma unroll
  for (int m = 0; m < ROWS; ++m) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
  }
}
// Whether the rows of `w` can be loaded whole (the row length allows it and `w` is 16-byte
// aligned, hence every row: K is then a multiple of 32 pieces). The same for every thread.
__device__ __forceinline__ bool mlxn_rows_loadable(const T* w) {
  return ROW_PIECES > 0 && (reinterpret_cast<unsigned long>(w) & 15) == 0;
}
// Issues the loads of row `wr` [K]: piece i of this lane is wr's 16 bytes number 32 i + lane. The
// asm is volatile so the loads are issued here, not moved to where the pieces are used. A weight
// is read once per step, so it is not kept in L1; CACHED (a row every warp of the grid reads, as
// HELD_ROWS's x) is.
template <bool CACHED = false> __device__ __forceinline__ void mlxn_load_row(const T* wr, uint4* v) {
  const uint4* p = reinterpret_cast<const uint4*>(wr) + (threadIdx.x & 31);
#pragma unroll
  for (int i = 0; i < PIECES; ++i) {
    if constexpr (CACHED) {
      asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(v[i].x), "=r"(v[i].y), "=r"(v[i].z), "=r"(v[i].w)
                   : "l"(p + i * 32));
    } else {
      asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(v[i].x), "=r"(v[i].y), "=r"(v[i].z), "=r"(v[i].w)
                   : "l"(p + i * 32));
    }
  }
}
// A row loaded by mlxn_load_row times each of ROWS rows of x, whose pieces (placed as
// mlxn_load_row places them) `x_piece(m, i)` gives.
template <typename XPiece> __device__ __forceinline__ void mlxn_dot_pieces(XPiece x_piece, const uint4* v, float* acc) {
#pragma unroll
  for (int m = 0; m < ROWS; ++m) acc[m] = 0.f;
#pragma unroll
  for (int i = 0; i < PIECES; ++i) {
    float wf[VEC], xf[VEC];
    mlxn_unpack(v[i], wf, T{});
#pragma unroll
    for (int m = 0; m < ROWS; ++m) {
      mlxn_unpack(x_piece(m, i), xf, T{});
#pragma unroll
      for (int j = 0; j < VEC; ++j) acc[m] += wf[j] * xf[j];
    }
  }
  mlxn_warp_sums(acc);
}
// A row loaded by mlxn_load_row times each row of `xs` (shared memory).
__device__ __forceinline__ void mlxn_dot_loaded(const T* xs, const uint4* v, float* acc) {
  const int lane = threadIdx.x & 31;
  mlxn_dot_pieces([&](int m, int i) { return *reinterpret_cast<const uint4*>(xs + m * K + (i * 32 + lane) * VEC); }, v, acc);
}
// Row `wr` times each row of `xs`, read in a loop (any K, any alignment), in the same order of
// sums as mlxn_dot_loaded where both apply.
__device__ __forceinline__ void mlxn_dot_rows(const T* xs, const T* wr, float* acc) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int m = 0; m < ROWS; ++m) acc[m] = 0.f;
  if (K % VEC == 0 && (reinterpret_cast<unsigned long>(wr) & 15) == 0) {
#pragma unroll (ROWS <= 2 ? 4 : 2)
    for (int k0 = lane * VEC; k0 < K; k0 += 32 * VEC) {
      float wf[VEC], xf[VEC];
      mlxn_unpack(*reinterpret_cast<const uint4*>(wr + k0), wf, T{});
#pragma unroll
      for (int m = 0; m < ROWS; ++m) {
        mlxn_unpack(*reinterpret_cast<const uint4*>(xs + m * K + k0), xf, T{});
#pragma unroll
        for (int j = 0; j < VEC; ++j) acc[m] += wf[j] * xf[j];
      }
    }
  } else {
    for (int k = lane; k < K; k += 32) {
      const float wf = to_float(wr[k]);
#pragma unroll
      for (int m = 0; m < ROWS; ++m) acc[m] += wf * to_float(xs[m * K + k]);
    }
  }
  mlxn_warp_sums(acc);
}
// y [ROWS, n_out] = x · wᵀ for w [n_out (or 2 n_out with PAIRED)], K], COLS consecutive columns per
// warp: warp g of the grid takes columns g·COLS .. g·COLS + COLS - 1 (the grid covers n_out). With
// PAIRED, output column n is the SwiGLU of product columns n (gate) and n_out + n (up), each
// rounded to T as the product's output is: a stacked gate/up product whose activation costs no
// kernel of its own. In two halves, so a kernel's prologue runs between them: mlxn_columns_load
// issues the warp's loads (where rows load whole), mlxn_columns_finish multiplies once x is ready
// (in shared memory, `xs`, or with HELD_ROWS in every warp's registers) and writes the columns.
constexpr int SOURCES = PAIRED ? 2 : 1;
__device__ __forceinline__ long mlxn_first_column() {
  return (static_cast<long>(blockIdx.x) * WARPS + (threadIdx.x >> 5)) * COLS;
}
__device__ __forceinline__ bool mlxn_columns_load(const T* w, int n_out, uint4 (&pieces)[COLS][SOURCES][PIECES]) {
  if (!mlxn_rows_loadable(w)) return false;
  const long n0 = mlxn_first_column();
#pragma unroll
  for (int c = 0; c < COLS; ++c) {
#pragma unroll
    for (int s = 0; s < SOURCES; ++s) {
      if (n0 + c < n_out) mlxn_load_row(w + (n0 + c + s * static_cast<long>(n_out)) * K, pieces[c][s]);
    }
  }
  return true;
}
__device__ __forceinline__ void mlxn_write_column(const float (&acc)[SOURCES][ROWS], T* y, long n, int n_out) {
  if ((threadIdx.x & 31) != 0) return;
#pragma unroll
  for (int m = 0; m < ROWS; ++m) {
    const float v = PAIRED ? mlxn_swiglu(round_to<T>(acc[0][m]), round_to<T>(acc[SOURCES - 1][m])) : acc[0][m];
    y[static_cast<long>(m) * n_out + n] = from_float<T>(v);
  }
}
// The warp's columns: `dot(c, s, n, acc)` computes source s (gate or up) of its column c (n in
// the output) into acc, then the column is written.
template <typename Dot> __device__ __forceinline__ void mlxn_columns_each(Dot dot, T* y, int n_out) {
  const long n0 = mlxn_first_column();
  float acc[SOURCES][ROWS];
#pragma unroll
  for (int c = 0; c < COLS; ++c) {
    const long n = n0 + c;
    if (n >= n_out) break;  // the same for the whole warp
#pragma unroll
    for (int s = 0; s < SOURCES; ++s) dot(c, s, n, acc[s]);
    mlxn_write_column(acc, y, n, n_out);
  }
}
__device__ __forceinline__ void mlxn_columns_finish(const T* xs, const T* w, const uint4 (&pieces)[COLS][SOURCES][PIECES],
                                                    bool whole, T* y, int n_out) {
  mlxn_columns_each([&](int c, int s, long n, float* acc) {
    if (whole) {
      mlxn_dot_loaded(xs, pieces[c][s], acc);
    } else {
      mlxn_dot_rows(xs, w + (n + s * static_cast<long>(n_out)) * K, acc);
    }
  }, y, n_out);
}
// HELD_ROWS: x's ROWS rows whole in every warp's registers (this lane's pieces of each, as
// mlxn_load_row places a weight row's), for a step of one or two rows: each warp loads them from
// L2 itself, at the same time as its weight rows, instead of the block staging them in shared
// memory behind a barrier (a chain of memory round trips that cost a decoding step's products
// 3 to 4 µs each on an H100, kernel-bench.py).
__device__ __forceinline__ void mlxn_load_rows(const T* x, uint4 (&v)[ROWS][PIECES]) {
#pragma unroll
  for (int m = 0; m < ROWS; ++m) mlxn_load_row<true>(x + m * K, v[m]);
}
__device__ __forceinline__ void mlxn_columns_finish_held(const uint4 (&x)[ROWS][PIECES], const uint4 (&pieces)[COLS][SOURCES][PIECES],
                                                         T* y, int n_out) {
  mlxn_columns_each([&](int c, int s, long, float* acc) {
    mlxn_dot_pieces([&](int m, int i) { return x[m][i]; }, pieces[c][s], acc);
  }, y, n_out);
}
// Whether the held-rows path applies: rows load whole, x and w 16-byte aligned (the same for
// every thread).
__device__ __forceinline__ bool mlxn_held(const T* x, const T* w) {
  return HELD_ROWS && ROW_PIECES > 0 && ((reinterpret_cast<unsigned long>(x) | reinterpret_cast<unsigned long>(w)) & 15) == 0;
}
)";

// y [ROWS, n_out] = norm(residual (+ delta)) · wᵀ, w [n_out, K]; sum [ROWS, K] as kNormRows
// writes it.
constexpr const char* kNormProduct = R"(
extern "C" __global__ void __launch_bounds__(WARPS * 32) mlxn_norm_product(const T* residual, const T* delta,
                                                                          const T* weight, const T* w, T* sum, T* y,
                                                                          int n_out) {
  __shared__ __align__(16) T xs[ROWS * K];
  uint4 pieces[COLS][SOURCES][PIECES];
  const bool whole = mlxn_columns_load(w, n_out, pieces);
  mlxn_norm_rows(residual, delta, weight, sum, xs);
  mlxn_columns_finish(xs, w, pieces, whole, y, n_out);
}
)";

// A decoding step's whole attention input in one kernel: the residual add and input norm
// (kNormRows), the stacked q|k|v product (w [(N_Q + 2 * N_K) * HEAD_DIM, K]), and what qkv_heads
// does after it (q and k RMS-normed and rotated, v copied), for ROWS rows of one position each
// (row m is batch row m, at position offset[m] or offset[0]). One block per head: q heads, then k
// heads, then v heads; it computes its head's HEAD_DIM columns for every row, rounded to T as the
// product's output is, then (one warp per row) norms and rotates them as kQkvHeads does. Outputs:
// sum [ROWS, K], q [ROWS, N_Q, 1, HEAD_DIM], k and v [ROWS, N_K, 1, HEAD_DIM]. Used for 3 to 8
// rows; for one or two, gpu_norm_qkv_heads runs norm_product's kernel and qkv_heads instead.
constexpr const char* kNormQkvHeads = R"(
extern "C" __global__ void __launch_bounds__(WARPS * 32) mlxn_norm_qkv_heads(
    const T* residual, const T* delta, const T* weight, const T* w, const T* q_weight, const T* k_weight,
    const int* offset, T* sum, T* q_out, T* k_out, T* v_out) {
  __shared__ __align__(16) T xs[ROWS * K];
  __shared__ float ys[ROWS * HEAD_DIM];
  const int head = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const T* head_w = w + static_cast<long>(head) * HEAD_DIM * K;
  // This warp's first column loads while the rows are normed.
  uint4 pieces[PIECES];
  const bool whole = mlxn_rows_loadable(w);
  if (whole && warp < HEAD_DIM) mlxn_load_row(head_w + static_cast<long>(warp) * K, pieces);
  mlxn_norm_rows(residual, delta, weight, sum, xs);
  float acc[ROWS];
  for (int c = warp; c < HEAD_DIM; c += WARPS) {
    if (whole && c == warp) {
      mlxn_dot_loaded(xs, pieces, acc);
    } else {
      mlxn_dot_rows(xs, head_w + static_cast<long>(c) * K, acc);
    }
    if (lane == 0) {
#pragma unroll
      for (int m = 0; m < ROWS; ++m) ys[m * HEAD_DIM + c] = round_to<T>(acc[m]);
    }
  }
  __syncthreads();
  if (head >= N_Q + N_K) {  // a value head: a copy (the same for the whole block)
    const int h = head - N_Q - N_K;
    for (int i = threadIdx.x; i < ROWS * HEAD_DIM; i += blockDim.x) {
      const int m = i / HEAD_DIM, d = i % HEAD_DIM;
      v_out[(static_cast<long>(m) * N_K + h) * HEAD_DIM + d] = from_float<T>(ys[i]);
    }
    return;
  }
  constexpr int HALF = HEAD_DIM / 2;
  const bool is_q = head < N_Q;
  const int h = is_q ? head : head - N_Q;
  const T* nw = is_q ? q_weight : k_weight;
  for (int m = warp; m < ROWS; m += WARPS) {
    const float* y = ys + m * HEAD_DIM;
    float squares = 0.f;
    for (int d = lane; d < HEAD_DIM; d += 32) squares += y[d] * y[d];
    for (int o = 16; o > 0; o >>= 1) squares += __shfl_xor_sync(0xffffffffu, squares, o);
    const float inv = rsqrtf(squares / HEAD_DIM + (is_q ? Q_EPS : K_EPS));
    const float position = ROPE_SCALE * static_cast<float>(PER_ROW_OFFSET ? offset[m] : offset[0]);
    T* out = is_q ? q_out + (static_cast<long>(m) * N_Q + h) * HEAD_DIM
                  : k_out + (static_cast<long>(m) * N_K + h) * HEAD_DIM;
#pragma unroll 1
    for (int i = lane; i < HALF; i += 32) {
      const int i1 = TRADITIONAL ? 2 * i : i;
      const int i2 = TRADITIONAL ? 2 * i + 1 : i + HALF;
      const float n1 = round_to<T>(to_float(nw[i1]) * round_to<T>(y[i1] * inv));
      const float n2 = round_to<T>(to_float(nw[i2]) * round_to<T>(y[i2] * inv));
      const float inv_freq = exp2f(-(static_cast<float>(i) / static_cast<float>(HALF)) * LOG2_BASE);
      const float theta = position * inv_freq;
      float sn, cs;
      sincosf(theta, &sn, &cs);
      out[i1] = from_float<T>(n1 * cs - n2 * sn);
      out[i2] = from_float<T>(n1 * sn + n2 * cs);
    }
  }
}
)";

}  // namespace

ArrayPtr gpu_rows_product(const MlxArray& x_in, const MlxArray& weight, bool swiglu) {
  const auto &x = x_in.inner, &w = weight.inner;
  const auto dtype = x.dtype();
  if (!is_float_type(dtype) || w.dtype() != dtype || x.ndim() != 2 || w.ndim() != 2 ||
      x.shape(1) != (swiglu ? 2 : 1) * static_cast<int64_t>(w.shape(1)) ||
      x.shape(0) < 1 || x.shape(0) > kRowsProductMaxRows || w.shape(0) < 1 || w.shape(1) < 1 ||
      w.size() > INT32_MAX || x.shape(0) * w.shape(1) * static_cast<long>(dtype.size()) > kFoldedSharedBytes) {
    return nullptr;  // the caller runs MLX's matmul
  }
  const int rows = x.shape(0), k = w.shape(1), n_out = w.shape(0);
  // One column per warp: as many weight rows in flight at once as the GPU takes.
  std::string constants = int_constant("ROWS", rows) + int_constant("K", k) + int_constant("WARPS", kRowsProductWarps) +
                          int_constant("COLS", 1) + int_constant("PAIRED", 0) + int_constant("HELD_ROWS", rows <= kHeldRowsMax) +
                          int_constant("SWIGLU", swiglu) + int_constant("LOAD_UNROLL", load_unroll());
  const long blocks = (static_cast<long>(n_out) + kRowsProductWarps - 1) / kRowsProductWarps;
  auto outs = run_kernel("mlxn_rows_product", kernel_variant(dtype, constants, {kSwigluValue, kDotRows, kRowsProduct}), {x, w},
                         {{rows, n_out}}, {dtype}, {n_out}, blocks, 32 * kRowsProductWarps);
  if (outs.empty()) return nullptr;
  return wrap(std::move(outs[0]));
}

namespace {

// What the folded kernels share: the rows to norm and where the sum goes. Valid when the dtypes
// agree, `residual` is [rows ≤ kRowsProductMaxRows, K], `delta` (if any) matches it and
// `norm_weight` is [K]; `extra_shared` bytes are what the kernel declares besides the normed rows.
struct FoldedRows {
  bool valid = false;
  int rows = 0, k = 0;
  std::string constants;
  const mx::array* delta = nullptr;
};

FoldedRows folded_rows(const MlxArray& residual, const MlxArray* delta, const MlxArray& norm_weight, float eps,
                       long extra_shared, int warps) {
  const auto& x = residual.inner;
  const auto dtype = x.dtype();
  FoldedRows f;
  if (!is_float_type(dtype) || x.ndim() != 2 || x.shape(0) < 1 || x.shape(0) > kRowsProductMaxRows ||
      x.shape(1) < 1 || (delta != nullptr && (delta->inner.dtype() != dtype || delta->inner.shape() != x.shape())) ||
      norm_weight.inner.dtype() != dtype || norm_weight.inner.ndim() != 1 || norm_weight.inner.shape(0) != x.shape(1) ||
      static_cast<long>(x.size()) * dtype.size() + extra_shared > kFoldedSharedBytes) {
    return f;
  }
  f.valid = true;
  f.rows = x.shape(0);
  f.k = x.shape(1);
  // Without a delta the residual stands in for it (never read).
  f.delta = delta != nullptr ? &delta->inner : &x;
  f.constants = int_constant("ROWS", f.rows) + int_constant("K", f.k) + int_constant("WARPS", warps) +
                int_constant("ADD", delta != nullptr) + float_constant("EPS", eps) +
                int_constant("LOAD_UNROLL", load_unroll());
  return f;
}

}  // namespace

ListPtr gpu_norm_product(const MlxArray& residual, const MlxArray* delta, const MlxArray& norm_weight, float eps,
                         const MlxArray& weight, bool swiglu) {
  const auto& w = weight.inner;
  const auto dtype = residual.inner.dtype();
  const FoldedRows f = folded_rows(residual, delta, norm_weight, eps, 0, kFoldedWarps);
  if (!f.valid || w.dtype() != dtype || w.ndim() != 2 || w.shape(1) != f.k || w.shape(0) < 1 || w.size() > INT32_MAX ||
      (swiglu && w.shape(0) % 2 != 0)) {
    return nullptr;  // the caller runs the separate ops
  }
  // Output columns: with the SwiGLU, one per gate/up pair.
  const int n_out = swiglu ? w.shape(0) / 2 : w.shape(0);
  // With one or two rows each block recomputes a few hundred elements: one column per warp.
  // With more, two (as registers allow: a warp holds its columns' weight rows at once), so fewer
  // blocks repeat the norm of the rows (more would unroll into hundreds of kilobytes of PTX).
  const int pieces_per_row = whole_row_pieces(dtype, f.k);
  const int columns_per_warp = f.rows <= 2 || pieces_per_row == 0 ? 1 : std::max(1, std::min(2, kMaxHeldPieces / pieces_per_row));
  const long blocks = (static_cast<long>(n_out) + kFoldedWarps * columns_per_warp - 1) / (kFoldedWarps * columns_per_warp);
  // The normed rows are staged in shared memory once per block. Held in every warp's registers
  // instead (as rows_product holds its rows), each warp repeated the norm's arithmetic for itself:
  // on an H100 that made this kernel slower (Qwen3-0.6B's q/k/v 6.1 against 4.5 µs, gate/up with
  // the SwiGLU 8.1 against 6.6; kernel-bench.py).
  const std::string constants = f.constants + int_constant("COLS", columns_per_warp) + int_constant("PAIRED", swiglu) +
                                int_constant("HELD_ROWS", 0);
  auto outs = run_kernel("mlxn_norm_product", kernel_variant(dtype, constants, {kSwigluValue, kNormRows, kDotRows, kNormProduct}),
                         {residual.inner, *f.delta, norm_weight.inner, w}, {residual.inner.shape(), {f.rows, n_out}},
                         {dtype, dtype}, {n_out}, blocks, 32 * kFoldedWarps);
  if (outs.empty()) return nullptr;
  return wrap_list(std::move(outs));
}

ListPtr gpu_norm_qkv_heads(const MlxArray& residual, const MlxArray* delta, const MlxArray& norm_weight, float eps,
                           const MlxArray& weight, const QkHeadsSettings& heads) {
  const int32_t n_q = heads.n_q, n_k = heads.n_k, head_dim = heads.head_dim;
  const mx::array& offset = heads.offset.inner;
  const auto& w = weight.inner;
  const auto dtype = residual.inner.dtype();
  if (head_dim <= 0 || head_dim % 2 != 0 || head_dim > 256 || n_q <= 0 || n_k <= 0) return nullptr;
  // The head's products, float32 per row, beside the normed rows in shared memory.
  const long head_bytes = residual.inner.ndim() == 2 ? residual.inner.shape(0) * 4L * head_dim : 0;
  const FoldedRows f = folded_rows(residual, delta, norm_weight, eps, head_bytes, kFoldedHeadWarps);
  const auto is_head_weight = [&](const mx::array& a) {
    return a.dtype() == dtype && a.ndim() == 1 && a.shape(0) == head_dim;
  };
  const bool per_row = offset.ndim() == 1;
  if (!f.valid || w.dtype() != dtype || w.ndim() != 2 || w.shape(1) != f.k ||
      w.shape(0) != static_cast<int64_t>(n_q + 2 * n_k) * head_dim || w.size() > INT32_MAX ||
      !is_head_weight(heads.q_weight.inner) || !is_head_weight(heads.k_weight.inner) || offset.dtype() != mx::int32 ||
      offset.ndim() > 1 || (per_row && offset.shape(0) != f.rows)) {
    return nullptr;  // the caller runs the separate ops
  }
  // One or two rows: the norm and product as norm_product's kernel runs them (one column per
  // warp over the whole GPU), then qkv_heads: two kernels, 6.5 + 3.5 µs a layer against 14.3 for
  // this one in a decoding step on an H100 (kernel-profile.cc), whose block for a head walks the
  // head's columns in turn. Splitting a head over a thread block cluster instead made it slower
  // still (22 µs, kernel-bench.py).
  if (f.rows <= kHeldRowsMax) {
    if (ListPtr normed = gpu_norm_product(residual, delta, norm_weight, eps, weight, false)) {
      const MlxArray qkv{normed->items[1]};
      const QkvSources sources{qkv, 0, qkv, static_cast<int64_t>(n_q) * head_dim, qkv, static_cast<int64_t>(n_q + n_k) * head_dim};
      if (ListPtr qkv_heads = gpu_qkv_heads(sources, f.rows, 1, heads)) {
        qkv_heads->items.insert(qkv_heads->items.begin(), normed->items[0]);
        return qkv_heads;
      }
    }
  }
  std::string constants = f.constants + int_constant("COLS", 1) + int_constant("PAIRED", 0) + int_constant("HELD_ROWS", 0) +
                          int_constant("HEAD_DIM", head_dim) + int_constant("N_Q", n_q) +
                          int_constant("N_K", n_k) + int_constant("TRADITIONAL", heads.traditional) +
                          int_constant("PER_ROW_OFFSET", per_row) + float_constant("Q_EPS", heads.q_eps) +
                          float_constant("K_EPS", heads.k_eps) + float_constant("LOG2_BASE", std::log2(heads.base)) +
                          float_constant("ROPE_SCALE", heads.scale);
  const mx::Shape kv_shape{f.rows, n_k, 1, head_dim};
  auto outs = run_kernel("mlxn_norm_qkv_heads",
                         kernel_variant(dtype, constants, {kSwigluValue, kNormRows, kDotRows, kNormQkvHeads}),
                         {residual.inner, *f.delta, norm_weight.inner, w, heads.q_weight.inner, heads.k_weight.inner, offset},
                         {residual.inner.shape(), {f.rows, n_q, 1, head_dim}, kv_shape, kv_shape},
                         {dtype, dtype, dtype, dtype}, {}, n_q + 2 * n_k, 32 * kFoldedHeadWarps);
  if (outs.empty()) return nullptr;
  return wrap_list(std::move(outs));
}

}  // namespace mlxn
