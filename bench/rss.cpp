// Resident-set figures for the macro workloads, read from procfs.
//
// VmHWM is the kernel's own high-water mark of VmRSS, so a peak needs no
// sampling thread. Writing "5" to /proc/self/clear_refs (Linux >= 4.0) resets
// that mark to the current RSS, which lets each run measure its own peak
// rather than the largest one since the process started. Every failure reads as
// 0, which the reports treat as "not measured": a benchmark should lose a
// figure, not abort, when procfs is unavailable (e.g. in a sandbox).

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

}  // namespace

// -- public API --

void reset_peak_rss() {
  // Failure (old kernel, read-only procfs) only means the next peak includes
  // earlier runs; the figure is still an upper bound, so it is not an error.
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5" << std::flush;
}

double peak_rss_bytes() { return status_field_bytes("VmHWM"); }

double current_rss_bytes() { return status_field_bytes("VmRSS"); }

}  // namespace shoal::bench
