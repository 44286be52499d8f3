// What a recorded trace says in numbers: totals, per-actor figures with
// percentiles, the batch-size histogram and who stole from whom. Both the
// `shoal-trace --summary` text and the HTML report (trace_report.hpp) are
// made from this, so they never disagree.
//
// Definitions (events as flight_recorder.hpp records them):
//   busy time       the sum of an actor's run durations
//   handler time    a run's duration / its user messages (runs with none are
//                   left out), one sample per run
//   message latency from the start of the sending run to the start of the
//                   receiving run, one sample per matched flow (core/trace_flows.hpp)
//   batch size      user messages per run (b & 0xffffffff); bucket 0 holds
//                   runs with only system messages, bucket k ≥ 1 holds
//                   [2^(k-1), 2^k)
//   steal           a steal event with x != 0 on the thief's lane; a = victim
//   long handler    a long_handler event (a handler the monitor saw run long)
// Times are microseconds; percentiles are nearest-rank over exact samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shoal/trace.hpp"

namespace shoal::tools {

/// p50/p90/p99/max of `n` samples (all 0 when n == 0).
struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
  std::uint64_t n = 0;
};

/// One actor's figures over the trace.
struct ActorStats {
  std::uint64_t id = 0;
  std::string name;
  std::uint64_t runs = 0;
  std::uint64_t messages = 0;  ///< user messages
  std::uint64_t system_messages = 0;
  double busy_us = 0;
  Percentiles handler_us;  ///< per message, one sample per run
  Percentiles latency_us;  ///< per received flow
};

/// One guest lane (a node's io thread, shoal/guest_runner.hpp).
struct GuestLaneStats {
  std::string name;
  std::uint64_t runs = 0, messages = 0;            ///< actor runs it hosted
  double busy_us = 0;                              ///< in those runs
  std::uint64_t frames_in = 0, messages_in = 0;    ///< remote_in: batch frames delivered
  std::uint64_t writes_out = 0, messages_out = 0;  ///< remote_out: frames written per peer
  double io_us = 0;                                ///< in both
};

/// A long_handler event: a handler that ran past SchedulerConfig::long_handler.
struct LongHandlerStats {
  std::string actor;  ///< Trace::actor_name
  std::string message_type;
  std::string lane;  ///< Trace::lane_name
  double at_us = 0;  ///< when it returned, from the first event
  double at_least_us = 0;
};

struct TraceStats {
  std::size_t workers = 0;  ///< worker lanes (guest lanes are in `guests`)
  double duration_us = 0;   ///< first event's begin to last event's end
  double busy_us = 0;       ///< all runs (the guests' too)
  double park_us = 0;      ///< all parks
  std::uint64_t events = 0, runs = 0, messages = 0, system_messages = 0;  ///< runs: all lanes'
  std::uint64_t flows = 0, parks = 0, schedules = 0;
  std::uint64_t steals = 0, steal_attempts = 0;
  std::vector<ActorStats> actors;                        ///< busiest first
  std::vector<std::uint64_t> batch_runs;                 ///< runs per batch-size bucket
  std::vector<std::vector<std::uint64_t>> steal_matrix;  ///< [thief][victim]
  std::vector<GuestLaneStats> guests;                    ///< per guest lane
  std::vector<LongHandlerStats> long_handlers;           ///< in the order of the lanes

  /// The part of busy_us spent in guest lanes.
  double guest_busy_us() const noexcept {
    double b = 0;
    for (const GuestLaneStats& g : guests) b += g.busy_us;
    return b;
  }
};

/// Everything above for `t`. Allocates; never throws on odd input (victims
/// outside the worker range are counted in `steals` but not the matrix).
TraceStats analyze(const Trace& t);

/// The nearest-rank percentiles of `samples` (reorders it).
Percentiles percentiles(std::vector<double>& samples);

/// The lowest batch size of bucket `k` (0, 1, 2, 4, …).
std::uint64_t batch_bucket_low(std::size_t k) noexcept;

/// A few lines for a terminal: totals and the busiest `top` actors.
std::string format_summary(const TraceStats& s, std::size_t top = 10);

/// `us` with a unit that suits it: "850 ns", "12.3 us", "4.56 ms", "2.01 s".
std::string format_duration(double us);

}  // namespace shoal::tools
