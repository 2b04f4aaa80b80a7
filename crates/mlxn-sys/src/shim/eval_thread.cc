// The evaluation thread: MLX evaluates graphs here while the JS thread builds the next one.
//
// On a GPU a decode step costs the host two things in turn: building the graph (about 1-2 ms
// for Qwen3-0.6B) and encoding its kernels, which MLX does inside `async_eval` on the calling
// thread (2-3 ms). Run on one thread they add up, and for a small model the GPU waits on both.
// Here the JS thread only builds graphs and hands them over; this thread encodes them (and
// reads tokens back), so building step n+1 overlaps with encoding step n.
//
// MLX 0.32 supports this split: a stream made by `new_thread_unsafe_stream` has one command
// encoder for every thread (streams are otherwise per-thread), and `use_shared_streams` makes
// such streams the JS thread's defaults at load, so every graph the JS thread builds can be
// evaluated here. "Thread unsafe" means one thread at a time: `EvalLock` serialises every
// evaluation — the tasks of this thread and each evaluating entry point of the shim — so the
// JS thread never evaluates (or inspects evaluation state) while this thread does. What the JS
// thread still does concurrently is build graph nodes on top of arrays this thread may be
// evaluating; MLX's op constructors read only their inputs' shapes and dtypes, which never
// change, and the shim's few inspections of an input's state (ops.cc, `owned_nbytes`) are
// written to stay safe against it.
//
// Reads come in two kinds. `eval_thread_read` queues a read behind everything scheduled, so it
// waits for this thread to finish encoding first. `eval_thread_schedule_read` schedules a step
// together with copies of the arrays to be read and returns a ticket: `eval_thread_read_ticket`
// then waits only for the device to finish those copies, on the calling thread and without the
// evaluation lock, while this thread encodes the steps queued after it. The copies are safe to
// wait on there because nothing else references them: evaluating later steps touches the
// originals' events (MLX detaches a finished input's event), never the copies'.
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "mlxn-sys/src/lib.rs.h"
#include "shim.h"

namespace mlxn {

namespace {

struct Task {
  std::vector<mx::array> arrays;
  bool read = false;
  uint64_t ticket = 0;  // read tasks and ticketed schedules: the key of their result
  std::vector<mx::array> copies;  // ticketed schedules: what the ticket's reader waits on
};

// A ticketed schedule's copies, once this thread has scheduled them (or failed to).
struct Pending {
  bool scheduled = false;
  std::vector<mx::array> copies;
  std::string error;
};

struct ReadResult {
  std::vector<double> values;
  std::string error;  // "" when none
};

// Leaked on purpose: the thread waits on these until the process exits, and static
// destructors would otherwise destroy them (and MLX's own state) under a live thread.
struct EvalThread {
  std::mutex m;
  std::condition_variable wake;      // a task was queued
  std::condition_variable finished;  // a task finished
  std::deque<Task> queue;
  bool busy = false;           // a task is running
  uint64_t reads_queued = 0;
  // Results by ticket: each JS thread (Node workers share this thread) takes its own.
  std::map<uint64_t, ReadResult> results;
  std::map<uint64_t, Pending> pending;  // by ticket, until read or forgotten
  std::string schedule_error;       // the first failure of a schedule task since the last read
  // For benchmarks (eval_thread_stats): tasks run and milliseconds spent in each state.
  double schedules = 0, schedule_ms = 0, reads = 0, read_ms = 0, idle_ms = 0;
  std::thread thread;
};

std::mutex& eval_mutex() {
  static auto* m = new std::mutex();
  return *m;
}

bool g_shared_streams = false;

// Appends `a`'s elements (evaluated, row-contiguous) as doubles.
void append_values(const mx::array& a, std::vector<double>& out) {
  size_t n = a.size();
  out.reserve(out.size() + n);
  auto put = [&](auto* p) {
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<double>(p[i]));
  };
  switch (a.dtype()) {
    case mx::bool_: put(a.data<bool>()); break;
    case mx::uint8: put(a.data<uint8_t>()); break;
    case mx::uint16: put(a.data<uint16_t>()); break;
    case mx::uint32: put(a.data<uint32_t>()); break;
    case mx::uint64: put(a.data<uint64_t>()); break;
    case mx::int8: put(a.data<int8_t>()); break;
    case mx::int16: put(a.data<int16_t>()); break;
    case mx::int32: put(a.data<int32_t>()); break;
    case mx::int64: put(a.data<int64_t>()); break;
    case mx::float16: put(a.data<mx::float16_t>()); break;
    case mx::bfloat16: put(a.data<mx::bfloat16_t>()); break;
    case mx::float32: put(a.data<float>()); break;
    case mx::float64: put(a.data<double>()); break;
    default: throw std::invalid_argument("[evalThreadRead] complex arrays cannot be read as numbers");
  }
}

void run_task(EvalThread& t, Task& task) {
  std::lock_guard<std::mutex> lock(eval_mutex());
  if (!task.read) {
    std::string error;
    try {
      mx::async_eval(task.arrays);
    } catch (const std::exception& e) {
      recover_after_failed_eval();
      error = e.what();
    }
    {
      std::lock_guard<std::mutex> g(t.m);
      if (task.ticket != 0) {
        // Its reader sees the failure; nothing else waits for it.
        auto it = t.pending.find(task.ticket);
        if (it != t.pending.end()) {
          it->second.scheduled = true;
          it->second.error = error;
          if (error.empty()) it->second.copies = std::move(task.copies);
        }
      } else if (!error.empty() && t.schedule_error.empty()) {
        t.schedule_error = error;
      }
    }
    task.copies.clear();
    // Released under the lock: a node freed here walks its inputs, which the JS thread's own
    // evaluations could otherwise be detaching at the same time.
    task.arrays.clear();
    return;
  }
  ReadResult r;
  try {
    mx::eval(task.arrays);
    for (auto& a : task.arrays) {
      if (a.flags().row_contiguous) {
        append_values(a, r.values);
      } else {
        auto dense = mx::contiguous(a, false);
        mx::eval(dense);
        append_values(dense, r.values);
      }
    }
  } catch (const std::exception& e) {
    recover_after_failed_eval();
    r.values.clear();
    r.error = e.what();
  }
  task.arrays.clear();
  std::lock_guard<std::mutex> g(t.m);
  if (r.error.empty() && !t.schedule_error.empty()) r.error = t.schedule_error;
  t.schedule_error.clear();
  t.results[task.ticket] = std::move(r);
}

double ms_since(std::chrono::steady_clock::time_point from) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - from).count();
}

void thread_main(EvalThread* t) {
  for (;;) {
    Task task;
    auto idle_from = std::chrono::steady_clock::now();
    {
      std::unique_lock<std::mutex> lk(t->m);
      t->wake.wait(lk, [&] { return !t->queue.empty(); });
      task = std::move(t->queue.front());
      t->queue.pop_front();
      t->busy = true;
      t->idle_ms += ms_since(idle_from);
    }
    auto run_from = std::chrono::steady_clock::now();
    run_task(*t, task);
    double ran = ms_since(run_from);
    {
      std::lock_guard<std::mutex> lk(t->m);
      t->busy = false;
      if (task.read) {
        t->reads += 1;
        t->read_ms += ran;
      } else {
        t->schedules += 1;
        t->schedule_ms += ran;
      }
    }
    t->finished.notify_all();
  }
}

EvalThread& eval_thread() {
  static EvalThread* t = [] {
    auto* p = new EvalThread();
    p->thread = std::thread(thread_main, p);
    p->thread.detach();
    return p;
  }();
  return *t;
}

void check_shared_streams() {
  if (!g_shared_streams) {
    throw std::logic_error("[evalThread] the evaluation thread needs the shared streams (set up when the binding loads)");
  }
}

}  // namespace

std::mutex& evaluation_lock() { return eval_mutex(); }

void use_shared_streams() {
  // Before the JS thread builds anything: every stream it uses by default can then be
  // evaluated on the evaluation thread as well.
  mx::set_default_stream(mx::new_thread_unsafe_stream(mx::Device(mx::Device::cpu)));
  if (mx::is_available(mx::Device(mx::Device::gpu))) {
    mx::set_default_stream(mx::new_thread_unsafe_stream(mx::Device(mx::Device::gpu)));
  }
  g_shared_streams = true;
}

bool shared_streams() { return g_shared_streams; }

void eval_thread_schedule(const ArrayList& list) {
  check_shared_streams();
  auto& t = eval_thread();
  {
    std::lock_guard<std::mutex> lk(t.m);
    t.queue.push_back(Task{list.items, false, 0, {}});
  }
  t.wake.notify_one();
}

rust::Vec<double> eval_thread_read(const ArrayList& list) {
  check_shared_streams();
  auto& t = eval_thread();
  std::unique_lock<std::mutex> lk(t.m);
  uint64_t ticket = ++t.reads_queued;
  t.queue.push_back(Task{list.items, true, ticket, {}});
  t.wake.notify_one();
  t.finished.wait(lk, [&] { return t.results.count(ticket) > 0; });
  ReadResult r = std::move(t.results[ticket]);
  t.results.erase(ticket);
  lk.unlock();
  if (!r.error.empty()) throw std::runtime_error(r.error);
  rust::Vec<double> out;
  out.reserve(r.values.size());
  for (double v : r.values) out.push_back(v);
  return out;
}

// Takes a ticket's copies once its schedule has run; false when the ticket is unknown (never
// issued, already read or forgotten — also by another Node worker while this one waited).
static bool take_pending(EvalThread& t, uint64_t ticket, Pending& out) {
  std::unique_lock<std::mutex> lk(t.m);
  t.finished.wait(lk, [&] {
    auto it = t.pending.find(ticket);
    return it == t.pending.end() || it->second.scheduled;
  });
  auto it = t.pending.find(ticket);
  if (it == t.pending.end()) return false;
  out = std::move(it->second);
  t.pending.erase(it);
  return true;
}

uint64_t eval_thread_schedule_read(const ArrayList& list) {
  check_shared_streams();
  // Built here, on the JS thread's shared default stream, like every other node it builds.
  std::vector<mx::array> copies;
  copies.reserve(list.items.size());
  for (auto& a : list.items) copies.push_back(mx::copy(a));
  Task task{list.items, false, 0, copies};
  task.arrays.insert(task.arrays.end(), copies.begin(), copies.end());
  copies.clear();
  auto& t = eval_thread();
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lk(t.m);
    ticket = ++t.reads_queued;
    task.ticket = ticket;
    t.pending[ticket] = Pending{};
    t.queue.push_back(std::move(task));
  }
  t.wake.notify_one();
  return ticket;
}

rust::Vec<double> eval_thread_read_ticket(uint64_t ticket) {
  check_shared_streams();
  auto& t = eval_thread();
  Pending p;
  if (!take_pending(t, ticket, p)) throw std::invalid_argument("[evalThreadReadTicket] unknown or already read ticket");
  if (!p.error.empty()) throw std::runtime_error(p.error);
  std::vector<double> values;
  // No evaluation lock: only this thread holds the copies (see the top of this file).
  for (auto& c : p.copies) {
    c.wait();
    append_values(c, values);
  }
  rust::Vec<double> out;
  out.reserve(values.size());
  for (double v : values) out.push_back(v);
  return out;
}

void eval_thread_forget_ticket(uint64_t ticket) {
  if (!g_shared_streams) return;
  auto& t = eval_thread();
  Pending p;
  // Waits for the schedule and the device, so the copies are not released while in use.
  if (!take_pending(t, ticket, p)) return;
  for (auto& c : p.copies) c.wait();
}

void eval_thread_drain() {
  if (!g_shared_streams) return;
  auto& t = eval_thread();
  std::unique_lock<std::mutex> lk(t.m);
  t.finished.wait(lk, [&] { return t.queue.empty() && !t.busy; });
  if (!t.schedule_error.empty()) {
    std::string e = std::move(t.schedule_error);
    t.schedule_error.clear();
    throw std::runtime_error(e);
  }
}

rust::Vec<double> eval_thread_stats() {
  rust::Vec<double> out;
  if (!g_shared_streams) return out;
  auto& t = eval_thread();
  std::lock_guard<std::mutex> lk(t.m);
  for (double v : {t.schedules, t.schedule_ms, t.reads, t.read_ms, t.idle_ms}) out.push_back(v);
  t.schedules = t.schedule_ms = t.reads = t.read_ms = t.idle_ms = 0;
  return out;
}

}  // namespace mlxn
