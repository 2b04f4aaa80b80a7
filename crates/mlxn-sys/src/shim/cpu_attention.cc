// Attention on a Linux CPU, where MLX attends with a composed fallback (a batched q·kᵀ, the mask,
// a softmax, a batched p·v): several passes over the cache and, in bfloat16/float16, products in
// MLX's single-threaded loop with the scores rounded to the half format before the softmax.
//
// - Attention without sinks runs in `CpuAttention`, a primitive of our own whose work is done in
//   Rust (cpu_attention.rs, cpu_attention_blocks.rs), scores and probabilities in float32, on
//   several threads: blocks of queries against blocks of keys with a running softmax. The
//   fallback's full score matrix, its mask and its scalar `exp` took most of a long prompt's
//   prefill, and a decoding step, which reads the whole cache for little arithmetic, cost as
//   much at long contexts as the layer's weights. Its derivatives and vmap are MLX's: `vjp`, `jvp` and `vmap` apply MLX's
//   own transforms to MLX's attention of the same inputs (its CPU fallback, made of
//   differentiable ops).
// - bfloat16/float16 attention with sinks over more queries (a prompt) is MLX's attention of the
//   inputs widened to float32, rounded once: its products then run in cpu_gemm.rs on every core,
//   and the scores keep float32 precision (as MLX's fused GPU kernels keep them). Widening the
//   whole cache for a decoding step would cost more than it saves.
#include <stdexcept>

#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"
#include "mlxn-sys/src/lib.rs.h"
#include "cpu_primitive.h"
#include "shim.h"

namespace mlxn {

namespace {

// Queries from which attention is a prompt's rather than a decoding step's.
constexpr int kFewQueries = 16;

enum class MaskKind : uint8_t { None = 0, Causal = 1, Bool = 2, Additive = 3 };

class CpuAttention : public ReferenceTransformed {
 public:
  CpuAttention(mx::Stream stream, float scale, MaskKind mask) : ReferenceTransformed(stream), scale_(scale), mask_(mask) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  const char* name() const override { return "CpuAttention"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const CpuAttention&>(other);
    return scale_ == o.scale_ && mask_ == o.mask_;
  }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    auto shape = inputs[0].shape();
    shape.back() = inputs[2].shape(-1);
    return {shape};
  }

 private:
  // MLX's attention of the same inputs (q, k, v and the broadcast mask, if any).
  ArrayFunction reference() override {
    return [scale = scale_, mask = mask_, s = stream()](const std::vector<mx::array>& in) {
      const bool array_mask = mask == MaskKind::Bool || mask == MaskKind::Additive;
      return std::vector<mx::array>{mx::fast::scaled_dot_product_attention(
          in[0], in[1], in[2], scale, mask == MaskKind::Causal ? "causal" : array_mask ? "array" : "",
          array_mask ? std::optional<mx::array>(in[3]) : std::nullopt, std::nullopt, false, s)};
    };
  }

  float scale_;
  MaskKind mask_;
};

void CpuAttention::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& q = inputs[0];
  const auto& k = inputs[1];
  const auto& v = inputs[2];
  out.set_data(mx::allocator::malloc(out.nbytes()));
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  const uint8_t dtype = q.dtype() == mx::bfloat16 ? 1 : q.dtype() == mx::float16 ? 2 : 0;
  const bool has_mask = inputs.size() > 3;
  std::vector<size_t> dims{static_cast<size_t>(q.shape(0)), static_cast<size_t>(q.shape(1)),
                           static_cast<size_t>(k.shape(1)), static_cast<size_t>(q.shape(2)),
                           static_cast<size_t>(k.shape(2)), static_cast<size_t>(q.shape(3)),
                           static_cast<size_t>(v.shape(3))};
  // Only data pointers, strides and sizes go to the task: MLX keeps the inputs' buffers alive
  // until the stream has run it.
  encoder.dispatch([dtype, q_ptr = q.data<uint8_t>(), qs = strides_of(q), k_ptr = k.data<uint8_t>(),
                    ks = strides_of(k), v_ptr = v.data<uint8_t>(), vs = strides_of(v),
                    mask = static_cast<uint8_t>(mask_), m_ptr = has_mask ? inputs[3].data<uint8_t>() : nullptr,
                    ms = has_mask ? strides_of(inputs[3]) : std::vector<int64_t>(4, 0),
                    out_ptr = out.data<uint8_t>(), dims = std::move(dims), scale = scale_]() {
    auto slice = [](const std::vector<int64_t>& v) { return rust::Slice<const int64_t>(v.data(), v.size()); };
    cpu_attention(CpuAttentionArgs{.dtype = dtype,
                                   .q = {q_ptr, slice(qs)},
                                   .k = {k_ptr, slice(ks)},
                                   .v = {v_ptr, slice(vs)},
                                   .mask_kind = mask,
                                   .mask = {m_ptr, slice(ms)},
                                   .out = out_ptr,
                                   .dims = rust::Slice<const size_t>(dims.data(), dims.size()),
                                   .scale = scale});
  });
}

// `CpuAttention`, where it takes these inputs.
std::optional<mx::array> ours(const mx::array& q, const mx::array& k, const mx::array& v, float scale,
                                     const std::string& mask_mode, const std::optional<mx::array>& mask,
                                     bool has_sinks, const mx::Stream& s) {
  const auto t = q.dtype();
  if (has_sinks || q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4 || q.shape(2) == 0 ||
      !(t == mx::float32 || t == mx::bfloat16 || t == mx::float16) || k.dtype() != t || v.dtype() != t ||
      q.shape(0) != k.shape(0) || k.shape(0) != v.shape(0) || q.shape(3) != k.shape(3) ||
      k.shape(1) != v.shape(1) || k.shape(2) != v.shape(2) || k.shape(1) == 0 || q.shape(1) % k.shape(1) != 0) {
    return std::nullopt;  // MLX's own attention (and its errors)
  }
  MaskKind kind = MaskKind::None;
  std::vector<mx::array> inputs{q, k, v};
  if (mask_mode == "causal") {
    kind = MaskKind::Causal;
  } else if (mask_mode == "array") {
    if (!mask) return std::nullopt;
    if (mask->dtype() == mx::bool_) {
      kind = MaskKind::Bool;
    } else if (mask->dtype() == t) {
      kind = MaskKind::Additive;
    } else {
      return std::nullopt;  // other mask types are converted or refused by MLX
    }
    mx::Shape shape = q.shape();
    shape.back() = k.shape(2);
    try {
      inputs.push_back(mx::broadcast_to(*mask, shape, s));
    } catch (const std::exception&) {
      return std::nullopt;  // MLX reports the shape mismatch
    }
  } else if (!mask_mode.empty()) {
    return std::nullopt;
  }
  auto shape = q.shape();
  shape.back() = v.shape(3);
  return mx::array(std::move(shape), t, std::make_shared<CpuAttention>(s, scale, kind), std::move(inputs));
}

// MLX's attention of half-precision inputs widened to float32, rounded once (a prompt with sinks).
std::optional<mx::array> half_in_float32(const mx::array& q, const mx::array& k, const mx::array& v, float scale,
                                         const std::string& mask_mode, const std::optional<mx::array>& mask,
                                         const std::optional<mx::array>& sinks, const mx::Stream& s) {
  const auto t = q.dtype();
  if (!(t == mx::bfloat16 || t == mx::float16) || k.dtype() != t || v.dtype() != t || q.ndim() != 4 ||
      q.shape(-2) < kFewQueries ||
      // Masks and sinks MLX would refuse (they must promote to the half format) stay refused.
      (mask && mask->dtype() != mx::bool_ && mx::promote_types(mask->dtype(), t) != t) ||
      (sinks && mx::promote_types(sinks->dtype(), t) != t)) {
    return std::nullopt;
  }
  auto wide = [&](const mx::array& a) { return mx::astype(a, mx::float32, s); };
  std::optional<mx::array> m;
  if (mask) m = mask->dtype() == mx::bool_ ? *mask : wide(*mask);
  std::optional<mx::array> sk;
  if (sinks) sk = wide(*sinks);
  auto out = mx::fast::scaled_dot_product_attention(wide(q), wide(k), wide(v), scale, mask_mode, m, sk, false, s);
  return mx::astype(out, t, s);
}

}  // namespace

std::optional<mx::array> attention_on_cpu(const mx::array& q, const mx::array& k, const mx::array& v, float scale,
                                          const std::string& mask_mode, const std::optional<mx::array>& mask,
                                          const std::optional<mx::array>& sinks, const mx::Stream& s) {
  if (!cpu_gemm_replaces_blas() || s.device != mx::Device::cpu) return std::nullopt;
  if (auto attention = ours(q, k, v, scale, mask_mode, mask, sinks.has_value(), s)) return attention;
  return half_in_float32(q, k, v, scale, mask_mode, mask, sinks, s);
}

}  // namespace mlxn
