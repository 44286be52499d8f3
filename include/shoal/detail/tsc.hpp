// The cheap clock of the statistics and the flight recorder.
//
// On x86-64 it is the time-stamp counter: `rdtsc` is not serialising and
// overlaps with the surrounding work (one per actor run costs nothing
// measurable on ping-pong here, where steady_clock::now() costs ~28 ns).
// Linux only uses the TSC as its clock source when it is invariant
// (constant rate, running in every C-state, synchronised across cores), which
// is what makes readings from two workers comparable. Elsewhere the ticks are
// steady_clock nanoseconds.
//
// Ticks become nanoseconds at read-out (snapshots, trace dumps), never on the
// hot path: ns_per_tick() measures the rate once per process, the first time
// it is asked, against steady_clock over a few milliseconds.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace shoal::detail {

/// The current tick. Thread-safe, wait-free, ~no cost beside other work.
inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
#endif
}

/// The tick when the process started (its static initialisation): stamps
/// count from here.
inline const std::uint64_t tick_epoch = ticks();

/// Nanoseconds per tick (1.0 where ticks are nanoseconds). The first call
/// measures for ~5 ms (spinning); later calls return the cached value.
/// Thread-safe.
double ns_per_tick() noexcept;

/// A pair of readings taken together: maps ticks onto steady_clock time.
struct TickAnchor {
  std::uint64_t tick;
  std::chrono::steady_clock::time_point time;

  static TickAnchor now() noexcept { return {ticks(), std::chrono::steady_clock::now()}; }
};

}  // namespace shoal::detail
