// Checkpoint files through MLX's own readers. Both are lazy: an array names its file and
// offset and reads its bytes when evaluated. Callers (mlxn-io) validate a safetensors header
// themselves before asking MLX to open the file, so a bad file fails here, not at evaluation.
#include <string>
#include <unordered_map>
#include <vector>

#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn {
namespace {

// The arrays as one list, their names pushed onto `names` in the same order.
ListPtr named_list(const std::unordered_map<std::string, mx::array>& arrays, rust::Vec<rust::String>& names) {
  std::vector<mx::array> out;
  out.reserve(arrays.size());
  for (const auto& [name, a] : arrays) {
    names.push_back(rust::String(name));
    out.push_back(a);
  }
  return wrap_list(std::move(out));
}

}  // namespace

ListPtr load_safetensors_file(rust::Str path, rust::Vec<rust::String>& names, rust::Vec<rust::String>& metadata) {
  // The Load primitive only runs on the CPU; the arrays move to the GPU when first used there.
  auto [arrays, meta] = mx::load_safetensors(std::string(path), mx::Device(mx::Device::cpu));
  for (auto& [k, v] : meta) {
    metadata.push_back(rust::String(k));
    metadata.push_back(rust::String(v));
  }
  return named_list(arrays, names);
}

ListPtr load_gguf_file(rust::Str path, rust::Vec<rust::String>& names, rust::Vec<rust::String>& metadata) {
  // Throws MLX's own message when the runtime was built without GGUF support.
  auto [arrays, meta] = mx::load_gguf(std::string(path), mx::Device(mx::Device::cpu));
  // Only string-valued metadata is carried over; array and list values are dropped.
  for (auto& [k, v] : meta) {
    if (auto s = std::get_if<std::string>(&v)) {
      metadata.push_back(rust::String(k));
      metadata.push_back(rust::String(*s));
    }
  }
  return named_list(arrays, names);
}

}  // namespace mlxn
