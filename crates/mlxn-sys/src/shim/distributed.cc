// MLX's distributed layer (mlx/distributed): process groups and their collective and
// point-to-point operations. Every call takes an explicit group; JS resolves the default one.
#include "mlxn-sys/src/lib.rs.h"

#include <stdexcept>
#include <string>

namespace mlxn {

namespace dist = mx::distributed;

bool dist_is_available(rust::Str backend) { return dist::is_available(std::string(backend)); }

std::unique_ptr<MlxGroup> dist_init(bool strict, rust::Str backend) {
  return std::make_unique<MlxGroup>(MlxGroup{dist::init(strict, std::string(backend))});
}

int32_t dist_rank(const MlxGroup& g) { return g.inner.rank(); }
int32_t dist_size(const MlxGroup& g) { return g.inner.size(); }

std::unique_ptr<MlxGroup> dist_split(const MlxGroup& g, int32_t color, int32_t key) {
  return std::make_unique<MlxGroup>(MlxGroup{g.inner.split(color, key)});
}

// op: 0 all_sum, 1 all_gather, 2 all_max, 3 all_min, 4 sum_scatter (the order of
// packages/core/src/distributed.ts).
ArrayPtr dist_collective(uint8_t op, const MlxArray& x, const MlxGroup& g) {
  switch (op) {
    case 0: return wrap(dist::all_sum(x.inner, g.inner));
    case 1: return wrap(dist::all_gather(x.inner, g.inner));
    case 2: return wrap(dist::all_max(x.inner, g.inner));
    case 3: return wrap(dist::all_min(x.inner, g.inner));
    case 4: return wrap(dist::sum_scatter(x.inner, g.inner));
    default: throw std::invalid_argument("unknown distributed collective " + std::to_string(op));
  }
}

ArrayPtr dist_send(const MlxArray& x, int32_t dst, const MlxGroup& g) { return wrap(dist::send(x.inner, dst, g.inner)); }

ArrayPtr dist_recv(I32s shape, uint8_t dtype, int32_t src, const MlxGroup& g) {
  return wrap(dist::recv(to_shape(shape), to_dtype(dtype), src, g.inner));
}

ArrayPtr dist_recv_like(const MlxArray& x, int32_t src, const MlxGroup& g) {
  return wrap(dist::recv_like(x.inner, src, g.inner));
}

}  // namespace mlxn
