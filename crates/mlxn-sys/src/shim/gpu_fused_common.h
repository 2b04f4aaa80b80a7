// What the fused CUDA kernels' files share (gpu_fused.cc, gpu_fused_rows.cc): the source every
// kernel starts with, how a kernel's variant is assembled, and how it runs through MLX's
// `fast::precompiled_cuda_kernel`.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "gpu_kernel_compile.h"
#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn::fused {

// A float as a CUDA literal that reads back to the same float32.
inline std::string float_literal(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9ef", static_cast<double>(v));
  return buf;
}

inline std::string int_constant(const char* name, long v) { return "constexpr int " + std::string(name) + " = " + std::to_string(v) + ";\n"; }
inline std::string float_constant(const char* name, float v) { return "constexpr float " + std::string(name) + " = " + float_literal(v) + ";\n"; }

// The kernels' element types by name (the prelude defines the two 16-bit ones).
inline const char* element_type(mx::Dtype t) {
  if (t == mx::float32) return "float";
  if (t == mx::bfloat16) return "mlxn_bf16";
  if (t == mx::float16) return "mlxn_f16";
  return "unsigned char";  // bool
}

// What every kernel starts with: the 16-bit float types and their conversions, written out so
// that no CUDA header is needed (NVRTC parses CUDA's fp16/bf16 headers for seconds). They round
// as CUDA's `__float2bfloat16_rn` and `__float2half_rn` do: to nearest, ties to even.
inline constexpr const char* kPrelude = R"(
struct mlxn_bf16 { unsigned short bits; };
struct mlxn_f16 { unsigned short bits; };
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(unsigned char x) { return static_cast<float>(x); }
__device__ __forceinline__ float to_float(mlxn_bf16 x) { return __uint_as_float(static_cast<unsigned>(x.bits) << 16); }
__device__ __forceinline__ float to_float(mlxn_f16 x) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
  return f;
}
template <typename T> __device__ __forceinline__ T from_float(float f);
template <> __device__ __forceinline__ float from_float<float>(float f) { return f; }
template <> __device__ __forceinline__ mlxn_bf16 from_float<mlxn_bf16>(float f) {
#if __CUDA_ARCH__ >= 800
  // One instruction where the GPU has it (compute capability 8.0 on), the same rounding.
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return mlxn_bf16{h};
#else
  const unsigned u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return mlxn_bf16{0x7fff};  // NaN
  return mlxn_bf16{static_cast<unsigned short>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16)};
#endif
}
template <> __device__ __forceinline__ mlxn_f16 from_float<mlxn_f16>(float f) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return mlxn_f16{h};
}
// `f` rounded to T and back: where MLX's separate ops hold a T.
template <typename T> __device__ __forceinline__ float round_to(float f) { return to_float(from_float<T>(f)); }
)";

// `silu(g) * u` as MLX's compiled `sigmoid(g) * g * u` rounds it: each op's result held in T.
inline constexpr const char* kSwigluValue = R"(
__device__ __forceinline__ float mlxn_swiglu(float g, float u) {
  const float s = round_to<T>(1.f / (1.f + expf(-g)));
  return round_to<T>(round_to<T>(g * s) * u);
}
)";

// Thread block clusters (compute capability 9.0 and later), for a kernel whose blocks share a
// reduction: CLUSTER blocks (a variant's constant, cluster_constants()) launched together, whose
// shared memory each can read. mlxn_cluster_sync is a barrier of the whole cluster (what a block
// wrote to shared memory before it, the others read after it); mlxn_cluster_read reads the float
// at `local`'s place in block `rank`'s shared memory. With CLUSTER 1 they are __syncthreads and a
// plain read, and nothing here needs a GPU that has clusters.
inline constexpr const char* kCluster = R"(
__device__ __forceinline__ void mlxn_cluster_sync() {
  if constexpr (CLUSTER > 1) {
    asm volatile("barrier.cluster.arrive.aligned;\n\tbarrier.cluster.wait.aligned;" ::: "memory");
  } else {
    __syncthreads();
  }
}
__device__ __forceinline__ float mlxn_cluster_read(const float* local, int rank) {
  if constexpr (CLUSTER > 1) {
    unsigned address, remote;
    float v;
    asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(address) : "l"(local));
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(address), "r"(rank));
    asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(remote) : "memory");
    return v;
  } else {
    return *local;
  }
}
)";

// The constants of kCluster for clusters of `cluster` blocks, and CLUSTER_DIMS, the attribute a
// kernel that uses them carries (a cluster's size is part of the kernel: MLX launches custom
// kernels without one).
inline std::string cluster_constants(int cluster) {
  return int_constant("CLUSTER", cluster) + "#define CLUSTER_DIMS" +
         (cluster > 1 ? " __cluster_dims__(" + std::to_string(cluster) + ", 1, 1)\n" : "\n");
}

// Rows of x per product at most (the products of more rows keep MLX's matmul: this kernel does
// each row's multiply-adds on CUDA cores, where cuBLAS uses the tensor cores).
inline constexpr int kRowsProductMaxRows = 8;

// A kernel's variant (its element type and constants) and its whole source: the prelude, the
// element type, the constants, then `parts` (the same for every variant of a kernel).
struct KernelVariant {
  std::string variant;
  std::vector<const char*> parts;
  std::string source() const {
    std::string s = kPrelude;
    s += variant;
    for (const char* p : parts) s += p;
    return s;
  }
};

inline KernelVariant kernel_variant(mx::Dtype dtype, const std::string& constants, std::initializer_list<const char*> parts) {
  return {"typedef " + std::string(element_type(dtype)) + " T;\n" + constants, parts};
}

inline bool is_float_type(mx::Dtype t) { return t == mx::float32 || t == mx::float16 || t == mx::bfloat16; }

// Runs `name` in `kernel`'s variant on `inputs` (copied first where not row-contiguous); empty
// when its PTX is not available (the caller runs the separate ops).
inline std::vector<mx::array> run_kernel(const char* name, const KernelVariant& kernel, const std::vector<mx::array>& inputs,
                                         const std::vector<mx::Shape>& shapes, const std::vector<mx::Dtype>& dtypes,
                                         const std::vector<mx::fast::ScalarArg>& scalars, long blocks, int threads) {
  const std::string* ptx = gpu_kernel_ptx(name, kernel.variant, [&] { return kernel.source(); });
  if (ptx == nullptr) return {};
  return mx::fast::precompiled_cuda_kernel(name, *ptx, inputs, shapes, dtypes, scalars,
                                           {static_cast<int>(blocks * threads), 1, 1}, {threads, 1, 1},
                                           /*shared_memory=*/0, std::nullopt, /*ensure_row_contiguous=*/true);
}

}  // namespace mlxn::fused
