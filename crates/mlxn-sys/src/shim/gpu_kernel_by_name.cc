// Hands MLX a fused kernel's PTX by name instead of by value.
//
// Why: MLX's CUDA backend (0.32, `CustomKernel::eval_gpu` in mlx/backend/cuda/custom_kernel.cpp)
// finds a precompiled kernel's module by hashing the kernel's whole source on every call, and the
// source is our PTX (13-30 KB per kernel). On an H100's host that cost about 0.2 µs per KB per
// call (tooling/bench/gpu/probe_decode.py --micro: 2.4 µs for a 1 KB kernel, 6.4 µs for 21 KB):
// some 0.4 ms of a Qwen3-0.6B decoding step of about 2 ms. Before it uses the source, though,
// MLX looks for the module in its PTX cache directory, by "<kernel name>_<hash of the source>"
// (jit_module.cpp, `read_cached_ptx`). So the source handed to MLX is a short name for the PTX
// ("mlxn:<kernel>:<hash of the PTX>"), and the PTX is written into that directory under the
// module name MLX will look for; MLX then reads it once per process and hashes a few dozen bytes
// per call. On an H100 that took batch-1 decoding of Qwen3-0.6B shapes from 552–557 to 642–652
// tok/s (from 471–481 to 577–582 without the folded kernels; docs/benchmarks.md).
//
// Only where that is safe: the directory must be private (owned by this user, writable by no one
// else; otherwise another user could put code of theirs under a name we will load). Unless the
// user set MLX_PTX_CACHE_DIR, a private directory is set in its place when this library loads,
// before MLX first reads the variable (MLX's own JIT kernels are then cached there too). And only
// with the MLX versions whose lookup works this way (checked on GPUs by
// tooling/bench/fused-parity.ts); with any other, or when a file cannot be written, the PTX is
// handed over itself. `MLXN_PTX_BY_NAME=0` turns this off.
#include "gpu_kernel_by_name.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "shim.h"

namespace mlxn {

namespace {

// MLX versions whose CUDA backend looks a precompiled kernel's module up in its PTX cache first.
bool mlx_reads_ptx_cache_first() { return std::strncmp(mx::version(), "0.32.", 5) == 0; }

bool enabled_by_environment() {
  const char* v = std::getenv("MLXN_PTX_BY_NAME");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

// A directory that this user owns and no one else may write to.
bool is_private_dir(const std::string& dir) {
  struct stat st {};
  return !dir.empty() && stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// $XDG_CACHE_HOME/mlxn/mlx-<version>-ptx (or under ~/.cache), created private; empty on failure.
std::string private_cache_dir() {
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/') {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h != nullptr && h[0] == '/') {
    base = std::string(h) + "/.cache";
  } else {
    return {};
  }
  const std::string parent = base + "/mlxn";
  const std::string dir = parent + "/mlx-" + mx::version() + "-ptx";
  mkdir(base.c_str(), 0700);
  mkdir(parent.c_str(), 0700);
  mkdir(dir.c_str(), 0700);
  return is_private_dir(dir) ? dir : std::string();
}

// The PTX cache directory MLX will read, as it stood when this library loaded: the user's
// MLX_PTX_CACHE_DIR, or the private directory set here in its place; empty when none (MLX's
// default is a directory under /tmp that every user may write to).
const std::string kCacheDir = [] {
  if (!enabled_by_environment() || !mx::cu::is_available() || !mlx_reads_ptx_cache_first()) return std::string();
  if (const char* dir = std::getenv("MLX_PTX_CACHE_DIR"); dir != nullptr) return std::string(dir);
  std::string dir = private_cache_dir();
  if (!dir.empty() && setenv("MLX_PTX_CACHE_DIR", dir.c_str(), 0) != 0) dir.clear();
  return dir;
}();

std::string hex(size_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", v);
  return buf;
}

// FNV-1a: a name for the PTX's content (a file written by another version of a kernel never
// stands for this one).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Replaces `path` with `content` (a temporary file renamed over it: a reader never sees a part).
bool write_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!f.good()) {
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

std::string gpu_kernel_source_by_name(const char* name, const std::string& ptx) {
  // The directory must still be the one MLX read, and still private.
  const char* now = std::getenv("MLX_PTX_CACHE_DIR");
  if (kCacheDir.empty() || now == nullptr || kCacheDir != now || !is_private_dir(kCacheDir)) return {};
  std::string tag = "mlxn:" + std::string(name) + ":" + hex(fnv1a(ptx));
  // The module name MLX makes: "<name>_<std::hash of the source, in hex>".
  const std::string module = kCacheDir + "/" + name + "_" + hex(std::hash<std::string>{}(tag));
  // The kernel list first: MLX reads the PTX file's presence as the whole module's.
  if (!write_file(module + ".txt", std::string(name) + "\t" + name + "\n") || !write_file(module + ".ptx", ptx)) {
    return {};
  }
  return tag;
}

}  // namespace mlxn
