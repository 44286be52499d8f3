// Resident-set figures for the macro workloads, read from procfs.
//
// VmHWM is the kernel's own high-water mark of VmRSS, so a peak needs no
// sampling thread. Writing "5" to /proc/self/clear_refs (Linux >= 4.0) resets
// that mark to the current RSS, which lets each run measure its own peak
// rather than the largest one since the process started. Every failure reads as
// 0, which the reports treat as "not measured": a benchmark should lose a
// figure, not abort, when procfs is unavailable (e.g. in a sandbox).

#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "bench/workload.hpp"

namespace shoal::bench {
namespace {

// -- procfs --

// The value of a "Key:   1234 kB" line of /proc/self/status, in bytes; 0 when
// the line is missing or malformed.
double status_field_bytes(std::string_view key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    const std::string_view view(line);
    if (!view.starts_with(key) || view.size() <= key.size() || view[key.size()] != ':') continue;
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str() + key.size() + 1, "%llu", &kib) != 1) return 0;
    return static_cast<double>(kib) * 1024.0;  // the kernel's "kB" is KiB
  }
  return 0;
}

// jemalloc's control interface, if the process runs on jemalloc (the bench
// executables link it by default); a weak reference stays null otherwise.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen) __attribute__((weak));

void release_free_memory() {
  if (mallctl == nullptr) return;
  // "arena.<MALLCTL_ARENAS_ALL>.purge": return every arena's unused dirty pages.
  mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
}

}  // namespace

// -- public API --

double heap_bytes() {
  if (mallctl == nullptr) return 0;
  std::uint64_t epoch = 1;
  std::size_t len = sizeof epoch;
  mallctl("epoch", &epoch, &len, &epoch, len);  // refresh the cached statistics
  std::size_t allocated = 0;
  len = sizeof allocated;
  if (mallctl("stats.allocated", &allocated, &len, nullptr, 0) != 0) return 0;
  return static_cast<double>(allocated);
}

double process_cpu_seconds() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) * 1e-6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

GrowthProbe::GrowthProbe() : heap0(heap_bytes()), rss0(current_rss_bytes()) {}

double GrowthProbe::per_item(double items) const {
  if (items <= 0) return 0;
  double heap1 = heap_bytes();
  if (heap0 > 0 && heap1 > 0) return (heap1 - heap0) / items;
  return (current_rss_bytes() - rss0) / items;
}

void reset_peak_rss() {
  release_free_memory();
  // Failure (old kernel, read-only procfs) only means the next peak includes
  // earlier runs; the figure is still an upper bound, so it is not an error.
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5" << std::flush;
}

double peak_rss_bytes() { return status_field_bytes("VmHWM"); }

double current_rss_bytes() { return status_field_bytes("VmRSS"); }

}  // namespace shoal::bench
