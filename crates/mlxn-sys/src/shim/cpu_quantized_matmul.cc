// `x · dequantize(w)ᵀ` for affine-quantized weights (2, 4 or 8 bits) on a CPU stream, as a
// primitive of our own whose work is done by cpu_quantized_gemm.rs (panels dequantized to float32
// and multiplied with the `gemm` crate on several threads).
//
// Why: on x86-64 MLX's CPU quantized product runs a scalar loop on one thread that accumulates in
// the input's format; a 1-row product with a 4-bit Qwen3-0.6B output head took 823 ms. Quantized
// linear layers (linear.cc's `quantized_linear`: @mlxn/nn's QuantizedLinear, the Qwen3 forward)
// build this primitive on Linux CPU streams; its derivatives and vmap are MLX's transforms of
// MLX's quantized product of the same inputs (cpu_primitive.h).
#include <stdexcept>

#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"
#include "mlxn-sys/src/lib.rs.h"
#include "cpu_primitive.h"
#include "shim.h"

namespace mlxn {

namespace {

class CpuQuantizedMatmul : public ReferenceTransformed {
 public:
  CpuQuantizedMatmul(mx::Stream stream, int group_size, int bits)
      : ReferenceTransformed(stream), group_size_(group_size), bits_(bits) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override {
    // Mapped over x alone, the mapped axis is one more axis of rows (MLX's own quantized product
    // has no vmap: mapping the weights stays an error, as there).
    if (axes[0] >= 0 && axes[1] < 0 && axes[2] < 0 && axes[3] < 0) {
      auto x = mx::moveaxis(inputs[0], axes[0], 0, stream());
      auto shape = x.shape();
      shape.back() = inputs[1].shape(0);
      return {{mx::array(std::move(shape), x.dtype(), std::make_shared<CpuQuantizedMatmul>(stream(), group_size_, bits_),
                         std::vector<mx::array>{x, inputs[1], inputs[2], inputs[3]})},
              {0}};
    }
    return ReferenceTransformed::vmap(inputs, axes);
  }
  const char* name() const override { return "CpuQuantizedMatmul"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const CpuQuantizedMatmul&>(other);
    return group_size_ == o.group_size_ && bits_ == o.bits_;
  }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    auto shape = inputs[0].shape();
    shape.back() = inputs[1].shape(0);
    return {shape};
  }

 private:
  // MLX's quantized product of the same inputs.
  ArrayFunction reference() override {
    return [group_size = group_size_, bits = bits_, s = stream()](const std::vector<mx::array>& in) {
      return std::vector<mx::array>{
          mx::quantized_matmul(in[0], in[1], in[2], in[3], true, group_size, bits, "affine", s)};
    };
  }

  int group_size_;
  int bits_;
};

void CpuQuantizedMatmul::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& x = inputs[0];
  const auto& w = inputs[1];
  out.set_data(mx::allocator::malloc(out.nbytes()));
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  const uint8_t dtype = x.dtype() == mx::bfloat16 ? 1 : x.dtype() == mx::float16 ? 2 : 0;
  // Only data pointers, strides and sizes go to the task: MLX keeps the inputs' buffers alive
  // until the stream has run it.
  encoder.dispatch([dtype, x_ptr = x.data<uint8_t>(), rows = row_starts(x),
                    x_cs = static_cast<int64_t>(x.strides().back()), w_ptr = w.data<uint8_t>(),
                    ws = strides_of(w), s_ptr = inputs[2].data<uint8_t>(), ss = strides_of(inputs[2]),
                    b_ptr = inputs[3].data<uint8_t>(), bs = strides_of(inputs[3]), out_ptr = out.data<uint8_t>(),
                    k = static_cast<size_t>(x.shape(-1)), n = static_cast<size_t>(w.shape(0)),
                    bits = static_cast<uint32_t>(bits_), group_size = static_cast<size_t>(group_size_)]() {
    auto slice = [](const std::vector<int64_t>& v) { return rust::Slice<const int64_t>(v.data(), v.size()); };
    cpu_quantized_gemm(CpuQuantizedGemmArgs{.dtype = dtype,
                                            .x = x_ptr,
                                            .x_rows = slice(rows),
                                            .x_cs = x_cs,
                                            .w = {w_ptr, slice(ws)},
                                            .scales = {s_ptr, slice(ss)},
                                            .biases = {b_ptr, slice(bs)},
                                            .out = out_ptr,
                                            .k = k,
                                            .n = n,
                                            .bits = bits,
                                            .group_size = group_size});
  });
}

}  // namespace

std::optional<mx::array> cpu_quantized_linear(const mx::array& x, const mx::array& w, const mx::array& scales,
                                              const std::optional<mx::array>& biases, std::optional<int> group_size,
                                              std::optional<int> bits, const std::string& mode, const mx::Stream& s) {
  // MLX's defaults for affine quantization.
  const int gs = group_size.value_or(64);
  const int b = bits.value_or(4);
  const auto t = x.dtype();
  if (!cpu_gemm_replaces_blas() || s.device != mx::Device::cpu || mode != "affine" || !biases ||
      !(b == 2 || b == 4 || b == 8) || gs <= 0 || gs % (32 / b) != 0 ||
      !(t == mx::float32 || t == mx::bfloat16 || t == mx::float16) || x.ndim() < 1 || w.dtype() != mx::uint32 ||
      w.ndim() != 2 || scales.dtype() != t || biases->dtype() != t || scales.ndim() != 2 || biases->ndim() != 2) {
    return std::nullopt;  // MLX's own product (and its errors)
  }
  const int64_t k = x.shape(-1);
  const int64_t n = w.shape(0);
  if (k % gs != 0 || static_cast<int64_t>(w.shape(1)) * 32 != k * b || scales.shape(0) != n ||
      scales.shape(1) != k / gs || biases->shape(0) != n || biases->shape(1) != k / gs) {
    return std::nullopt;
  }
  auto shape = x.shape();
  shape.back() = static_cast<int>(n);
  return mx::array(std::move(shape), t, std::make_shared<CpuQuantizedMatmul>(s, gs, b),
                   std::vector<mx::array>{x, w, scales, *biases});
}

}  // namespace mlxn
