// A CUDA injection library that records the device time of every kernel a process runs, for
// both sides of a benchmark without changing either: the CUDA driver loads the library named by
// CUDA_INJECTION64_PATH into every process that initializes CUDA and calls InitializeInjection.
// CUPTI's activity API then hands over one record per kernel (kernels inside CUDA graphs too),
// and at exit the process writes one table to $MLXN_KERNEL_PROFILE_DIR/kernels-<pid>.tsv.
// kernel-profile.py summarizes the tables. Built on the GPU machine by kernel-profile.sh.
//
// KERNEL_RECORD is the newest CUpti_ActivityKernelN of the CUPTI headers at hand (the build
// script finds it): the fields read here exist in every version.
#include <cupti.h>
#include <cxxabi.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Totals {
  unsigned long long count = 0;
  unsigned long long nanoseconds = 0;
};

// Heap-allocated and never freed: the report runs at exit, after or between other libraries'
// static destructors, so nothing it reads may have a destructor of its own.
std::mutex* lock = new std::mutex;
std::map<std::string, Totals>* totals = new std::map<std::string, Totals>;
std::vector<std::pair<unsigned long long, unsigned long long>>* intervals =
    new std::vector<std::pair<unsigned long long, unsigned long long>>;
unsigned long long dropped = 0;

std::string readable(const char* mangled) {
  if (mangled == nullptr) return "?";
  int status = 0;
  char* plain = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && plain != nullptr ? plain : mangled;
  std::free(plain);
  for (char& c : name) {
    if (c == '\t' || c == '\n') c = ' ';
  }
  return name.size() > 160 ? name.substr(0, 160) : name;
}

void CUPTIAPI give_buffer(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = 16u << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, *size));
  *max_records = 0;
}

void CUPTIAPI take_buffer(CUcontext context, uint32_t stream, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> guard(*lock);
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && record->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
    const auto* kernel = reinterpret_cast<const KERNEL_RECORD*>(record);
    char shape[96];
    std::snprintf(shape, sizeof shape, "\t%u,%u,%u\t%u,%u,%u", kernel->gridX, kernel->gridY, kernel->gridZ,
                  kernel->blockX, kernel->blockY, kernel->blockZ);
    Totals& entry = (*totals)[readable(kernel->name) + shape];
    entry.count += 1;
    entry.nanoseconds += kernel->end - kernel->start;
    intervals->emplace_back(kernel->start, kernel->end);
  }
  size_t lost = 0;
  if (cuptiActivityGetNumDroppedRecords(context, stream, &lost) == CUPTI_SUCCESS) dropped += lost;
  std::free(buffer);
}

// The process's command line, its arguments separated by spaces.
std::string command_line() {
  std::string command;
  if (std::FILE* cmdline = std::fopen("/proc/self/cmdline", "r")) {
    char buf[512];
    size_t n = std::fread(buf, 1, sizeof buf - 1, cmdline);
    for (size_t i = 0; i < n; ++i) command += buf[i] == '\0' ? ' ' : buf[i];
    std::fclose(cmdline);
  }
  return command;
}

void write_report() {
  static bool written = false;
  if (written) return;
  written = true;
  cuptiActivityFlushAll(1);
  const char* folder = std::getenv("MLXN_KERNEL_PROFILE_DIR");
  std::string path = std::string(folder ? folder : "/tmp") + "/kernels-" + std::to_string(getpid()) + ".tsv";
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) return;
  std::lock_guard<std::mutex> guard(*lock);
  // Busy time is the union of the kernels' intervals: what the device spent running anything.
  std::sort(intervals->begin(), intervals->end());
  unsigned long long busy = 0, first = 0, last = 0, open_start = 0, open_end = 0;
  bool open = false;
  for (const auto& [start, end] : *intervals) {
    if (!open) {
      first = start;
      open_start = start, open_end = end, open = true;
    } else if (start > open_end) {
      busy += open_end - open_start;
      open_start = start, open_end = end;
    } else {
      open_end = std::max(open_end, end);
    }
    last = std::max(last, end);
  }
  if (open) busy += open_end - open_start;
  std::fprintf(out, "# command\t%s\n# kernels\t%zu\n# span_ns\t%llu\n# busy_ns\t%llu\n# dropped\t%llu\n", command_line().c_str(),
               intervals->size(), last - first, busy, dropped);
  std::fprintf(out, "count\ttotal_ns\tname\tgrid\tblock\n");
  for (const auto& [key, entry] : *totals) std::fprintf(out, "%llu\t%llu\t%s\n", entry.count, entry.nanoseconds, key.c_str());
  std::fclose(out);
}

// A process ended by SIGTERM (the benchmark ends its Python side so) runs no atexit handlers: write
// the table first, then end as the signal would have. Not async-signal-safe, which a profiling
// run that is ending anyway can afford.
void report_and_end(int signal) {
  write_report();
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

}  // namespace

extern "C" int InitializeInjection(void) {
  // MLXN_KERNEL_PROFILE_ONLY: profile only the processes whose command line contains it.
  const char* only = std::getenv("MLXN_KERNEL_PROFILE_ONLY");
  if (only != nullptr && *only != '\0' && command_line().find(only) == std::string::npos) return 1;
  if (cuptiActivityRegisterCallbacks(give_buffer, take_buffer) != CUPTI_SUCCESS) return 0;
  if (cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) return 0;
  std::atexit(write_report);
  std::signal(SIGTERM, report_and_end);
  return 1;
}
