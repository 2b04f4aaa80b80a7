// `x · Wᵀ (+ b)`, the product of every Linear layer and output head, with large products on
// the CPU spread over several threads.
//
// Why: a CPU-bound model should use every core. MLX's float32 and float64 CPU products go to
// `cblas_sgemm`/`cblas_dgemm`, which on Linux @mlxn computes itself on several threads
// (cpu_gemm.rs), so those are left whole here; on Linux bfloat16 and float16 products and affine
// 2/4/8-bit quantized products are primitives of our own, threaded inside (cpu_half_matmul.cc,
// cpu_quantized_matmul.cc). Other products are not threaded: other quantization modes and widths
// run in MLX's quantized kernels, and on a platform whose BLAS we do not replace (macOS) the
// float, half and quantized products run in MLX's own kernels. For those, each CPU stream has a
// thread of its own in MLX's scheduler, so the columns of the product (rows of W) are cut into
// `parts` blocks, each block's matmul runs on its own stream, and the blocks are concatenated on
// the caller's stream. A column of `x · Wᵀ` is the same dot products in the same order whichever
// block computes it, so the forward result is bit-identical to the single matmul; the gradient
// with respect to `x` sums the blocks' partial products (rounding differs by a few ulps), the
// weight's gradient is again bit-identical. Measured with Python MLX 0.32.4 on 2 cores (reference
// BLAS, one thread): 1.6-2.0x per product from about 0.5 M multiply-adds up; below about 0.1 M
// the cross-stream handoff (tens of microseconds) costs more than it saves, hence the thresholds.
//
// GPU streams, integer or complex products and small products take the single matmul. The
// worker streams are made once (under the evaluation lock, since MLX's table of shared CPU
// encoders is not synchronised) and are thread-unsafe streams like the shared defaults
// (eval_thread.cc): any thread may evaluate them, one at a time.
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn {

namespace {

// The least work for one block: below it the handoff between streams outweighs the gain.
constexpr int64_t kMinMacsPerPart = int64_t{1} << 18;
// The fewest output columns per block.
constexpr int64_t kMinColumnsPerPart = 64;
constexpr int32_t kMaxParts = 64;

std::atomic<int32_t> g_parts{1};
std::mutex g_workers_mutex;
std::vector<mx::Stream> g_workers;  // CPU streams 1..parts-1 (block 0 runs on the caller's stream)

std::vector<mx::Stream> worker_streams(int32_t count) {
  std::lock_guard<std::mutex> lock(g_workers_mutex);
  return std::vector<mx::Stream>(g_workers.begin(), g_workers.begin() + std::min<size_t>(count, g_workers.size()));
}

bool splittable_dtype(mx::Dtype t) {
  return mx::issubdtype(t, mx::floating);
}

// Whether a product in `t` (the promoted dtype of both operands) already uses several threads
// inside MLX's matmul, so that splitting it over streams would only add handoffs.
bool threaded_inside_matmul(mx::Dtype t) {
  return cpu_gemm_replaces_blas() && (t == mx::float32 || t == mx::float64);
}

// `w` (`[N, K]`, or `[K, N]` when `w_transposed`) as the `[K, N]` right operand.
mx::array right_operand(const mx::array& w, bool w_transposed) {
  return w_transposed ? w : transposed_leaf_array(w);
}

mx::array product(const mx::array& x, const mx::array& wt, const mx::array* bias, mx::StreamOrDevice s) {
  return bias ? mx::addmm(*bias, x, wt, 1.0f, 1.0f, s) : mx::matmul(x, wt, s);
}

}  // namespace

void set_cpu_matmul_threads(int32_t threads) {
  if (threads < 1 || threads > kMaxParts) {
    throw std::invalid_argument("[setCpuMatmulThreads] threads must be an integer from 1 to 64");
  }
  // Made before they are used, under the evaluation lock: creating a stream inserts into a table
  // that an evaluating thread reads.
  std::lock_guard<std::mutex> eval_lock(evaluation_lock());
  std::lock_guard<std::mutex> lock(g_workers_mutex);
  while (static_cast<int32_t>(g_workers.size()) < threads - 1) {
    g_workers.push_back(mx::new_thread_unsafe_stream(mx::Device(mx::Device::cpu)));
  }
  g_parts.store(threads);
  cpu_gemm_set_threads(threads);
}

int32_t cpu_matmul_threads() { return g_parts.load(); }

// How many blocks a product of `rows × inner × columns` multiply-adds is cut into (1: not cut).
static int32_t cpu_matmul_parts(int64_t rows, int64_t inner, int64_t columns) {
  int64_t parts = g_parts.load();
  if (parts < 2 || rows <= 0 || inner <= 0 || columns <= 0) return 1;
  parts = std::min(parts, columns / kMinColumnsPerPart);
  // In double: the product of three dimensions may exceed int64 for shapes never materialised.
  const double macs = static_cast<double>(rows) * static_cast<double>(inner) * static_cast<double>(columns);
  parts = std::min<int64_t>(parts, static_cast<int64_t>(std::min(macs / kMinMacsPerPart, 1e6)));
  return static_cast<int32_t>(std::max<int64_t>(parts, 1));
}

// The product of `rows × inner` by `columns` output columns, as `block(c0, c1, stream)` over
// column ranges on several CPU streams when that pays, else as one block on `stream`.
template <class Block>
static mx::array by_column_blocks(int64_t rows, int64_t inner, int64_t columns, bool splittable, Block&& block) {
  const auto stream = mx::default_stream(mx::default_device());
  int32_t parts = (splittable && stream.device == mx::Device::cpu) ? cpu_matmul_parts(rows, inner, columns) : 1;
  if (parts < 2) return block(0, static_cast<int32_t>(columns), stream);
  auto workers = worker_streams(parts - 1);
  parts = static_cast<int32_t>(workers.size()) + 1;
  std::vector<mx::array> blocks;
  blocks.reserve(parts);
  for (int32_t p = 0; p < parts; ++p) {
    const int32_t c0 = static_cast<int32_t>(columns * p / parts);
    const int32_t c1 = static_cast<int32_t>(columns * (p + 1) / parts);
    blocks.push_back(block(c0, c1, p == 0 ? stream : workers[p - 1]));
  }
  return mx::concatenate(blocks, -1, stream);
}

static int64_t rows_of(const mx::array& x) {
  return x.ndim() == 0 ? 0 : static_cast<int64_t>(x.size()) / std::max<int64_t>(x.shape(-1), 1);
}

ArrayPtr linear_product(const MlxArray& x_in, const MlxArray& w_in, const MlxArray* bias, bool w_transposed) {
  const auto& x = x_in.inner;
  const auto& w = w_in.inner;
  if (w.ndim() != 2) {
    throw std::invalid_argument("[linear] the weight must be 2-D, got " + std::to_string(w.ndim()) + " dimensions");
  }
  if (x.ndim() < 1) throw std::invalid_argument("[linear] the input must have at least one dimension");
  const int32_t inner = w.shape(w_transposed ? 0 : 1);
  const int64_t columns = w.shape(w_transposed ? 1 : 0);
  const mx::array* b = bias ? &bias->inner : nullptr;
  const auto stream = mx::default_stream(mx::default_device());
  if (x.ndim() >= 1 && x.shape(-1) == inner) {
    mx::array wt = right_operand(w, w_transposed);
    // bfloat16 and float16 on the CPU: our own primitive, threaded inside (cpu_half_matmul.cc).
    if (cpu_half_matmul_applies(x, wt, b, stream)) return wrap(cpu_half_matmul(x, wt, b, stream));
  }
  const bool splittable = splittable_dtype(x.dtype()) && splittable_dtype(w.dtype()) && x.shape(-1) == inner &&
                          !threaded_inside_matmul(mx::promote_types(x.dtype(), w.dtype())) &&
                          (!b || (b->ndim() == 1 && b->shape(0) == columns));
  return wrap(by_column_blocks(rows_of(x), inner, columns, splittable, [&](int32_t c0, int32_t c1, mx::Stream s) {
    if (c0 == 0 && c1 == columns) return product(x, right_operand(w, w_transposed), b, s);
    // Rows c0..c1 of W: contiguous in a row-major W, so the block's Wᵀ is a column-major view
    // that MLX's matmul reads without a copy (as it reads the whole Wᵀ).
    mx::array wt = w_transposed ? mx::slice(w, {0, c0}, {inner, c1}, s)
                                : mx::transpose(mx::slice(w, {c0, 0}, {c1, inner}, s), {1, 0}, s);
    if (!b) return product(x, wt, nullptr, s);
    mx::array bp = mx::slice(*b, {c0}, {c1}, s);
    return product(x, wt, &bp, s);
  }));
}

mx::array quantized_linear(const mx::array& x, const mx::array& w, const mx::array& scales,
                           const std::optional<mx::array>& biases, std::optional<int> group_size,
                           std::optional<int> bits, const std::string& mode) {
  // Affine 2/4/8-bit weights on a Linux CPU: our own primitive, threaded inside
  // (cpu_quantized_matmul.cc).
  if (auto ours = cpu_quantized_linear(x, w, scales, biases, group_size, bits, mode,
                                       mx::default_stream(mx::default_device()))) {
    return *ours;
  }
  // Each output column reads its own rows of w, scales and biases: blocks of rows are independent.
  const int64_t columns = w.shape(0);
  const bool splittable = w.ndim() == 2 && scales.ndim() == 2 && scales.shape(0) == columns &&
                          (!biases || (biases->ndim() == 2 && biases->shape(0) == columns)) &&
                          splittable_dtype(x.dtype()) && x.ndim() >= 1;
  const int64_t inner = x.ndim() >= 1 ? x.shape(-1) : 0;
  return by_column_blocks(rows_of(x), inner, columns, splittable, [&](int32_t c0, int32_t c1, mx::Stream s) {
    if (c0 == 0 && c1 == columns) return mx::quantized_matmul(x, w, scales, biases, true, group_size, bits, mode, s);
    auto rows = [&](const mx::array& a) { return mx::slice(a, {c0, 0}, {c1, a.shape(1)}, s); };
    std::optional<mx::array> bp = biases ? std::optional<mx::array>(rows(*biases)) : std::nullopt;
    return mx::quantized_matmul(x, rows(w), rows(scales), bp, true, group_size, bits, mode, s);
  });
}

}  // namespace mlxn
