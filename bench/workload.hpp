// The vocabulary shared by the macro workloads, their CAF twins and the
// shoal-bench CLI: what one run of a workload reports, and the list of
// workloads (explicit, no static registration).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace shoal::bench {

/// What one run of a workload returns: the wall time of the measured part and
/// optional memory figures (0 = not measured).
struct Timing {
  double seconds = 0;
  double peak_rss_bytes = 0;
  double bytes_per_actor = 0;
  double items = 0;  ///< units processed, when a runner used another size than the workload's
  /// Latency workloads: percentiles of the per-operation samples, in ns.
  double p50_ns = 0, p99_ns = 0, p999_ns = 0;
};

/// Fills t's percentiles from latency samples (reordered in place). Exact:
/// every sample is kept (in an array sized before the run), then ranked.
inline void set_percentiles(Timing& t, std::vector<std::uint32_t>& ns) {
  if (ns.empty()) return;
  auto at = [&](double q) {
    auto k = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1));
    std::nth_element(ns.begin(), ns.begin() + static_cast<long>(k), ns.end());
    return static_cast<double>(ns[k]);
  };
  t.p50_ns = at(0.50);
  t.p99_ns = at(0.99);
  t.p999_ns = at(0.999);
}

/// Knobs every run gets from the command line. The CAF twins use `workers`
/// only; the rest are shoal's.
struct RunConfig {
  unsigned workers = 2;
  unsigned throughput = 0;   ///< shoal's mailbox batch; 0 = its default
  unsigned spin_us = 0;      ///< shoal's spin before sleeping (workers, io thread), µs; 0 = defaults
  std::string event_port;    ///< remote workloads' nodes: "uring", "epoll", "" = automatic
  bool workers_only = false;  ///< remote workloads' nodes: NodeConfig::run_actors off
  bool pin = false;          ///< pin shoal's workers to cores
  bool actor_stats = false;  ///< instrument every shoal actor (stats.hpp)
  bool print_stats = false;  ///< print shoal's statistics at the end of the run
  std::string trace_path;    ///< record a trace of the run and write it here ("" = none)
  double scale = 1.0;        ///< size factor of a scalable workload (--duration)
  unsigned message_bytes = 0;  ///< payload of ping-pong, pairs and ring (one of message_sizes)
};

/// The payload sizes --message-size accepts (each is its own message type).
inline constexpr unsigned message_sizes[] = {0, 64, 256, 1024, 4096};

/// One runnable workload with fixed parameters, e.g. "pairs/64".
struct Workload {
  std::string name;         ///< stable id used on the command line and in JSON
  std::string description;  ///< one line for --list
  std::string unit;         ///< unit of `value`: "msg/s", "hops/s", "ms", "ns/actor"
  bool higher_is_better = true;
  std::vector<std::pair<std::string, double>> params;  ///< recorded in JSON
  /// Converts a Timing into the reported value in `unit`.
  std::function<double(const Timing&)> value;
  std::function<Timing(const RunConfig&)> run_shoal;
  std::function<Timing(const RunConfig&)> run_caf;  ///< empty when there is no twin
  /// Its size follows RunConfig::scale (a message or round-trip count);
  /// false for workloads whose size is their definition (skynet, spawn-stop, idle).
  bool scalable = false;
  /// Its messages carry RunConfig::message_bytes of payload.
  bool sized_messages = false;
  /// Programs a run starts, per system ("shoal", "caf"): paths to check
  /// before the runs (the remote workloads' server processes).
  std::vector<std::pair<std::string, std::string>> programs{};
};

/// Every workload, in the order --list prints them.
std::vector<Workload> workloads();

/// Returns the allocator's free memory to the kernel (jemalloc purge), then
/// resets the peak-RSS mark (writes 5 to /proc/self/clear_refs), so the next
/// peak_rss_bytes() covers what the next run itself touches.
void reset_peak_rss();
/// Bytes the allocator has handed out and not taken back (jemalloc's
/// stats.allocated); 0 when the process does not run on jemalloc. Both
/// systems of a run share the allocator, so deltas compare like with like.
double heap_bytes();
/// CPU time (user + system) this process has used so far, in seconds.
double process_cpu_seconds();
/// Bytes per item of a growth measured as heap_bytes() deltas when the
/// allocator reports them, else as current_rss_bytes() deltas.
struct GrowthProbe {
  GrowthProbe();
  double per_item(double items) const;
  double heap0, rss0;
};
/// Peak resident set size since the last reset, in bytes (VmHWM).
double peak_rss_bytes();
/// Current resident set size of this process, in bytes (VmRSS).
double current_rss_bytes();

}  // namespace shoal::bench
