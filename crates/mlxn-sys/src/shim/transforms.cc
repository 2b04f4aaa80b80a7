// Function transforms (grad, vjp, jvp, vmap, compile) over callbacks implemented in Rust.
// The callback body may fail (a JS exception, a bad op); it then throws `rust::Error`, which
// unwinds through MLX's transform and is caught by cxx at the bridge boundary.
#include <stdexcept>

#include "mlx/compile_impl.h"
#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn {

using ArrayFn = std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;

static ArrayFn as_fn(TraceCallback& cb) {
  return [&cb](const std::vector<mx::array>& inputs) {
    ArrayList in{inputs};
    auto out = invoke_trace_callback(cb, in);
    return std::move(out->items);
  };
}

ListPtr value_and_grad(TraceCallback& cb, const ArrayList& inputs, I32s argnums, ArrayList& grads) {
  auto [values, g] = mx::value_and_grad(as_fn(cb), to_ints(argnums))(inputs.items);
  grads.items = std::move(g);
  return wrap_list(std::move(values));
}

ListPtr derivative_product(DerivativeProduct op, TraceCallback& cb, const ArrayList& primals, const ArrayList& vectors,
                           ArrayList& products) {
  auto [outs, p] = op == DerivativeProduct::Vjp ? mx::vjp(as_fn(cb), primals.items, vectors.items)
                                                : mx::jvp(as_fn(cb), primals.items, vectors.items);
  products.items = std::move(p);
  return wrap_list(std::move(outs));
}

ListPtr vmap(TraceCallback& cb, const ArrayList& inputs, I32s in_axes, I32s out_axes) {
  return wrap_list(mx::vmap(as_fn(cb), to_ints(in_axes), to_ints(out_axes))(inputs.items));
}

ListPtr compile_call(TraceCallback& cb, size_t id, bool shapeless, const ArrayList& inputs) {
  // MLX caches the traced graph under `id`; the callback is only entered on a cache miss
  // (first call, or new input shapes/dtypes).
  return wrap_list(mx::detail::compile(as_fn(cb), id, shapeless)(inputs.items));
}

void compile_erase(size_t id) { mx::detail::compile_erase(mx::detail::compile_cache(), id); }

void set_compile_enabled(bool enabled) {
  if (enabled) {
    mx::enable_compile();
  } else {
    mx::disable_compile();
  }
}

}  // namespace mlxn
