// PTX for the fused CUDA kernels (gpu_kernel_compile.cc), compiled by the NVRTC that MLX's
// CUDA build already loads.
#pragma once

#include <string>

namespace mlxn {

// The PTX of `source` (self-contained CUDA C++: no includes) for the default GPU, compiled once
// per process and source; null when NVRTC is not loadable or the source does not compile (a
// warning names the kernel once), so the caller runs the separate ops instead.
const std::string* gpu_kernel_ptx(const char* name, const std::string& source);

}  // namespace mlxn
