// What our CPU primitives (cpu_attention.cc, cpu_quantized_matmul.cc, cpu_half_matmul.cc) share.
// Transforms taken from MLX's own op on the same inputs: a primitive whose forward pass is ours
// gets its `vjp`, `jvp` and `vmap` from MLX's transforms of MLX's op, so derivatives stay MLX's
// definition (`ReferenceTransformed`). And the operand layouts they hand to their Rust kernels.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlx/primitives.h"
#include "mlx/transforms.h"
#include "shim.h"

namespace mlxn {

using ArrayFunction = std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;

// `whole` as a function of the inputs `argnums` names, the others fixed at `primals`.
inline ArrayFunction of_arguments(ArrayFunction whole, const std::vector<mx::array>& primals,
                                  const std::vector<int>& argnums) {
  return [whole = std::move(whole), primals, argnums](const std::vector<mx::array>& args) {
    auto inputs = primals;
    for (size_t i = 0; i < argnums.size(); ++i) inputs[argnums[i]] = args[i];
    return whole(inputs);
  };
}

inline std::vector<mx::array> picked(const std::vector<mx::array>& all, const std::vector<int>& argnums) {
  std::vector<mx::array> out;
  for (int a : argnums) out.push_back(all[a]);
  return out;
}

inline std::vector<mx::array> reference_vjp(ArrayFunction whole, const std::vector<mx::array>& primals,
                                            const std::vector<mx::array>& cotangents,
                                            const std::vector<int>& argnums) {
  return mx::vjp(of_arguments(std::move(whole), primals, argnums), picked(primals, argnums), cotangents).second;
}

inline std::vector<mx::array> reference_jvp(ArrayFunction whole, const std::vector<mx::array>& primals,
                                            const std::vector<mx::array>& tangents, const std::vector<int>& argnums) {
  return mx::jvp(of_arguments(std::move(whole), primals, argnums), picked(primals, argnums), tangents).second;
}

inline std::pair<std::vector<mx::array>, std::vector<int>> reference_vmap(ArrayFunction whole,
                                                                         const std::vector<mx::array>& inputs,
                                                                         const std::vector<int>& axes) {
  return {mx::vmap(std::move(whole), axes, {0})(inputs), {0}};
}

// A primitive that computes on CPU streams only and whose `vjp`, `jvp` and `vmap` are MLX's
// transforms of `reference()`, MLX's own op on the same inputs.
class ReferenceTransformed : public mx::UnaryPrimitive {
 public:
  using mx::UnaryPrimitive::UnaryPrimitive;

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error(std::string("[") + name() + "] runs on CPU streams only");
  }
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>&) override {
    return reference_vjp(reference(), primals, cotangents, argnums);
  }
  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override {
    return reference_jvp(reference(), primals, tangents, argnums);
  }
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override {
    return reference_vmap(reference(), inputs, axes);
  }

 protected:
  // Not const: MLX's `stream()` is not.
  virtual ArrayFunction reference() = 0;
};

// An array's strides, in elements, as the Rust kernels take them.
inline std::vector<int64_t> strides_of(const mx::array& a) { return {a.strides().begin(), a.strides().end()}; }

// The offset of each row (all axes but the last) of `x` from its first element, in elements.
inline std::vector<int64_t> row_starts(const mx::array& x) {
  const int64_t k = x.shape(-1);
  int64_t rows = 1;
  for (int d = 0; d + 1 < static_cast<int>(x.ndim()); ++d) rows *= x.shape(d);
  std::vector<int64_t> starts(rows);
  if (x.flags().row_contiguous) {
    for (int64_t r = 0; r < rows; ++r) starts[r] = r * k;
    return starts;
  }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t index = r;
    int64_t at = 0;
    for (int d = static_cast<int>(x.ndim()) - 2; d >= 0; --d) {
      at += (index % x.shape(d)) * x.strides()[d];
      index /= x.shape(d);
    }
    starts[r] = at;
  }
  return starts;
}

}  // namespace mlxn
