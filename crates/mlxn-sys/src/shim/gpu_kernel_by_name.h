// Hands MLX a fused kernel's PTX by name instead of by value (gpu_kernel_by_name.cc).
#pragma once

#include <string>

namespace mlxn {

// A short source that stands for `ptx`, the PTX of kernel `name`, once the PTX is in place where
// MLX's CUDA backend looks for that module before it reads the source; empty when that cannot be
// done safely (the caller passes the PTX itself).
std::string gpu_kernel_source_by_name(const char* name, const std::string& ptx);

}  // namespace mlxn
