// The C++ side of the mlxn-sys bridge: thin wrappers that turn MLX's C++ API into
// cxx-friendly signatures. Exceptions are deliberately not caught here: cxx catches them at
// the boundary and returns them to Rust as `Err`.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "mlx/mlx.h"
#include "rust/cxx.h"

namespace mlxn {

namespace mx = mlx::core;

struct MlxArray {
  mx::array inner;
};
struct ArrayList {
  std::vector<mx::array> items;
};
// A group of processes of MLX's distributed layer (a cheap handle to the backend's state).
struct MlxGroup {
  mx::distributed::Group inner;
};

// Defined by the cxx-generated header; forward declarations let this header name them.
enum class UnaryOp : std::uint8_t;
enum class BinaryOp : std::uint8_t;
enum class ReduceOp : std::uint8_t;
enum class ScanOp : std::uint8_t;
enum class SortOp : std::uint8_t;
enum class ScatterMode : std::uint8_t;
enum class LinalgOp : std::uint8_t;
enum class FftOp : std::uint8_t;
enum class DerivativeProduct : std::uint8_t;
struct TraceCallback;
struct QuantizedMatrix;
struct RopeSettings;
struct QkvSources;
struct QkHeadsSettings;

using ArrayPtr = std::unique_ptr<MlxArray>;
using ListPtr = std::unique_ptr<ArrayList>;
using I32s = rust::Slice<const int32_t>;

// ---- helpers shared by the shim files -------------------------------------------------
// Refuses arrays whose element count overflows or whose bytes exceed MLX's memory limit.
// MLX's CPU allocator returns a null buffer when malloc fails and its kernels then write
// through it (SIGSEGV), and a shape whose product overflows int64 silently wraps to a small
// buffer (heap overflow); Python MLX crashes on `mx.zeros([10**9, 10**9])` too. So every array
// the bridge hands out is checked here (a few multiplications) and a too-large one is an error
// naming the limit (which `setMemoryLimit` raises). Lazy views larger than the limit (a huge
// broadcast that is never materialized) are refused too: a deliberate, documented trade.
void check_size(const mx::array& a);
inline ArrayPtr wrap(mx::array a) {
  check_size(a);
  return std::make_unique<MlxArray>(MlxArray{std::move(a)});
}
ListPtr wrap_list(std::vector<mx::array> v);
// The number of handles sharing `a`'s graph node. MLX does not expose it; an `mx::array` is
// exactly one shared_ptr to its node, which this reads.
inline long use_count(const mx::array& a) {
  static_assert(sizeof(mx::array) == sizeof(std::shared_ptr<void>), "mx::array is one shared_ptr");
  return reinterpret_cast<const std::shared_ptr<void>&>(a).use_count();
}
// Held by every evaluation: the evaluation thread's tasks and the JS thread's evaluating
// entry points (eval_thread.cc).
std::mutex& evaluation_lock();
// After a failed evaluation: drains every stream so the scheduler's task count is right again.
void recover_after_failed_eval();
// Bounds check / clip for index arrays (see ops.cc).
mx::array safe_index(const mx::array& idx, int64_t n, const char* what);
mx::Dtype to_dtype(uint8_t code);
uint8_t from_dtype(mx::Dtype d);
mx::Shape to_shape(I32s s);
std::vector<int> to_ints(I32s s);
inline std::optional<mx::array> opt(const MlxArray* p) {
  return p ? std::optional<mx::array>(p->inner) : std::nullopt;
}
mx::Device to_device(int32_t device_type);

// ---- lists ------------------------------------------------------------------------------
ListPtr list_new();
void list_push(ArrayList& list, const MlxArray& a);
size_t list_len(const ArrayList& list);
ArrayPtr list_get(const ArrayList& list, size_t i);

// ---- construction and metadata --------------------------------------------------------
ArrayPtr from_bytes(rust::Slice<const uint8_t> data, I32s shape, uint8_t dtype);
ArrayPtr scalar(double value, uint8_t dtype);
ArrayPtr scalar_int(int64_t value, uint8_t dtype);
ArrayPtr clone_array(const MlxArray& a);
rust::Vec<int32_t> shape(const MlxArray& a);
uint8_t dtype(const MlxArray& a);
size_t size(const MlxArray& a);
size_t ndim(const MlxArray& a);
size_t nbytes(const MlxArray& a);
size_t owned_nbytes(const MlxArray& a);
size_t itemsize(const MlxArray& a);
size_t array_id(const MlxArray& a);
rust::String describe(const MlxArray& a);
rust::String graph_ops(const ArrayList& list);

// ---- evaluation --------------------------------------------------------------------------
void eval(const ArrayList& list);
void async_eval(const ArrayList& list);
bool is_available(const MlxArray& a);
void wait(const MlxArray& a);
ArrayPtr materialize(const MlxArray& a);
const uint8_t* data_ptr(const MlxArray& a);

// ---- ops ---------------------------------------------------------------------------------
ArrayPtr unary(UnaryOp op, const MlxArray& a);
ArrayPtr binary(BinaryOp op, const MlxArray& a, const MlxArray& b);
ArrayPtr binary_scalar(BinaryOp op, const MlxArray& a, double value, uint8_t scalar_dtype, bool scalar_first);
ListPtr divmod(const MlxArray& a, const MlxArray& b);
ArrayPtr round(const MlxArray& a, int32_t decimals);
ArrayPtr reduce(ReduceOp op, const MlxArray& a, I32s axes, bool all_axes, bool keepdims, int32_t ddof);
ArrayPtr scan(ScanOp op, const MlxArray& a, int32_t axis, bool all_axes, bool reverse, bool inclusive);
ArrayPtr sort_op(SortOp op, const MlxArray& a, int32_t axis, bool all_axes, int32_t kth, bool keepdims);
ArrayPtr softmax(const MlxArray& a, I32s axes, bool all_axes, bool precise);
ArrayPtr clip(const MlxArray& a, const MlxArray* lo, const MlxArray* hi);
ArrayPtr where_(const MlxArray& cond, const MlxArray& x, const MlxArray& y);
ArrayPtr astype(const MlxArray& a, uint8_t dtype);
ArrayPtr view_as(const MlxArray& a, uint8_t dtype);
ArrayPtr nan_to_num(const MlxArray& a, double nan, double posinf, bool has_posinf, double neginf, bool has_neginf);
ArrayPtr isclose(const MlxArray& a, const MlxArray& b, double rtol, double atol, bool equal_nan);
ArrayPtr array_equal(const MlxArray& a, const MlxArray& b, bool equal_nan);

ArrayPtr full(I32s shape, const MlxArray& value, uint8_t dtype, bool has_dtype);
ArrayPtr arange(double start, double stop, double step, uint8_t dtype);
ArrayPtr linspace(double start, double stop, int32_t num, uint8_t dtype);
ArrayPtr eye(int32_t n, int32_t m, int32_t k, uint8_t dtype);
ArrayPtr tri(int32_t n, int32_t m, int32_t k, uint8_t dtype);

ArrayPtr reshape(const MlxArray& a, I32s shape);
ArrayPtr flatten(const MlxArray& a, int32_t start, int32_t end);
ArrayPtr squeeze(const MlxArray& a, I32s axes, bool all_axes);
ArrayPtr expand_dims(const MlxArray& a, I32s axes);
ArrayPtr transpose(const MlxArray& a, I32s axes, bool all_axes);
ArrayPtr swapaxes(const MlxArray& a, int32_t axis1, int32_t axis2);
ArrayPtr moveaxis(const MlxArray& a, int32_t source, int32_t destination);
ArrayPtr broadcast_to(const MlxArray& a, I32s shape);
ArrayPtr concatenate(const ArrayList& list, int32_t axis, bool all_axes);
ArrayPtr stack(const ArrayList& list, int32_t axis);
ListPtr split_sections(const MlxArray& a, int32_t sections, int32_t axis);
ListPtr split_at(const MlxArray& a, I32s indices, int32_t axis);
ArrayPtr tile(const MlxArray& a, I32s reps);
ArrayPtr repeat(const MlxArray& a, int32_t repeats, int32_t axis, bool all_axes);
ArrayPtr pad(const MlxArray& a, I32s axes, I32s low, I32s high, const MlxArray& value, rust::Str mode);
ArrayPtr roll(const MlxArray& a, I32s shift, I32s axes, bool all_axes);
ArrayPtr tril(const MlxArray& a, int32_t k);
ArrayPtr triu(const MlxArray& a, int32_t k);
ArrayPtr diagonal(const MlxArray& a, int32_t offset, int32_t axis1, int32_t axis2);
ArrayPtr diag(const MlxArray& a, int32_t k);
ArrayPtr flip(const MlxArray& a, I32s axes, bool all_axes);

ArrayPtr slice(const MlxArray& a, I32s start, I32s stop, I32s strides);
ArrayPtr slice_update(const MlxArray& src, const MlxArray& update, I32s start, I32s stop, I32s strides);
ArrayPtr transposed_leaf(const MlxArray& w);
// The same, for the shim's own use (linear.cc), without a handle.
mx::array transposed_leaf_array(const mx::array& a);
ArrayPtr take(const MlxArray& a, const MlxArray& indices, int32_t axis, bool all_axes);
ArrayPtr take_along_axis(const MlxArray& a, const MlxArray& indices, int32_t axis, bool all_axes);
ArrayPtr put_along_axis(const MlxArray& a, const MlxArray& indices, const MlxArray& values, int32_t axis, bool all_axes);
ArrayPtr gather(const MlxArray& a, const ArrayList& indices, I32s axes, I32s slice_sizes);
ArrayPtr scatter(ScatterMode mode, const MlxArray& a, const ArrayList& indices, const MlxArray& updates, I32s axes);

ArrayPtr addmm(const MlxArray& c, const MlxArray& a, const MlxArray& b, float alpha, float beta);
// x · Wᵀ (+ bias); large CPU products are split over CPU streams (linear.cc).
ArrayPtr linear_product(const MlxArray& x, const MlxArray& w, const MlxArray* bias, bool w_transposed);
mx::array quantized_linear(const mx::array& x, const mx::array& w, const mx::array& scales,
                           const std::optional<mx::array>& biases, std::optional<int> group_size,
                           std::optional<int> bits, const std::string& mode);
// `x [..., k] · b [k, n] (+ bias [n])` in bfloat16 or float16 on a CPU stream, computed by
// cpu_half_gemm.rs (cpu_half_matmul.cc); `applies` says whether it takes these operands there.
bool cpu_half_matmul_applies(const mx::array& x, const mx::array& b, const mx::array* bias, const mx::Stream& s);
mx::array cpu_half_matmul(const mx::array& x, const mx::array& b, const mx::array* bias, mx::Stream s);
// Attention on a Linux CPU where @mlxn computes it better than MLX's composed fallback
// (cpu_attention.cc); nothing where MLX's own attention should run (other devices, shapes, masks
// or sinks, and MLX's errors).
std::optional<mx::array> attention_on_cpu(const mx::array& q, const mx::array& k, const mx::array& v, float scale,
                                          const std::string& mask_mode, const std::optional<mx::array>& mask,
                                          const std::optional<mx::array>& sinks, const mx::Stream& s);
// `x · dequantize(w)ᵀ` for affine 2/4/8-bit weights on a Linux CPU stream, computed by
// cpu_quantized_gemm.rs (cpu_quantized_matmul.cc); nothing where MLX's own product should run.
std::optional<mx::array> cpu_quantized_linear(const mx::array& x, const mx::array& w, const mx::array& scales,
                                              const std::optional<mx::array>& biases, std::optional<int> group_size,
                                              std::optional<int> bits, const std::string& mode, const mx::Stream& s);
void set_cpu_matmul_threads(int32_t threads);
int32_t cpu_matmul_threads();
ArrayPtr tensordot(const MlxArray& a, const MlxArray& b, I32s axes_a, I32s axes_b);
ArrayPtr tensordot_n(const MlxArray& a, const MlxArray& b, int32_t n);
ArrayPtr einsum(rust::Str subscripts, const ArrayList& operands);
ArrayPtr linalg_norm(const MlxArray& a, uint8_t ord_kind, double ord, rust::Str ord_name, I32s axes, bool has_axes, bool keepdims);
ArrayPtr linalg_unary(LinalgOp op, const MlxArray& a);
ListPtr linalg_qr(const MlxArray& a);
ListPtr linalg_svd(const MlxArray& a, bool compute_uv);
ListPtr linalg_eigh(const MlxArray& a, rust::Str uplo);
ArrayPtr linalg_solve(const MlxArray& a, const MlxArray& b);
ArrayPtr fft(FftOp op, const MlxArray& a, I32s n, bool has_n, I32s axes, bool has_axes);

ArrayPtr random_key(uint64_t seed);
ArrayPtr random_split(const MlxArray& key, int32_t num);
ArrayPtr random_bits(I32s shape, int32_t width, const MlxArray& key);
ArrayPtr random_uniform(const MlxArray& low, const MlxArray& high, I32s shape, uint8_t dtype, const MlxArray& key);
ArrayPtr random_normal(I32s shape, uint8_t dtype, const MlxArray& loc, const MlxArray& scale, const MlxArray& key);
ArrayPtr random_randint(const MlxArray& low, const MlxArray& high, I32s shape, uint8_t dtype, const MlxArray& key);
ArrayPtr random_bernoulli(const MlxArray& p, I32s shape, bool has_shape, const MlxArray& key);
ArrayPtr random_truncated_normal(const MlxArray& lower, const MlxArray& upper, I32s shape, bool has_shape, uint8_t dtype, const MlxArray& key);
ArrayPtr random_gumbel(I32s shape, uint8_t dtype, const MlxArray& key);
ArrayPtr random_categorical(const MlxArray& logits, int32_t axis, I32s shape, bool has_shape, int32_t num_samples, const MlxArray& key);
ArrayPtr random_permutation(const MlxArray& x, int32_t axis, const MlxArray& key);
ArrayPtr random_permutation_n(int32_t n, const MlxArray& key);

ArrayPtr fast_rms_norm(const MlxArray& x, const MlxArray* weight, float eps);
ArrayPtr fast_layer_norm(const MlxArray& x, const MlxArray* weight, const MlxArray* bias, float eps);
ArrayPtr fast_rope(const MlxArray& x, const RopeSettings& settings, const MlxArray& offset, const MlxArray* freqs);
// Fused decoder-layer kernels for CUDA GPUs (gpu_fused.cc, gpu_fused_rows.cc).
bool gpu_fused_kernels_usable();
bool is_tracer(const MlxArray& a);
ListPtr gpu_qkv_heads(const QkvSources& sources, int32_t batch, int32_t seq, const QkHeadsSettings& heads);
ListPtr gpu_add_rms_norm(const MlxArray& residual, const MlxArray& delta, const MlxArray& weight, float eps);
ArrayPtr gpu_swiglu_halves(const MlxArray& gate_up);
ArrayPtr gpu_rows_product(const MlxArray& x, const MlxArray& weight, bool swiglu);
ListPtr gpu_norm_product(const MlxArray& residual, const MlxArray* delta, const MlxArray& norm_weight, float eps,
                         const MlxArray& weight, bool swiglu);
ListPtr gpu_norm_qkv_heads(const MlxArray& residual, const MlxArray* delta, const MlxArray& norm_weight, float eps,
                           const MlxArray& weight, const QkHeadsSettings& heads);
ArrayPtr gpu_decode_attention(const MlxArray& queries, const MlxArray& keys, const MlxArray& values,
                              const MlxArray* mask, int32_t length, float scale);
ArrayPtr fast_sdpa(const MlxArray& q, const MlxArray& k, const MlxArray& v, float scale, rust::Str mask_mode, const MlxArray* mask, const MlxArray* sinks);
ListPtr quantize(const MlxArray& w, int32_t group_size, int32_t bits, rust::Str mode);
ArrayPtr dequantize(const QuantizedMatrix& matrix, uint8_t dtype, bool has_dtype);
ArrayPtr quantized_matmul(const MlxArray& x, const QuantizedMatrix& matrix, bool transpose);
ArrayPtr gather_mm(const MlxArray& a, const MlxArray& b, const MlxArray* lhs, const MlxArray* rhs, bool sorted);
ArrayPtr gather_qmm(const MlxArray& x, const QuantizedMatrix& matrix, const MlxArray* lhs, const MlxArray* rhs, bool transpose, bool sorted);

// ---- transforms --------------------------------------------------------------------------
ListPtr value_and_grad(TraceCallback& cb, const ArrayList& inputs, I32s argnums, ArrayList& grads);
ListPtr derivative_product(DerivativeProduct op, TraceCallback& cb, const ArrayList& primals, const ArrayList& vectors,
                           ArrayList& products);
ListPtr vmap(TraceCallback& cb, const ArrayList& inputs, I32s in_axes, I32s out_axes);
ListPtr compile_call(TraceCallback& cb, size_t id, bool shapeless, const ArrayList& inputs);
void compile_erase(size_t id);
void set_compile_enabled(bool enabled);

// ---- devices, streams, memory ----------------------------------------------------------
int32_t default_device_type();
void set_default_device(int32_t device_type);
bool device_available(int32_t device_type);
int32_t new_stream(int32_t device_type);
int32_t default_stream_index(int32_t device_type);
void set_default_stream(int32_t device_type, int32_t index);
void synchronize(int32_t device_type, int32_t index);
size_t active_memory();
size_t peak_memory();
size_t cache_memory();
void reset_peak_memory();
void clear_cache();
size_t set_memory_limit(size_t limit);
size_t set_cache_limit(size_t limit);
size_t set_wired_limit(size_t limit);
rust::String mlx_version();

// ---- the evaluation thread (eval_thread.cc) -------------------------------------------
void use_shared_streams();
bool shared_streams();
void eval_thread_schedule(const ArrayList& list);
rust::Vec<double> eval_thread_read(const ArrayList& list);
uint64_t eval_thread_schedule_read(const ArrayList& list);
rust::Vec<double> eval_thread_read_ticket(uint64_t ticket);
void eval_thread_forget_ticket(uint64_t ticket);
void eval_thread_drain();
rust::Vec<double> eval_thread_stats();

// ---- checkpoint files (io.cc) ---------------------------------------------------------------
ListPtr load_safetensors_file(rust::Str path, rust::Vec<rust::String>& names, rust::Vec<rust::String>& metadata);
ListPtr load_gguf_file(rust::Str path, rust::Vec<rust::String>& names, rust::Vec<rust::String>& metadata);

// ---- distributed (distributed.cc) ---------------------------------------------------------
bool dist_is_available(rust::Str backend);
std::unique_ptr<MlxGroup> dist_init(bool strict, rust::Str backend);
int32_t dist_rank(const MlxGroup& g);
int32_t dist_size(const MlxGroup& g);
std::unique_ptr<MlxGroup> dist_split(const MlxGroup& g, int32_t color, int32_t key);
ArrayPtr dist_collective(uint8_t op, const MlxArray& x, const MlxGroup& g);
ArrayPtr dist_send(const MlxArray& x, int32_t dst, const MlxGroup& g);
ArrayPtr dist_recv(I32s shape, uint8_t dtype, int32_t src, const MlxGroup& g);
ArrayPtr dist_recv_like(const MlxArray& x, int32_t src, const MlxGroup& g);

}  // namespace mlxn
