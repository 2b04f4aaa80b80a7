// PTX for the fused CUDA kernels (gpu_kernel_compile.cc), compiled by the NVRTC that MLX's
// CUDA build already loads.
#pragma once

#include <functional>
#include <string>

namespace mlxn {

// The PTX of kernel `name` in `variant` for the default GPU, compiled once per process and
// variant from `source()` (self-contained CUDA C++: no includes), which runs only then: the
// variant (a few constants) is the key, so a decoding step's calls do not assemble kilobytes of
// source. Null when NVRTC is not loadable or the source does not compile (a warning names the
// kernel once), so the caller runs the separate ops instead. What MLX is handed may be a short
// name standing for the PTX (gpu_kernel_by_name.cc) rather than the PTX itself.
const std::string* gpu_kernel_ptx(const char* name, const std::string& variant,
                                  const std::function<std::string()>& source);

// The default GPU's streaming multiprocessors (0 when unknown): how many blocks a kernel needs
// for the whole GPU to take part.
int gpu_multiprocessors();

// The most blocks a fused kernel may group into one thread block cluster on the default GPU: 8 on
// GPUs of compute capability 9.0 and later, 1 (no clusters) before them or when
// `MLXN_KERNEL_CLUSTERS=0`.
int gpu_cluster_limit();

}  // namespace mlxn
