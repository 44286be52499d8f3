// SchedulerConfig: how many workers, how they spin, park and steal, and
// what the runtime watches for (stalls, long handlers). Part of SystemConfig.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace shoal {

struct SchedulerConfig {
  /// Worker threads; 0 = one per hardware thread.
  unsigned workers = 0;
  /// How long an idle worker spins (looking for work) before it parks.
  /// Waking a parked thread costs ~11–38 µs on the project's test machine, so spinning
  /// somewhat longer than that keeps bursty hand-offs off the futex.
  std::chrono::nanoseconds spin_before_park{std::chrono::microseconds(50)};
  /// Pin worker i to CPU i (mod the CPUs this process may use).
  bool pin_workers = false;
  /// Run no threads; the caller drives with run_one()/run_until_idle().
  bool deterministic = false;
  /// Seed of the deterministic mode's choices.
  std::uint64_t seed = 0;
  /// Events each worker's flight-recorder ring keeps (48 bytes each; made
  /// the first time tracing starts). The newest are kept.
  std::size_t trace_events = std::size_t{1} << 16;
  /// A worker inside one run for longer than this gives up its LIFO slot
  /// and held mailbox to the other workers (the scheduler's monitor thread), which the monitor
  /// notices within a tick or two: what a long handler woke runs elsewhere
  /// meanwhile. Zero: never (and no monitor thread unless long_handler
  /// asks for one).
  std::chrono::nanoseconds stall_after{std::chrono::microseconds(200)};
  /// While a worker is idle and another busy, the monitor looks every
  /// stall_after / 2 (instead of only when a stall may be starting), and
  /// the first worker to leave an all-idle spell wakes it: what a long
  /// handler woke runs elsewhere after about 1.5 × stall_after whenever a
  /// worker is idle to run it. Costs the monitor a timed sleep per look
  /// (15–17 % of a core during a one-pair ping-pong on a 2-vCPU guest) and
  /// that worker a wake-up (5–18 µs on a VM; bench/RESULTS.md). For a
  /// machine with a core to spare.
  bool eager_stall_looks = false;
  /// A handler that runs longer than this is reported once it returns: a
  /// LongHandler event on the system's event stream and a long_handler
  /// event in the flight recorder, naming the actor's type and the
  /// message's (the monitor thread). Zero: not watched.
  std::chrono::nanoseconds long_handler{std::chrono::milliseconds(100)};
};

}  // namespace shoal
