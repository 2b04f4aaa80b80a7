// `x · b (+ bias)` in bfloat16 or float16 on a CPU stream, as a primitive of our own whose work is
// done by cpu_half_gemm.rs (the `gemm` crate's float32 kernels over widened panels, on several
// threads).
//
// Why: MLX's CPU `Matmul` computes half-precision products in a portable single-threaded loop, and
// its kernels are internal to libmlx, so they cannot be replaced the way cpu_gemm.rs replaces
// `cblas_sgemm`. Linear layers are where a model's products are (and every Hugging Face checkpoint
// is bfloat16), so linear.cc builds this primitive for them on CPU streams.
//
// The primitive behaves as MLX's products do: float32 sums rounded once to the output format,
// a bias added before that rounding (as `addmm`), gradients and forward-mode derivatives through
// the same primitive, and `vmap` through MLX's own ops. It only runs on CPU streams: linear.cc
// never builds it for a GPU.
#include <numeric>
#include <stdexcept>

#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"
#include "mlxn-sys/src/lib.rs.h"
#include "cpu_primitive.h"
#include "shim.h"

namespace mlxn {

namespace {

class CpuHalfMatmul : public mx::UnaryPrimitive {
 public:
  explicit CpuHalfMatmul(mx::Stream stream) : mx::UnaryPrimitive(stream) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("[CpuHalfMatmul] runs on CPU streams only");
  }
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>& outputs) override;
  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override;
  const char* name() const override { return "CpuHalfMatmul"; }
  // No parameters: two of them on the same inputs compute the same thing (compile merges them).
  bool is_equivalent(const mx::Primitive&) const override { return true; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    auto shape = inputs[0].shape();
    shape.back() = inputs[1].shape(1);
    return {shape};
  }
};

void CpuHalfMatmul::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& x = inputs[0];
  const auto& b = inputs[1];
  const bool has_bias = inputs.size() > 2;
  out.set_data(mx::allocator::malloc(out.nbytes()));
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  // Only the data pointers, shapes and strides go to the task: MLX keeps the inputs' buffers
  // alive until the stream has run it (its CPU eval queues their release after each primitive).
  encoder.dispatch([bfloat16 = out.dtype() == mx::bfloat16, x_ptr = x.data<uint16_t>(), rows = row_starts(x),
                    x_cs = static_cast<int64_t>(x.strides().back()), b_ptr = b.data<uint16_t>(),
                    b_rs = static_cast<int64_t>(b.strides()[0]), b_cs = static_cast<int64_t>(b.strides()[1]),
                    bias_ptr = has_bias ? inputs[2].data<uint16_t>() : nullptr,
                    bias_stride = has_bias ? static_cast<int64_t>(inputs[2].strides()[0]) : int64_t{0},
                    out_ptr = out.data<uint16_t>(), k = static_cast<size_t>(x.shape(-1)),
                    n = static_cast<size_t>(b.shape(1))]() {
    cpu_half_gemm(CpuHalfGemmArgs{.bfloat16 = bfloat16,
                                  .x = x_ptr,
                                  .x_rows = rust::Slice<const int64_t>(rows.data(), rows.size()),
                                  .x_cs = x_cs,
                                  .b = b_ptr,
                                  .b_rs = b_rs,
                                  .b_cs = b_cs,
                                  .bias = bias_ptr,
                                  .bias_stride = bias_stride,
                                  .out = out_ptr,
                                  .k = k,
                                  .n = n});
  });
}

// `x` as `[rows, k]` (a copy only where its rows are not evenly spaced).
mx::array as_rows(const mx::array& x, mx::Stream s) { return mx::reshape(x, {-1, x.shape(-1)}, s); }

std::vector<mx::array> CpuHalfMatmul::vjp(const std::vector<mx::array>& primals,
                                          const std::vector<mx::array>& cotangents, const std::vector<int>& argnums,
                                          const std::vector<mx::array>&) {
  const auto& x = primals[0];
  const auto& b = primals[1];
  const auto& cotan = cotangents[0];
  const auto s = stream();
  std::vector<mx::array> vjps;
  for (int arg : argnums) {
    if (arg == 0) {
      // [..., n] · bᵀ [n, k] -> [..., k]
      vjps.push_back(cpu_half_matmul(cotan, mx::transpose(b, {1, 0}, s), nullptr, s));
    } else if (arg == 1) {
      // xᵀ [k, rows] · cotan [rows, n] -> [k, n]
      vjps.push_back(cpu_half_matmul(mx::transpose(as_rows(x, s), {1, 0}, s), as_rows(cotan, s), nullptr, s));
    } else {
      // The bias is added to every row.
      vjps.push_back(mx::reshape(mx::sum(as_rows(cotan, s), std::vector<int>{0}, false, s), primals[2].shape(), s));
    }
  }
  return vjps;
}

std::vector<mx::array> CpuHalfMatmul::jvp(const std::vector<mx::array>& primals,
                                          const std::vector<mx::array>& tangents, const std::vector<int>& argnums) {
  const auto s = stream();
  std::optional<mx::array> total;
  for (size_t i = 0; i < argnums.size(); ++i) {
    const auto& t = tangents[i];
    mx::array part = argnums[i] == 0   ? cpu_half_matmul(t, primals[1], nullptr, s)
                     : argnums[i] == 1 ? cpu_half_matmul(primals[0], t, nullptr, s)
                                       : mx::broadcast_to(t, output_shapes(primals)[0], s);
    total = total ? mx::add(*total, part, s) : part;
  }
  return {*total};
}

std::pair<std::vector<mx::array>, std::vector<int>> CpuHalfMatmul::vmap(const std::vector<mx::array>& inputs,
                                                                         const std::vector<int>& axes) {
  const auto s = stream();
  const bool has_bias = inputs.size() > 2;
  const bool shared_b = axes[1] < 0 && (!has_bias || axes[2] < 0);
  // The mapped axis of x first (or a new axis of 1 where x is not mapped).
  mx::array x = axes[0] >= 0 ? mx::moveaxis(inputs[0], axes[0], 0, s) : mx::expand_dims(inputs[0], 0, s);
  if (shared_b) {
    // One b for every map index: x's mapped axis is one more leading axis of rows.
    std::optional<mx::array> bias;
    if (has_bias) bias = inputs[2];
    return {{cpu_half_matmul(x, inputs[1], bias ? &*bias : nullptr, s)}, {0}};
  }
  // A b per map index: MLX's batched matmul over [map, rows, k] · [map, k, n].
  mx::Shape middle(x.shape().begin() + 1, x.shape().end() - 1);
  const int k = x.shape(-1);
  mx::array rows = mx::reshape(x, {x.shape(0), -1, k}, s);
  mx::array b = axes[1] >= 0 ? mx::moveaxis(inputs[1], axes[1], 0, s) : mx::expand_dims(inputs[1], 0, s);
  mx::array y = mx::matmul(rows, b, s);
  mx::Shape shape{y.shape(0)};
  shape.insert(shape.end(), middle.begin(), middle.end());
  shape.push_back(y.shape(-1));
  y = mx::reshape(y, shape, s);
  if (has_bias) {
    mx::array bias = axes[2] >= 0 ? mx::moveaxis(inputs[2], axes[2], 0, s) : mx::expand_dims(inputs[2], 0, s);
    mx::Shape bias_shape(shape.size(), 1);
    bias_shape.front() = bias.shape(0);
    bias_shape.back() = bias.shape(-1);
    y = mx::add(y, mx::reshape(bias, bias_shape, s), s);
  }
  return {{y}, {0}};
}

}  // namespace

bool cpu_half_matmul_applies(const mx::array& x, const mx::array& b, const mx::array* bias, const mx::Stream& s) {
  const auto t = x.dtype();
  return cpu_gemm_replaces_blas() && s.device == mx::Device::cpu && (t == mx::bfloat16 || t == mx::float16) &&
         b.dtype() == t && (!bias || bias->dtype() == t) && x.ndim() >= 1 && b.ndim() == 2 &&
         x.shape(-1) == b.shape(0) && (!bias || (bias->ndim() == 1 && bias->shape(0) == b.shape(1)));
}

mx::array cpu_half_matmul(const mx::array& x, const mx::array& b, const mx::array* bias, mx::Stream s) {
  auto shape = x.shape();
  shape.back() = b.shape(1);
  std::vector<mx::array> inputs{x, b};
  if (bias) inputs.push_back(*bias);
  return mx::array(std::move(shape), x.dtype(), std::make_shared<CpuHalfMatmul>(s), std::move(inputs));
}

}  // namespace mlxn
