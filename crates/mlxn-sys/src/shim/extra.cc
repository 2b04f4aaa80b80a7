// Linear algebra, contractions, FFT, random, fast kernels and quantization.
#include <sstream>
#include <stdexcept>

#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn {

ArrayPtr addmm(const MlxArray& c, const MlxArray& a, const MlxArray& b, float alpha, float beta) {
  return wrap(mx::addmm(c.inner, a.inner, b.inner, alpha, beta));
}
ArrayPtr tensordot(const MlxArray& a, const MlxArray& b, I32s axes_a, I32s axes_b) {
  return wrap(mx::tensordot(a.inner, b.inner, to_ints(axes_a), to_ints(axes_b)));
}
ArrayPtr tensordot_n(const MlxArray& a, const MlxArray& b, int32_t n) { return wrap(mx::tensordot(a.inner, b.inner, n)); }
ArrayPtr einsum(rust::Str subscripts, const ArrayList& operands) {
  return wrap(mx::einsum(std::string(subscripts), operands.items));
}

ArrayPtr linalg_norm(const MlxArray& a, uint8_t ord_kind, double ord, rust::Str ord_name, I32s axes, bool has_axes,
                     bool keepdims) {
  std::optional<std::vector<int>> ax = has_axes ? std::optional<std::vector<int>>(to_ints(axes)) : std::nullopt;
  switch (ord_kind) {
    case 0: return wrap(mx::linalg::norm(a.inner, ax, keepdims));
    case 1: return wrap(mx::linalg::norm(a.inner, ord, ax, keepdims));
    default: return wrap(mx::linalg::norm(a.inner, std::string(ord_name), ax, keepdims));
  }
}
ArrayPtr linalg_unary(LinalgOp op, const MlxArray& a) {
  switch (op) {
    case LinalgOp::Inv: return wrap(mx::linalg::inv(a.inner));
    case LinalgOp::Pinv: return wrap(mx::linalg::pinv(a.inner));
    case LinalgOp::Cholesky: return wrap(mx::linalg::cholesky(a.inner, false));
    case LinalgOp::CholeskyUpper: return wrap(mx::linalg::cholesky(a.inner, true));
    case LinalgOp::Det: return wrap(mx::linalg::det(a.inner));
    case LinalgOp::TriInvLower: return wrap(mx::linalg::tri_inv(a.inner, false));
    case LinalgOp::TriInvUpper: return wrap(mx::linalg::tri_inv(a.inner, true));
  }
  throw std::invalid_argument("unknown linalg op");
}
ListPtr linalg_qr(const MlxArray& a) {
  auto [q, r] = mx::linalg::qr(a.inner);
  return wrap_list({q, r});
}
ListPtr linalg_svd(const MlxArray& a, bool compute_uv) { return wrap_list(mx::linalg::svd(a.inner, compute_uv, {})); }
ListPtr linalg_eigh(const MlxArray& a, rust::Str uplo) {
  auto [w, v] = mx::linalg::eigh(a.inner, std::string(uplo));
  return wrap_list({w, v});
}
ArrayPtr linalg_solve(const MlxArray& a, const MlxArray& b) { return wrap(mx::linalg::solve(a.inner, b.inner)); }

ArrayPtr fft(FftOp op, const MlxArray& a, I32s n, bool has_n, I32s axes, bool has_axes) {
  auto ax = to_ints(axes);
  if (has_n && !has_axes) {
    // n without axes applies to the last len(n) axes, as in numpy and MLX's Python API.
    ax.clear();
    int nd = static_cast<int>(a.inner.ndim());
    for (int i = nd - static_cast<int>(n.size()); i < nd; ++i) ax.push_back(i);
  }
  auto sh = to_shape(n);
  switch (op) {
    case FftOp::Fftn:
      return wrap(has_n ? mx::fft::fftn(a.inner, sh, ax) : has_axes ? mx::fft::fftn(a.inner, ax) : mx::fft::fftn(a.inner));
    case FftOp::Ifftn:
      return wrap(has_n ? mx::fft::ifftn(a.inner, sh, ax) : has_axes ? mx::fft::ifftn(a.inner, ax) : mx::fft::ifftn(a.inner));
    case FftOp::Rfftn:
      return wrap(has_n ? mx::fft::rfftn(a.inner, sh, ax) : has_axes ? mx::fft::rfftn(a.inner, ax) : mx::fft::rfftn(a.inner));
    case FftOp::Irfftn:
      return wrap(has_n ? mx::fft::irfftn(a.inner, sh, ax) : has_axes ? mx::fft::irfftn(a.inner, ax) : mx::fft::irfftn(a.inner));
  }
  throw std::invalid_argument("unknown fft op");
}

// ---- random ----------------------------------------------------------------------------
ArrayPtr random_key(uint64_t seed) { return wrap(mx::random::key(seed)); }
ArrayPtr random_split(const MlxArray& key, int32_t num) { return wrap(mx::random::split(key.inner, num)); }
ArrayPtr random_bits(I32s shape, int32_t width, const MlxArray& key) {
  return wrap(mx::random::bits(to_shape(shape), width, key.inner));
}
ArrayPtr random_uniform(const MlxArray& low, const MlxArray& high, I32s shape, uint8_t dtype, const MlxArray& key) {
  return wrap(mx::random::uniform(low.inner, high.inner, to_shape(shape), to_dtype(dtype), key.inner));
}
ArrayPtr random_normal(I32s shape, uint8_t dtype, const MlxArray& loc, const MlxArray& scale, const MlxArray& key) {
  return wrap(mx::random::normal(to_shape(shape), to_dtype(dtype), loc.inner, scale.inner, key.inner));
}
ArrayPtr random_randint(const MlxArray& low, const MlxArray& high, I32s shape, uint8_t dtype, const MlxArray& key) {
  return wrap(mx::random::randint(low.inner, high.inner, to_shape(shape), to_dtype(dtype), key.inner));
}
ArrayPtr random_bernoulli(const MlxArray& p, I32s shape, bool has_shape, const MlxArray& key) {
  return wrap(has_shape ? mx::random::bernoulli(p.inner, to_shape(shape), key.inner)
                        : mx::random::bernoulli(p.inner, key.inner));
}
ArrayPtr random_truncated_normal(const MlxArray& lower, const MlxArray& upper, I32s shape, bool has_shape,
                                 uint8_t dtype, const MlxArray& key) {
  return wrap(has_shape
                  ? mx::random::truncated_normal(lower.inner, upper.inner, to_shape(shape), to_dtype(dtype), key.inner)
                  : mx::random::truncated_normal(lower.inner, upper.inner, to_dtype(dtype), key.inner));
}
ArrayPtr random_gumbel(I32s shape, uint8_t dtype, const MlxArray& key) {
  return wrap(mx::random::gumbel(to_shape(shape), to_dtype(dtype), key.inner));
}
ArrayPtr random_categorical(const MlxArray& logits, int32_t axis, I32s shape, bool has_shape, int32_t num_samples,
                            const MlxArray& key) {
  if (has_shape) return wrap(mx::random::categorical(logits.inner, axis, to_shape(shape), key.inner));
  if (num_samples > 0) return wrap(mx::random::categorical(logits.inner, axis, num_samples, key.inner));
  return wrap(mx::random::categorical(logits.inner, axis, key.inner));
}
ArrayPtr random_permutation(const MlxArray& x, int32_t axis, const MlxArray& key) {
  return wrap(mx::random::permutation(x.inner, axis, key.inner));
}
ArrayPtr random_permutation_n(int32_t n, const MlxArray& key) { return wrap(mx::random::permutation(n, key.inner)); }

// ---- fast kernels ----------------------------------------------------------------------
ArrayPtr fast_rms_norm(const MlxArray& x, const MlxArray* weight, float eps) {
  return wrap(mx::fast::rms_norm(x.inner, opt(weight), eps));
}
ArrayPtr fast_layer_norm(const MlxArray& x, const MlxArray* weight, const MlxArray* bias, float eps) {
  return wrap(mx::fast::layer_norm(x.inner, opt(weight), opt(bias), eps));
}
ArrayPtr fast_rope(const MlxArray& x, const RopeSettings& settings, const MlxArray& offset, const MlxArray* freqs) {
  const auto base = settings.has_base ? std::optional<float>(settings.base) : std::nullopt;
  return wrap(mx::fast::rope(x.inner, settings.dims, settings.traditional, base, settings.scale, offset.inner, opt(freqs)));
}
ArrayPtr fast_sdpa(const MlxArray& q, const MlxArray& k, const MlxArray& v, float scale, rust::Str mask_mode,
                   const MlxArray* mask, const MlxArray* sinks) {
  const std::string mode(mask_mode);
  // On a Linux CPU, attention leaves MLX's composed fallback where that pays (cpu_attention.cc).
  if (auto ours = attention_on_cpu(q.inner, k.inner, v.inner, scale, mode, opt(mask), opt(sinks),
                                   mx::default_stream(mx::default_device()))) {
    return wrap(std::move(*ours));
  }
  return wrap(mx::fast::scaled_dot_product_attention(q.inner, k.inner, v.inner, scale, mode, opt(mask), opt(sinks)));
}

// ---- quantization ----------------------------------------------------------------------
static std::optional<int> opt_int(int32_t v) { return v > 0 ? std::optional<int>(v) : std::nullopt; }

ListPtr quantize(const MlxArray& w, int32_t group_size, int32_t bits, rust::Str mode) {
  return wrap_list(mx::quantize(w.inner, opt_int(group_size), opt_int(bits), std::string(mode)));
}
ArrayPtr dequantize(const QuantizedMatrix& m, uint8_t dtype, bool has_dtype) {
  return wrap(mx::dequantize(m.w.inner, m.scales.inner, opt(m.biases), opt_int(m.group_size), opt_int(m.bits),
                             std::string(m.mode), std::nullopt,
                             has_dtype ? std::optional<mx::Dtype>(to_dtype(dtype)) : std::nullopt));
}
// MLX 0.32.4 checks the scales' last dim and batch dims against the weights but not the
// row dim (nor that they have as many dims): scales of shape (1, 1) for a (4, 8) weight are
// accepted and the kernel reads rows that do not exist (garbage, or a crash; Python MLX too).
static void check_scales(const mx::array& w, const mx::array& scales, const char* what) {
  bool ok = scales.ndim() == w.ndim() && w.ndim() >= 2;
  for (size_t i = 0; ok && i + 1 < w.ndim(); ++i) ok = scales.shape(static_cast<int>(i)) == w.shape(static_cast<int>(i));
  if (!ok) {
    std::ostringstream os;
    os << "[" << what << "] scales must have the weight's shape except for the last axis; got weight "
       << w.shape() << " and scales " << scales.shape();
    throw std::invalid_argument(os.str());
  }
}

ArrayPtr quantized_matmul(const MlxArray& x, const QuantizedMatrix& m, bool transpose) {
  check_scales(m.w.inner, m.scales.inner, "quantized_matmul");
  if (transpose && m.w.inner.ndim() == 2) {
    // x · Wᵀ of a quantized linear layer: large CPU products use several threads (linear.cc).
    return wrap(quantized_linear(x.inner, m.w.inner, m.scales.inner, opt(m.biases), opt_int(m.group_size),
                                 opt_int(m.bits), std::string(m.mode)));
  }
  return wrap(mx::quantized_matmul(x.inner, m.w.inner, m.scales.inner, opt(m.biases), transpose, opt_int(m.group_size),
                                   opt_int(m.bits), std::string(m.mode)));
}
// The batch size that gather_mm's indices address: all but the last two dims (see safe_index).
static std::optional<mx::array> batch_index(const MlxArray* idx, const mx::array& of, const char* what) {
  if (!idx) return std::nullopt;
  if (of.ndim() < 2) return idx->inner;  // MLX reports the bad operand
  int64_t n = 1;
  for (size_t i = 0; i + 2 < of.ndim(); ++i) n *= of.shape(static_cast<int>(i));
  return safe_index(idx->inner, n, what);
}

ArrayPtr gather_mm(const MlxArray& a, const MlxArray& b, const MlxArray* lhs, const MlxArray* rhs, bool sorted) {
  return wrap(mx::gather_mm(a.inner, b.inner, batch_index(lhs, a.inner, "gather_mm"), batch_index(rhs, b.inner, "gather_mm"),
                            sorted));
}
ArrayPtr gather_qmm(const MlxArray& x, const QuantizedMatrix& m, const MlxArray* lhs, const MlxArray* rhs,
                    bool transpose, bool sorted) {
  check_scales(m.w.inner, m.scales.inner, "gather_qmm");
  return wrap(mx::gather_qmm(x.inner, m.w.inner, m.scales.inner, opt(m.biases), batch_index(lhs, x.inner, "gather_qmm"),
                             batch_index(rhs, m.w.inner, "gather_qmm"), transpose, opt_int(m.group_size),
                             opt_int(m.bits), std::string(m.mode), std::nullopt, sorted));
}

}  // namespace mlxn
