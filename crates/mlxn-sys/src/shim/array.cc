// Arrays in and out of MLX: construction from bytes, metadata, evaluation, reading back,
// plus devices, streams and memory. One job: the array's life cycle.
#include <algorithm>
#include <map>
#include <unordered_set>

#include "mlx/primitives.h"
#include <cstring>
#include <string>
#include <utility>

#include "mlx/scheduler.h"
#include <sstream>
#include <stdexcept>

#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn {

// The order of our dtype codes; @mlxn/core's dtype table uses the same order.
static const mx::Dtype kDtypes[] = {
    mx::bool_,   mx::uint8,  mx::uint16,  mx::uint32,  mx::uint64,
    mx::int8,    mx::int16,  mx::int32,   mx::int64,   mx::float16,
    mx::bfloat16, mx::float32, mx::float64, mx::complex64};
static constexpr size_t kNumDtypes = sizeof(kDtypes) / sizeof(kDtypes[0]);

mx::Dtype to_dtype(uint8_t code) {
  if (code >= kNumDtypes) throw std::invalid_argument("unknown dtype code " + std::to_string(code));
  return kDtypes[code];
}

uint8_t from_dtype(mx::Dtype d) {
  for (size_t i = 0; i < kNumDtypes; ++i) {
    if (kDtypes[i] == d) return static_cast<uint8_t>(i);
  }
  throw std::runtime_error("array has a dtype this binding does not know");
}

mx::Shape to_shape(I32s s) { return mx::Shape(s.begin(), s.end()); }
std::vector<int> to_ints(I32s s) { return std::vector<int>(s.begin(), s.end()); }

void check_size(const mx::array& a) {
  // In bytes, with overflow detection; compared with MLX's memory limit (default: 80% of RAM).
  // Arrays under 1 GiB (every limit is at least that) skip the limit query, which takes a lock:
  // this runs for every op.
  constexpr unsigned __int128 kAlwaysFine = static_cast<unsigned __int128>(1) << 30;
  unsigned __int128 bytes = a.itemsize();
  unsigned __int128 limit = kAlwaysFine;
  for (auto d : a.shape()) {
    bytes *= static_cast<uint64_t>(d < 0 ? 0 : d);
    if (bytes > limit && limit == kAlwaysFine) limit = std::max<size_t>(mx::get_memory_limit(), size_t{1} << 30);
    if (bytes > limit) {
      std::ostringstream os;
      os << "[mlxn] an array of shape (";
      for (size_t i = 0; i < a.ndim(); ++i) os << (i ? "," : "") << a.shape(static_cast<int>(i));
      os << ") and dtype " << a.dtype() << " needs more memory than the memory limit ("
         << static_cast<size_t>(limit) << " bytes); raise it with setMemoryLimit if the machine has the memory";
      throw std::length_error(os.str());
    }
  }
}

ListPtr wrap_list(std::vector<mx::array> v) {
  for (auto& a : v) check_size(a);
  auto out = std::make_unique<ArrayList>();
  out->items = std::move(v);
  return out;
}

ListPtr list_new() { return std::make_unique<ArrayList>(); }
void list_push(ArrayList& list, const MlxArray& a) { list.items.push_back(a.inner); }
size_t list_len(const ArrayList& list) { return list.items.size(); }
ArrayPtr list_get(const ArrayList& list, size_t i) { return wrap(list.items.at(i)); }

ArrayPtr from_bytes(rust::Slice<const uint8_t> data, I32s shape, uint8_t dtype) {
  auto dt = to_dtype(dtype);
  size_t count = 1;
  for (auto d : shape) {
    if (d < 0) throw std::invalid_argument("[array] shape dimensions must be non-negative");
    count *= static_cast<size_t>(d);
  }
  size_t expected = count * dt.size();
  if (data.size() != expected) {
    throw std::invalid_argument(
        "[array] data has " + std::to_string(data.size()) + " bytes but shape and dtype need " +
        std::to_string(expected));
  }
  auto buf = mx::allocator::malloc(expected);
  if (expected > 0) std::memcpy(buf.buffer().raw_ptr(), data.data(), expected);
  return wrap(mx::array(std::move(buf), to_shape(shape), dt));
}

ArrayPtr scalar(double value, uint8_t dtype) {
  auto dt = to_dtype(dtype);
  if (dt == mx::float64) return wrap(mx::array(value, mx::float64));
  if (dt == mx::complex64) return wrap(mx::array(std::complex<float>(static_cast<float>(value), 0.0f)));
  if (dt == mx::bool_) return wrap(mx::array(value != 0.0));
  if (mx::issubdtype(dt, mx::integer)) return wrap(mx::array(static_cast<int64_t>(value), dt));
  // Build in float32 and let MLX's cast produce the requested type (as its scalar ctor does).
  return wrap(mx::array(static_cast<float>(value), dt));
}

ArrayPtr scalar_int(int64_t value, uint8_t dtype) {
  auto dt = to_dtype(dtype);
  return wrap(mx::array(value, dt));
}

ArrayPtr clone_array(const MlxArray& a) { return wrap(a.inner); }
rust::Vec<int32_t> shape(const MlxArray& a) {
  rust::Vec<int32_t> out;
  out.reserve(a.inner.ndim());
  for (auto d : a.inner.shape()) out.push_back(d);
  return out;
}
uint8_t dtype(const MlxArray& a) { return from_dtype(a.inner.dtype()); }
size_t size(const MlxArray& a) { return a.inner.size(); }
size_t ndim(const MlxArray& a) { return a.inner.ndim(); }
size_t nbytes(const MlxArray& a) { return a.inner.nbytes(); }
// The bytes an array will own once evaluated: 0 for the ops MLX evaluates as views of their
// input's buffer (a transpose, a broadcast, a basic slice...), which allocate nothing. V8 is
// told about native memory with these numbers, and a view of a large array (the transposed
// embedding of a tied output head: 311 MB for Qwen3-0.6B) reported as new memory at every
// decode step makes V8 run a full garbage collection at every step.
size_t owned_nbytes(const MlxArray& a) {
  // The primitive may only be read when no other thread can be detaching it: when this handle
  // is the array's only reference (a node an op has just made), or under the evaluation lock.
  // Otherwise (an existing array an op handed back, while the evaluation thread works) the
  // full size is reported, which only makes V8's estimate conservative.
  std::unique_lock<std::mutex> lock(evaluation_lock(), std::defer_lock);
  if (use_count(a.inner) > 1 && !lock.try_lock()) return a.inner.nbytes();
  if (a.inner.has_primitive()) {
    // By name: libmlx.so does not export the primitives' type information for dynamic_cast.
    static const char* const views[] = {"Transpose", "Broadcast", "BroadcastAxes", "Slice", "Reshape", "Squeeze",
                                        "ExpandDims", "AsStrided", "Flatten", "Unflatten", "Split", "View"};
    const char* name = a.inner.primitive().name();
    for (const char* v : views) {
      if (std::strcmp(name, v) == 0) return 0;
    }
  }
  return a.inner.nbytes();
}
size_t itemsize(const MlxArray& a) { return a.inner.itemsize(); }
size_t array_id(const MlxArray& a) { return a.inner.id(); }

// MLX 0.32.4: when a CPU task fails while this (the main) thread is still scheduling the same
// graph, the next `enqueue` from this thread rethrows the stored error (scheduler.cpp), and
// the CPU encoder can be between `notify_new_task` and enqueueing the matching completion.
// The scheduler's active-task count then never comes back down; once ten such failures have
// leaked, every later `eval` waits in `wait_for_one` forever (the process hangs: seen after
// ~30 failing evals of a singular `linalg.inv`). So after any failed evaluation we drain every
// stream (swallowing the stored errors: the caller already has one) and return the count to
// zero: with every stream drained, no task can still be active.
void recover_after_failed_eval() {
  for (auto& s : mx::get_streams()) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      try {
        mx::synchronize(s);  // may rethrow a stored error before it has waited: retry
        break;
      } catch (...) {
      }
    }
  }
  auto cpu = mx::default_stream(mx::Device(mx::Device::cpu));
  while (mx::scheduler::n_active_tasks() > 0) mx::scheduler::notify_task_completion(cpu);
}

// Every evaluation from the JS thread holds the evaluation lock (eval_thread.cc): it waits
// for a task the evaluation thread is running, and the two never evaluate at once.
template <class F>
static auto guarded_eval(F&& f) -> decltype(f()) {
  std::lock_guard<std::mutex> lock(evaluation_lock());
  try {
    return f();
  } catch (...) {
    recover_after_failed_eval();
    throw;
  }
}

rust::String describe(const MlxArray& a) {
  return guarded_eval([&] {
    std::ostringstream os;
    os << a.inner;
    auto text = os.str();
    // Python's repr prints booleans as True/False; MLX's C++ printer as true/false.
    if (a.inner.dtype() == mx::bool_) {
      for (auto [from, to] : {std::pair<std::string, std::string>{"true", "True"}, {"false", "False"}}) {
        for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
          text.replace(at, from.size(), to);
        }
      }
    }
    return rust::String(text);
  });
}

// The graph that evaluating `list` would run: one line "<primitive>\t<count>" per primitive,
// counting each unevaluated node once (a multi-output node, with its siblings, once). For
// benchmarks that compare how much work two graph builders make.
rust::String graph_ops(const ArrayList& list) {
  std::lock_guard<std::mutex> lock(evaluation_lock());
  std::unordered_set<std::uintptr_t> seen;
  std::map<std::string, size_t> counts;
  std::vector<mx::array> stack(list.items.begin(), list.items.end());
  while (!stack.empty()) {
    mx::array a = std::move(stack.back());
    stack.pop_back();
    if (a.status() != mx::array::Status::unscheduled || !a.has_primitive()) continue;
    if (!seen.insert(a.id()).second) continue;
    for (auto& s : a.siblings()) seen.insert(s.id());
    counts[a.primitive().name()] += 1;
    for (auto& in : a.inputs()) stack.push_back(in);
  }
  std::ostringstream os;
  for (auto& [name, n] : counts) os << name << '\t' << n << '\n';
  return rust::String(os.str());
}

void eval(const ArrayList& list) {
  guarded_eval([&] {
    mx::eval(list.items);
    // mx::eval waits for the whole graph but leaves freshly computed outputs `evaluated`;
    // asking each whether it is available (its event has fired) records `available`, which is
    // what transposed_leaf_array (ops.cc) requires before it makes a weight's transpose a leaf
    // view. Without it every weight that an evaluation loaded or updated (Qwen3.load, an
    // optimizer step) became a Transpose node in every later decoding step.
    for (const auto& x : list.items) x.is_available();
  });
}
void async_eval(const ArrayList& list) {
  guarded_eval([&] { mx::async_eval(list.items); });
}
bool is_available(const MlxArray& a) {
  std::lock_guard<std::mutex> lock(evaluation_lock());
  return a.inner.is_available();
}
void wait(const MlxArray& a) {
  std::lock_guard<std::mutex> lock(evaluation_lock());
  const_cast<mx::array&>(a.inner).wait();
}

ArrayPtr materialize(const MlxArray& a) {
  // Views (transposes, broadcasts, strided slices) are made row-contiguous so the bytes
  // come out in C order. `eval` returns once the data is available.
  mx::array src = a.inner;
  guarded_eval([&] { mx::eval(src); });
  if (!src.flags().row_contiguous) {
    src = mx::contiguous(src, false);
    guarded_eval([&] { mx::eval(src); });
  }
  return wrap(std::move(src));
}

const uint8_t* data_ptr(const MlxArray& a) {
  if (a.inner.status() == mx::array::Status::unscheduled) return nullptr;
  return a.inner.data<uint8_t>();
}

// ---- devices and streams ----------------------------------------------------------------
mx::Device to_device(int32_t device_type) {
  if (device_type == 0) return mx::Device(mx::Device::cpu);
  if (device_type == 1) return mx::Device(mx::Device::gpu);
  throw std::invalid_argument("unknown device type");
}

int32_t default_device_type() { return mx::default_device().type == mx::Device::gpu ? 1 : 0; }
void set_default_device(int32_t device_type) {
  auto d = to_device(device_type);
  if (!mx::is_available(d)) {
    throw std::invalid_argument(device_type == 1 ? "[device] no GPU is available in this MLX build"
                                                 : "[device] the CPU device is not available");
  }
  mx::set_default_device(d);
}
bool device_available(int32_t device_type) { return mx::is_available(to_device(device_type)); }
int32_t new_stream(int32_t device_type) { return mx::new_stream(to_device(device_type)).index; }
int32_t default_stream_index(int32_t device_type) { return mx::default_stream(to_device(device_type)).index; }
void set_default_stream(int32_t device_type, int32_t index) {
  mx::set_default_stream(mx::Stream(index, to_device(device_type)));
}
void synchronize(int32_t device_type, int32_t index) {
  std::lock_guard<std::mutex> lock(evaluation_lock());
  mx::synchronize(mx::Stream(index, to_device(device_type)));
}

// ---- memory ---------------------------------------------------------------------------
size_t active_memory() { return mx::get_active_memory(); }
size_t peak_memory() { return mx::get_peak_memory(); }
size_t cache_memory() { return mx::get_cache_memory(); }
void reset_peak_memory() { mx::reset_peak_memory(); }
void clear_cache() { mx::clear_cache(); }
size_t set_memory_limit(size_t limit) { return mx::set_memory_limit(limit); }
size_t set_cache_limit(size_t limit) { return mx::set_cache_limit(limit); }
size_t set_wired_limit(size_t limit) { return mx::set_wired_limit(limit); }
rust::String mlx_version() { return rust::String(mx::version()); }

}  // namespace mlxn
