// Compiles the fused kernels' CUDA C++ to PTX with NVRTC, for MLX's
// `fast::precompiled_cuda_kernel`.
//
// Why not MLX's `fast::cuda_kernel`, which compiles for us: it wraps each kernel in MLX's device
// headers (CUDA's bf16/fp16 headers, cooperative groups, MLX's utilities), which NVRTC takes
// seconds to parse, and it keeps custom kernels out of its PTX disk cache, so every process paid
// that on its first generation (2.5 s measured inside a server's first padded batch,
// docs/benchmarks.md). The kernels here need no header (gpu_fused.cc converts bf16 and fp16 by
// hand), so NVRTC compiles each in tens of milliseconds; the driver turns the PTX into machine
// code (and keeps that in its own cache).
//
// NVRTC is not linked: the addon is built on machines without CUDA. MLX's CUDA build links it,
// so by the time a kernel is wanted it is loaded and `dlopen` finds it by name.
#include "gpu_kernel_compile.h"

#include "gpu_kernel_by_name.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "shim.h"

namespace mlxn {

namespace {

// The few NVRTC entry points used, with their C signatures (nvrtc.h; the result is an enum
// whose success value is 0, a program an opaque pointer).
struct Nvrtc {
  using Program = void*;
  int (*create)(Program*, const char*, const char*, int, const char* const*, const char* const*) = nullptr;
  int (*compile)(Program, int, const char* const*) = nullptr;
  int (*log_size)(Program, size_t*) = nullptr;
  int (*log)(Program, char*) = nullptr;
  int (*ptx_size)(Program, size_t*) = nullptr;
  int (*ptx)(Program, char*) = nullptr;
  int (*destroy)(Program*) = nullptr;
  int (*num_archs)(int*) = nullptr;
  int (*archs)(int*) = nullptr;
};

template <typename F>
bool bind(void* lib, const char* symbol, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, symbol));
  return fn != nullptr;
}

// NVRTC as MLX's CUDA build loaded it (CUDA 13 or 12), or a fresh load of it; null without it.
const Nvrtc* nvrtc() {
  static const Nvrtc* loaded = []() -> const Nvrtc* {
    void* lib = nullptr;
    for (const char* name : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}) {
      lib = dlopen(name, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
      if (lib == nullptr) lib = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
      if (lib != nullptr) break;
    }
    if (lib == nullptr) return nullptr;
    static Nvrtc n;
    const bool ok = bind(lib, "nvrtcCreateProgram", n.create) && bind(lib, "nvrtcCompileProgram", n.compile) &&
                    bind(lib, "nvrtcGetProgramLogSize", n.log_size) && bind(lib, "nvrtcGetProgramLog", n.log) &&
                    bind(lib, "nvrtcGetPTXSize", n.ptx_size) && bind(lib, "nvrtcGetPTX", n.ptx) &&
                    bind(lib, "nvrtcDestroyProgram", n.destroy) && bind(lib, "nvrtcGetNumSupportedArchs", n.num_archs) &&
                    bind(lib, "nvrtcGetSupportedArchs", n.archs);
    return ok ? &n : nullptr;
  }();
  return loaded;
}

// An attribute of the default GPU (CUdevice_attribute, cuda.h) from the CUDA driver that MLX's
// CUDA build has loaded and initialised (MLX's own `cu::device_info` exists only in that build,
// and this addon also loads MLX's CPU build); 0 when unknown.
int device_attribute(int which) {
  void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
  if (lib == nullptr) return 0;
  int (*get_device)(int*, int) = nullptr;
  int (*attribute)(int*, int, int) = nullptr;
  if (!bind(lib, "cuDeviceGet", get_device) || !bind(lib, "cuDeviceGetAttribute", attribute)) return 0;
  int device = 0, value = 0;
  if (get_device(&device, mx::default_device().index) != 0 || attribute(&value, which, device) != 0) return 0;
  return value;
}

// CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR and _MINOR, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT.
constexpr int kCapabilityMajor = 75, kCapabilityMinor = 76, kMultiprocessorCount = 16;

// The default GPU's compute capability as major * 10 + minor; 0 when unknown.
int device_arch() {
  return device_attribute(kCapabilityMajor) * 10 + device_attribute(kCapabilityMinor);
}

// The newest virtual architecture NVRTC supports that the default GPU runs (its own, unless
// this NVRTC predates it: the driver runs older PTX on newer GPUs); 0 when none.
int target_arch(const Nvrtc& n) {
  const int device = device_arch();
  int count = 0;
  if (device == 0 || n.num_archs(&count) != 0 || count <= 0) return 0;
  std::vector<int> archs(count);
  if (n.archs(archs.data()) != 0) return 0;
  int best = 0;
  for (int a : archs) {
    if (a <= device && a > best) best = a;
  }
  return best;
}

// PTX, or the reason there is none.
std::string compile(const Nvrtc& n, const char* name, const std::string& source, bool& ok) {
  ok = false;
  const int arch = target_arch(n);
  if (arch == 0) return "no architecture NVRTC supports runs on this GPU (or the CUDA driver did not say which it is)";
  Nvrtc::Program program = nullptr;
  const std::string file = std::string(name) + ".cu";
  if (n.create(&program, source.c_str(), file.c_str(), 0, nullptr, nullptr) != 0) return "NVRTC could not create the program";
  const std::string arch_flag = "--gpu-architecture=compute_" + std::to_string(arch);
  const char* flags[] = {arch_flag.c_str(), "--std=c++17"};
  std::string result;
  if (n.compile(program, 2, flags) != 0) {
    size_t size = 0;
    n.log_size(program, &size);
    result.assign(size, '\0');
    if (size > 0) n.log(program, result.data());
  } else {
    size_t size = 0;
    n.ptx_size(program, &size);
    result.assign(size, '\0');
    if (size > 0) n.ptx(program, result.data());
    ok = size > 0;
  }
  n.destroy(&program);
  return result;
}

}  // namespace

int gpu_multiprocessors() {
  // Asked once it is known (the driver is loaded by the time a kernel is wanted).
  static std::atomic<int> count{0};
  if (count.load(std::memory_order_relaxed) == 0) count.store(device_attribute(kMultiprocessorCount), std::memory_order_relaxed);
  return count.load(std::memory_order_relaxed);
}

int gpu_cluster_limit() {
  static const int limit = [] {
    const char* v = std::getenv("MLXN_KERNEL_CLUSTERS");
    if (v != nullptr && std::string(v) == "0") return 1;
    // Thread block clusters and their distributed shared memory came with compute capability 9.0
    // (Hopper); 8 blocks is the cluster size every such GPU runs.
    return device_arch() >= 90 ? 8 : 1;
  }();
  return limit;
}

const std::string* gpu_kernel_ptx(const char* name, const std::string& variant,
                                  const std::function<std::string()>& source) {
  static std::mutex lock;
  // Each kernel variant (dtype, model constants) once per process. A failure is kept as an
  // empty string, so it is reported once and not retried.
  static std::map<std::string, std::string> compiled;
  std::lock_guard<std::mutex> guard(lock);
  const std::string key = std::string(name) + '\n' + variant;
  auto it = compiled.find(key);
  if (it == compiled.end()) {
    const Nvrtc* n = nvrtc();
    bool ok = false;
    std::string ptx = n == nullptr ? "NVRTC is not loadable" : compile(*n, name, source(), ok);
    if (!ok) {
      std::fprintf(stderr, "mlxn: the fused kernel %s is not available (%s); using MLX's separate ops\n", name, ptx.c_str());
      ptx.clear();
    } else if (std::string by_name = gpu_kernel_source_by_name(name, ptx); !by_name.empty()) {
      ptx = std::move(by_name);
    }
    it = compiled.emplace(key, std::move(ptx)).first;
  }
  return it->second.empty() ? nullptr : &it->second;  // std::map keeps its elements in place
}

}  // namespace mlxn
