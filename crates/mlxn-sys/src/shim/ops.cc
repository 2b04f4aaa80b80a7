// Array operations: elementwise, reductions, scans, sorting, creation, shapes, indexing.
// Dispatch is a switch over the shared op enums declared in lib.rs.
#include <algorithm>
#include <climits>
#include <string>
#include <type_traits>
#include <cstdint>
#include <optional>
#include <stdexcept>

#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn {

ArrayPtr unary(UnaryOp op, const MlxArray& x) {
  const auto& a = x.inner;
  switch (op) {
    case UnaryOp::Abs: return wrap(mx::abs(a));
    case UnaryOp::Negative: return wrap(mx::negative(a));
    case UnaryOp::Sign: return wrap(mx::sign(a));
    case UnaryOp::Sqrt: return wrap(mx::sqrt(a));
    case UnaryOp::Rsqrt: return wrap(mx::rsqrt(a));
    case UnaryOp::Square: return wrap(mx::square(a));
    case UnaryOp::Reciprocal: return wrap(mx::reciprocal(a));
    case UnaryOp::Exp: return wrap(mx::exp(a));
    case UnaryOp::Expm1: return wrap(mx::expm1(a));
    case UnaryOp::Log: return wrap(mx::log(a));
    case UnaryOp::Log2: return wrap(mx::log2(a));
    case UnaryOp::Log10: return wrap(mx::log10(a));
    case UnaryOp::Log1p: return wrap(mx::log1p(a));
    case UnaryOp::Sin: return wrap(mx::sin(a));
    case UnaryOp::Cos: return wrap(mx::cos(a));
    case UnaryOp::Tan: return wrap(mx::tan(a));
    case UnaryOp::Arcsin: return wrap(mx::arcsin(a));
    case UnaryOp::Arccos: return wrap(mx::arccos(a));
    case UnaryOp::Arctan: return wrap(mx::arctan(a));
    case UnaryOp::Sinh: return wrap(mx::sinh(a));
    case UnaryOp::Cosh: return wrap(mx::cosh(a));
    case UnaryOp::Tanh: return wrap(mx::tanh(a));
    case UnaryOp::Arcsinh: return wrap(mx::arcsinh(a));
    case UnaryOp::Arccosh: return wrap(mx::arccosh(a));
    case UnaryOp::Arctanh: return wrap(mx::arctanh(a));
    case UnaryOp::Erf: return wrap(mx::erf(a));
    case UnaryOp::Erfinv: return wrap(mx::erfinv(a));
    case UnaryOp::Sigmoid: return wrap(mx::sigmoid(a));
    case UnaryOp::Floor: return wrap(mx::floor(a));
    case UnaryOp::Ceil: return wrap(mx::ceil(a));
    case UnaryOp::LogicalNot: return wrap(mx::logical_not(a));
    case UnaryOp::BitwiseInvert: return wrap(mx::bitwise_invert(a));
    case UnaryOp::StopGradient: return wrap(mx::stop_gradient(a));
    case UnaryOp::Isnan: return wrap(mx::isnan(a));
    case UnaryOp::Isinf: return wrap(mx::isinf(a));
    case UnaryOp::Isfinite: return wrap(mx::isfinite(a));
    case UnaryOp::Isposinf: return wrap(mx::isposinf(a));
    case UnaryOp::Isneginf: return wrap(mx::isneginf(a));
    case UnaryOp::Real: return wrap(mx::real(a));
    case UnaryOp::Imag: return wrap(mx::imag(a));
    case UnaryOp::Conjugate: return wrap(mx::conjugate(a));
    case UnaryOp::Degrees: return wrap(mx::degrees(a));
    case UnaryOp::Radians: return wrap(mx::radians(a));
    case UnaryOp::Copy: return wrap(mx::copy(a));
  }
  throw std::invalid_argument("unknown unary op");
}

// MLX's CPU kernels divide integers with the bare `/` and `%` (UB, and a hardware trap on
// x86): `INT_MIN // -1`, `INT_MIN % -1` and an integer divmod by zero raise SIGFPE and kill
// the process (MLX 0.32.4; Python MLX dies the same way). For integer operands we divide by a
// safe divisor (1 where the divisor is 0, or where the pair is INT_MIN, -1) and give numpy's
// answers there: x // 0 == 0, x % 0 == 0, INT_MIN // -1 == INT_MIN (wraps), INT_MIN % -1 == 0.
// Float and bool operands are untouched.
struct IntDivision {
  mx::array a, b, zero;
};
static std::optional<IntDivision> guard_int_division(const mx::array& a, const mx::array& b) {
  auto dt = mx::promote_types(a.dtype(), b.dtype());
  if (!mx::issubdtype(dt, mx::integer)) return std::nullopt;
  auto aa = mx::astype(a, dt);
  auto bb = mx::astype(b, dt);
  auto zero = mx::equal(bb, mx::array(0, dt));
  auto unsafe = zero;
  if (mx::issubdtype(dt, mx::signedinteger)) {
    int64_t lowest = dt == mx::int8 ? INT8_MIN : dt == mx::int16 ? INT16_MIN : dt == mx::int32 ? INT32_MIN : INT64_MIN;
    auto overflow = mx::logical_and(mx::equal(aa, mx::array(lowest, dt)), mx::equal(bb, mx::array(-1, dt)));
    unsafe = mx::logical_or(unsafe, overflow);
  }
  return IntDivision{aa, mx::where(unsafe, mx::array(1, dt), bb), zero};
}
static mx::array safe_floor_divide(const mx::array& a, const mx::array& b) {
  auto g = guard_int_division(a, b);
  if (!g) return mx::floor_divide(a, b);
  auto q = mx::floor_divide(g->a, g->b);
  return mx::where(g->zero, mx::zeros_like(q), q);
}
static mx::array safe_remainder(const mx::array& a, const mx::array& b) {
  auto g = guard_int_division(a, b);
  if (!g) return mx::remainder(a, b);
  return mx::remainder(g->a, g->b);  // x % 1 == 0 at the guarded places
}

static mx::array apply_binary(BinaryOp op, const mx::array& a, const mx::array& b) {
  switch (op) {
    case BinaryOp::Add: return mx::add(a, b);
    case BinaryOp::Subtract: return mx::subtract(a, b);
    case BinaryOp::Multiply: return mx::multiply(a, b);
    case BinaryOp::Divide: return mx::divide(a, b);
    case BinaryOp::FloorDivide: return safe_floor_divide(a, b);
    case BinaryOp::Remainder: return safe_remainder(a, b);
    case BinaryOp::Power: return mx::power(a, b);
    case BinaryOp::Maximum: return mx::maximum(a, b);
    case BinaryOp::Minimum: return mx::minimum(a, b);
    case BinaryOp::Equal: return mx::equal(a, b);
    case BinaryOp::NotEqual: return mx::not_equal(a, b);
    case BinaryOp::Less: return mx::less(a, b);
    case BinaryOp::LessEqual: return mx::less_equal(a, b);
    case BinaryOp::Greater: return mx::greater(a, b);
    case BinaryOp::GreaterEqual: return mx::greater_equal(a, b);
    case BinaryOp::LogicalAnd: return mx::logical_and(a, b);
    case BinaryOp::LogicalOr: return mx::logical_or(a, b);
    case BinaryOp::BitwiseAnd: return mx::bitwise_and(a, b);
    case BinaryOp::BitwiseOr: return mx::bitwise_or(a, b);
    case BinaryOp::BitwiseXor: return mx::bitwise_xor(a, b);
    case BinaryOp::LeftShift: return mx::left_shift(a, b);
    case BinaryOp::RightShift: return mx::right_shift(a, b);
    case BinaryOp::Arctan2: return mx::arctan2(a, b);
    case BinaryOp::Logaddexp: return mx::logaddexp(a, b);
    case BinaryOp::Matmul: return mx::matmul(a, b);
    case BinaryOp::Inner: return mx::inner(a, b);
    case BinaryOp::Outer: return mx::outer(a, b);
    case BinaryOp::Kron: return mx::kron(a, b);
  }
  throw std::invalid_argument("unknown binary op");
}

ArrayPtr binary(BinaryOp op, const MlxArray& a, const MlxArray& b) {
  return wrap(apply_binary(op, a.inner, b.inner));
}

ArrayPtr binary_scalar(BinaryOp op, const MlxArray& a, double value, uint8_t scalar_dtype, bool scalar_first) {
  auto dt = to_dtype(scalar_dtype);
  mx::array s = (dt == mx::float64)      ? mx::array(value, mx::float64)
                : (mx::issubdtype(dt, mx::integer)) ? mx::array(static_cast<int64_t>(value), dt)
                : (dt == mx::bool_)       ? mx::array(value != 0.0)
                : (dt == mx::complex64)   ? mx::array(std::complex<float>(static_cast<float>(value), 0.f))
                                          : mx::array(static_cast<float>(value), dt);
  return wrap(scalar_first ? apply_binary(op, s, a.inner) : apply_binary(op, a.inner, s));
}

ListPtr divmod(const MlxArray& a, const MlxArray& b) {
  auto g = guard_int_division(a.inner, b.inner);  // see guard_int_division
  if (!g) return wrap_list(mx::divmod(a.inner, b.inner));
  auto qr = mx::divmod(g->a, g->b);
  qr[0] = mx::where(g->zero, mx::zeros_like(qr[0]), qr[0]);
  return wrap_list(std::move(qr));
}
ArrayPtr round(const MlxArray& a, int32_t decimals) { return wrap(mx::round(a.inner, decimals)); }

ArrayPtr reduce(ReduceOp op, const MlxArray& x, I32s axes_in, bool all_axes, bool keepdims, int32_t ddof) {
  const auto& a = x.inner;
  std::vector<int> axes;
  if (all_axes) {
    for (int i = 0; i < static_cast<int>(a.ndim()); ++i) axes.push_back(i);
  } else {
    axes = to_ints(axes_in);
  }
  switch (op) {
    case ReduceOp::Sum: return wrap(mx::sum(a, axes, keepdims));
    case ReduceOp::Mean: return wrap(mx::mean(a, axes, keepdims));
    case ReduceOp::Prod: return wrap(mx::prod(a, axes, keepdims));
    case ReduceOp::Max: return wrap(mx::max(a, axes, keepdims));
    case ReduceOp::Min: return wrap(mx::min(a, axes, keepdims));
    case ReduceOp::All: return wrap(mx::all(a, axes, keepdims));
    case ReduceOp::Any: return wrap(mx::any(a, axes, keepdims));
    case ReduceOp::Logsumexp: return wrap(mx::logsumexp(a, axes, keepdims));
    case ReduceOp::Var: return wrap(mx::var(a, axes, keepdims, ddof));
    case ReduceOp::Std: return wrap(mx::std(a, axes, keepdims, ddof));
    case ReduceOp::Median: return wrap(mx::median(a, axes, keepdims));
  }
  throw std::invalid_argument("unknown reduction");
}

ArrayPtr scan(ScanOp op, const MlxArray& x, int32_t axis, bool all_axes, bool reverse, bool inclusive) {
  mx::array a = all_axes ? mx::reshape(x.inner, {-1}) : x.inner;
  int ax = all_axes ? 0 : axis;
  switch (op) {
    case ScanOp::Cumsum: return wrap(mx::cumsum(a, ax, reverse, inclusive));
    case ScanOp::Cumprod: return wrap(mx::cumprod(a, ax, reverse, inclusive));
    case ScanOp::Cummax: return wrap(mx::cummax(a, ax, reverse, inclusive));
    case ScanOp::Cummin: return wrap(mx::cummin(a, ax, reverse, inclusive));
    case ScanOp::Logcumsumexp: return wrap(mx::logcumsumexp(a, ax, reverse, inclusive));
  }
  throw std::invalid_argument("unknown scan");
}

ArrayPtr sort_op(SortOp op, const MlxArray& x, int32_t axis, bool all_axes, int32_t kth, bool keepdims) {
  const auto& a = x.inner;
  switch (op) {
    case SortOp::Sort: return wrap(all_axes ? mx::sort(a) : mx::sort(a, axis));
    case SortOp::Argsort: return wrap(all_axes ? mx::argsort(a) : mx::argsort(a, axis));
    case SortOp::Partition: return wrap(all_axes ? mx::partition(a, kth) : mx::partition(a, kth, axis));
    case SortOp::Argpartition: return wrap(all_axes ? mx::argpartition(a, kth) : mx::argpartition(a, kth, axis));
    case SortOp::Topk: return wrap(all_axes ? mx::topk(a, kth) : mx::topk(a, kth, axis));
    case SortOp::Argmax: return wrap(all_axes ? mx::argmax(a, keepdims) : mx::argmax(a, axis, keepdims));
    case SortOp::Argmin: return wrap(all_axes ? mx::argmin(a, keepdims) : mx::argmin(a, axis, keepdims));
  }
  throw std::invalid_argument("unknown sort op");
}

ArrayPtr softmax(const MlxArray& a, I32s axes, bool all_axes, bool precise) {
  return wrap(all_axes ? mx::softmax(a.inner, precise) : mx::softmax(a.inner, to_ints(axes), precise));
}
ArrayPtr clip(const MlxArray& a, const MlxArray* lo, const MlxArray* hi) {
  return wrap(mx::clip(a.inner, opt(lo), opt(hi)));
}
ArrayPtr where_(const MlxArray& c, const MlxArray& x, const MlxArray& y) {
  return wrap(mx::where(c.inner, x.inner, y.inner));
}
ArrayPtr astype(const MlxArray& a, uint8_t dtype) { return wrap(mx::astype(a.inner, to_dtype(dtype))); }
ArrayPtr view_as(const MlxArray& a, uint8_t dtype) { return wrap(mx::view(a.inner, to_dtype(dtype))); }
ArrayPtr nan_to_num(const MlxArray& a, double nan, double posinf, bool has_posinf, double neginf, bool has_neginf) {
  return wrap(mx::nan_to_num(a.inner, static_cast<float>(nan),
                             has_posinf ? std::optional<float>(posinf) : std::nullopt,
                             has_neginf ? std::optional<float>(neginf) : std::nullopt));
}
ArrayPtr isclose(const MlxArray& a, const MlxArray& b, double rtol, double atol, bool equal_nan) {
  return wrap(mx::isclose(a.inner, b.inner, rtol, atol, equal_nan));
}
ArrayPtr array_equal(const MlxArray& a, const MlxArray& b, bool equal_nan) {
  return wrap(mx::array_equal(a.inner, b.inner, equal_nan));
}

// ---- creation ---------------------------------------------------------------------------
ArrayPtr full(I32s shape, const MlxArray& value, uint8_t dtype, bool has_dtype) {
  return wrap(has_dtype ? mx::full(to_shape(shape), value.inner, to_dtype(dtype))
                        : mx::full(to_shape(shape), value.inner));
}
ArrayPtr arange(double start, double stop, double step, uint8_t dtype) {
  return wrap(mx::arange(start, stop, step, to_dtype(dtype)));
}
ArrayPtr linspace(double start, double stop, int32_t num, uint8_t dtype) {
  return wrap(mx::linspace(start, stop, num, to_dtype(dtype)));
}
ArrayPtr eye(int32_t n, int32_t m, int32_t k, uint8_t dtype) { return wrap(mx::eye(n, m, k, to_dtype(dtype))); }
ArrayPtr tri(int32_t n, int32_t m, int32_t k, uint8_t dtype) { return wrap(mx::tri(n, m, k, to_dtype(dtype))); }

// ---- shapes ----------------------------------------------------------------------------
ArrayPtr reshape(const MlxArray& a, I32s shape) { return wrap(mx::reshape(a.inner, to_shape(shape))); }
ArrayPtr flatten(const MlxArray& a, int32_t start, int32_t end) { return wrap(mx::flatten(a.inner, start, end)); }
ArrayPtr squeeze(const MlxArray& a, I32s axes, bool all_axes) {
  return wrap(all_axes ? mx::squeeze(a.inner) : mx::squeeze(a.inner, to_ints(axes)));
}
ArrayPtr expand_dims(const MlxArray& a, I32s axes) { return wrap(mx::expand_dims(a.inner, to_ints(axes))); }
ArrayPtr transpose(const MlxArray& a, I32s axes, bool all_axes) {
  return wrap(all_axes ? mx::transpose(a.inner) : mx::transpose(a.inner, to_ints(axes)));
}
ArrayPtr swapaxes(const MlxArray& a, int32_t i, int32_t j) { return wrap(mx::swapaxes(a.inner, i, j)); }
ArrayPtr moveaxis(const MlxArray& a, int32_t s, int32_t d) { return wrap(mx::moveaxis(a.inner, s, d)); }
ArrayPtr broadcast_to(const MlxArray& a, I32s shape) { return wrap(mx::broadcast_to(a.inner, to_shape(shape))); }
ArrayPtr concatenate(const ArrayList& list, int32_t axis, bool all_axes) {
  return wrap(all_axes ? mx::concatenate(list.items) : mx::concatenate(list.items, axis));
}
ArrayPtr stack(const ArrayList& list, int32_t axis) { return wrap(mx::stack(list.items, axis)); }
ListPtr split_sections(const MlxArray& a, int32_t sections, int32_t axis) {
  return wrap_list(mx::split(a.inner, sections, axis));
}
ListPtr split_at(const MlxArray& a, I32s indices, int32_t axis) {
  return wrap_list(mx::split(a.inner, to_shape(indices), axis));
}
ArrayPtr tile(const MlxArray& a, I32s reps) { return wrap(mx::tile(a.inner, to_ints(reps))); }
ArrayPtr repeat(const MlxArray& a, int32_t repeats, int32_t axis, bool all_axes) {
  return wrap(all_axes ? mx::repeat(a.inner, repeats) : mx::repeat(a.inner, repeats, axis));
}
ArrayPtr pad(const MlxArray& a, I32s axes, I32s low, I32s high, const MlxArray& value, rust::Str mode) {
  return wrap(mx::pad(a.inner, to_ints(axes), to_shape(low), to_shape(high), value.inner, std::string(mode)));
}
ArrayPtr roll(const MlxArray& a, I32s shift, I32s axes, bool all_axes) {
  return wrap(all_axes ? mx::roll(a.inner, to_shape(shift)) : mx::roll(a.inner, to_shape(shift), to_ints(axes)));
}
ArrayPtr tril(const MlxArray& a, int32_t k) { return wrap(mx::tril(a.inner, k)); }
ArrayPtr triu(const MlxArray& a, int32_t k) { return wrap(mx::triu(a.inner, k)); }
ArrayPtr diagonal(const MlxArray& a, int32_t o, int32_t a1, int32_t a2) { return wrap(mx::diagonal(a.inner, o, a1, a2)); }
ArrayPtr diag(const MlxArray& a, int32_t k) { return wrap(mx::diag(a.inner, k)); }
ArrayPtr flip(const MlxArray& a, I32s axes, bool all_axes) {
  if (all_axes) return wrap(mx::flip(a.inner));
  mx::array out = a.inner;
  for (auto ax : axes) out = mx::flip(out, ax);
  return wrap(out);
}

// ---- indexing --------------------------------------------------------------------------
// MLX divides by the strides without checking them: a zero stride is SIGFPE, so refuse it here.
static void check_strides(I32s strides, const char* what) {
  for (auto s : strides) {
    if (s == 0) throw std::invalid_argument(std::string("[") + what + "] slice strides must be non-zero");
  }
}

ArrayPtr slice(const MlxArray& a, I32s start, I32s stop, I32s strides) {
  check_strides(strides, "slice");
  return wrap(mx::slice(a.inner, to_shape(start), to_shape(stop), to_shape(strides)));
}
// The transpose of an evaluated 2-D array as a new leaf that shares its buffer: what
// Transpose::eval makes, without a graph node, so a projection's weight costs no node to build
// and none to evaluate at every step. Arrays that are not available yet (lazy, being computed,
// traced) get the ordinary transpose op.
ArrayPtr transposed_leaf(const MlxArray& w) { return wrap(transposed_leaf_array(w.inner)); }
mx::array transposed_leaf_array(const mx::array& a) {
  // `status() == available` rather than `is_available()`, which may write to the array: the
  // evaluation thread (eval_thread.cc) can be evaluating an array that is not a leaf.
  if (a.ndim() != 2 || a.is_tracer() || a.has_primitive() || a.status() != mx::array::Status::available) {
    return mx::transpose(a);
  }
  mx::array out(mx::Shape{a.shape(1), a.shape(0)}, a.dtype(), nullptr, {});
  mx::Strides strides{a.strides()[1], a.strides()[0]};
  auto flags = a.flags();
  if (flags.contiguous && a.data_size() == a.size()) {
    // As Transpose::eval: row/column contiguity of the new strides (size-1 axes ignored).
    flags.col_contiguous = (strides[0] == 1 || out.shape(0) == 1) && (strides[1] == out.shape(0) || out.shape(1) == 1);
    flags.row_contiguous = (strides[1] == 1 || out.shape(1) == 1) && (strides[0] == out.shape(1) || out.shape(0) == 1);
  }
  out.copy_shared_buffer(a, strides, flags, a.data_size());
  out.set_status(mx::array::Status::available);
  return out;
}

ArrayPtr slice_update(const MlxArray& src, const MlxArray& upd, I32s start, I32s stop, I32s strides) {
  check_strides(strides, "slice_update");
  return wrap(mx::slice_update(src.inner, upd.inner, to_shape(start), to_shape(stop), to_shape(strides)));
}
// MLX's gather/scatter kernels do no bounds checking: an out-of-range index reads or writes
// outside the array's buffer (garbage, heap corruption or SIGSEGV; Python MLX too). Every index
// array we hand to them goes through `safe_index`, for an axis of size n:
//  - indices that are already evaluated (data from JS, evaluated results) and contiguous are
//    checked, and one outside [-n, n) is an error (@mlxn/core also checks them in TS, with an
//    IndexError);
//  - lazy indices (computed in the same graph, tracers under grad/vmap/compile) cannot be read
//    without forcing evaluation, so they are clipped into [-n, n-1]: in-range indices are
//    unchanged, an out-of-range one picks an edge element instead of touching foreign memory.
//    (Clipping costs one elementwise op on the indices, and only for lazy ones.)
template <typename T>
static void check_index_data(const mx::array& idx, int64_t n, const char* what) {
  const T* p = idx.data<T>();
  for (size_t i = 0; i < idx.size(); ++i) {
    auto v = static_cast<int64_t>(p[i]);
    bool bad = std::is_unsigned_v<T> ? (static_cast<uint64_t>(p[i]) >= static_cast<uint64_t>(n)) : (v < -n || v >= n);
    if (bad) {
      throw std::out_of_range(std::string("[") + what + "] index " +
                              (std::is_unsigned_v<T> ? std::to_string(static_cast<uint64_t>(p[i])) : std::to_string(v)) +
                              " is out of bounds for an axis of size " + std::to_string(n));
    }
  }
}

static int64_t dtype_max(mx::Dtype dt) {
  switch (dt) {
    case mx::int8: return INT8_MAX;
    case mx::int16: return INT16_MAX;
    case mx::int32: return INT32_MAX;
    case mx::uint8: return UINT8_MAX;
    case mx::uint16: return UINT16_MAX;
    case mx::uint32: return UINT32_MAX;
    default: return INT64_MAX;
  }
}

mx::array safe_index(const mx::array& idx, int64_t n, const char* what) {
  auto dt = idx.dtype();
  if (!mx::issubdtype(dt, mx::integer) || idx.size() == 0) return idx;  // MLX reports bad dtypes
  if (n <= 0) throw std::out_of_range(std::string("[") + what + "] cannot index into an axis of size 0");
  // A plain status read (see transposed_leaf): an index still being evaluated elsewhere is
  // treated as lazy.
  if (idx.status() == mx::array::Status::available && idx.flags().row_contiguous) {
    switch (dt) {
      case mx::uint8: check_index_data<uint8_t>(idx, n, what); break;
      case mx::uint16: check_index_data<uint16_t>(idx, n, what); break;
      case mx::uint32: check_index_data<uint32_t>(idx, n, what); break;
      case mx::uint64: check_index_data<uint64_t>(idx, n, what); break;
      case mx::int8: check_index_data<int8_t>(idx, n, what); break;
      case mx::int16: check_index_data<int16_t>(idx, n, what); break;
      case mx::int32: check_index_data<int32_t>(idx, n, what); break;
      default: check_index_data<int64_t>(idx, n, what); break;
    }
    return idx;
  }
  int64_t hi = std::min(n - 1, dtype_max(dt));
  if (mx::issubdtype(dt, mx::unsignedinteger)) return mx::minimum(idx, mx::array(hi, dt));
  int64_t lo = std::max(-n, -dtype_max(dt) - 1);
  return mx::clip(idx, mx::array(lo, dt), mx::array(hi, dt));
}

// The size of `axis` of `a` (all of `a` when `all_axes`), or -1 when the axis is invalid (MLX
// then reports it).
static int64_t axis_size(const mx::array& a, int32_t axis, bool all_axes) {
  if (all_axes) return static_cast<int64_t>(a.size());
  int nd = static_cast<int>(a.ndim());
  int ax = axis < 0 ? axis + nd : axis;
  return (ax >= 0 && ax < nd) ? a.shape(ax) : -1;
}
static mx::array guard(const mx::array& a, const mx::array& idx, int32_t axis, bool all_axes, const char* what) {
  auto n = axis_size(a, axis, all_axes);
  return n < 0 ? idx : safe_index(idx, n, what);
}
static std::vector<mx::array> guard_all(const mx::array& a, const ArrayList& idx, const std::vector<int>& axes,
                                        const char* what) {
  std::vector<mx::array> out;
  out.reserve(idx.items.size());
  for (size_t k = 0; k < idx.items.size(); ++k) {
    out.push_back(k < axes.size() ? guard(a, idx.items[k], axes[k], false, what) : idx.items[k]);
  }
  return out;
}

ArrayPtr take(const MlxArray& a, const MlxArray& idx_in, int32_t axis, bool all_axes) {
  auto idx = guard(a.inner, idx_in.inner, axis, all_axes, "take");
  return wrap(all_axes ? mx::take(a.inner, idx) : mx::take(a.inner, idx, axis));
}
ArrayPtr take_along_axis(const MlxArray& a, const MlxArray& idx_in, int32_t axis, bool all_axes) {
  auto idx = guard(a.inner, idx_in.inner, axis, all_axes, "take_along_axis");
  if (all_axes) return wrap(mx::take_along_axis(mx::reshape(a.inner, {-1}), idx, 0));
  return wrap(mx::take_along_axis(a.inner, idx, axis));
}
ArrayPtr put_along_axis(const MlxArray& a, const MlxArray& idx_in, const MlxArray& vals, int32_t axis, bool all_axes) {
  auto idx = guard(a.inner, idx_in.inner, axis, all_axes, "put_along_axis");
  if (all_axes) {
    auto flat = mx::put_along_axis(mx::reshape(a.inner, {-1}), idx, vals.inner, 0);
    return wrap(mx::reshape(flat, a.inner.shape()));
  }
  return wrap(mx::put_along_axis(a.inner, idx, vals.inner, axis));
}
ArrayPtr gather(const MlxArray& a, const ArrayList& idx_in, I32s axes_in, I32s slice_sizes) {
  auto axes = to_ints(axes_in);
  auto idx = guard_all(a.inner, idx_in, axes, "gather");
  return wrap(mx::gather(a.inner, idx, axes, to_shape(slice_sizes)));
}
ArrayPtr scatter(ScatterMode mode, const MlxArray& a, const ArrayList& idx_in, const MlxArray& upd, I32s axes_in) {
  auto axes = to_ints(axes_in);
  auto idx = guard_all(a.inner, idx_in, axes, "scatter");
  switch (mode) {
    case ScatterMode::Set: return wrap(mx::scatter(a.inner, idx, upd.inner, axes));
    case ScatterMode::Add: return wrap(mx::scatter_add(a.inner, idx, upd.inner, axes));
    case ScatterMode::Prod: return wrap(mx::scatter_prod(a.inner, idx, upd.inner, axes));
    case ScatterMode::Max: return wrap(mx::scatter_max(a.inner, idx, upd.inner, axes));
    case ScatterMode::Min: return wrap(mx::scatter_min(a.inner, idx, upd.inner, axes));
  }
  throw std::invalid_argument("unknown scatter mode");
}

}  // namespace mlxn
