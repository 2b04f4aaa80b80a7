// Transforms of our CPU primitives (cpu_attention.cc, cpu_quantized_matmul.cc) taken from MLX's
// own op on the same inputs: a primitive whose forward pass is ours gets its `vjp`, `jvp` and
// `vmap` from MLX's transforms of MLX's op, so derivatives stay MLX's definition.
#pragma once

#include <functional>
#include <vector>

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

}  // namespace mlxn
