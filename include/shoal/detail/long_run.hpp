// The long-handler watch: how the monitor (monitor.hpp) tells the handler
// running on a worker that it has run past SchedulerConfig::long_handler.
//
// The monitor cannot name the handler: it sees only that a worker's run
// count has not moved. So it raises the worker's flag, and the handler's
// own run loop (ActorCell::run) looks at the flag after every message it
// handles — one load of a line the worker only reads — and, when raised,
// reports the actor and the message it just handled (LongHandlerEvent).
// The flag costs the run loop nothing else: no clock read per message;
// the worker hands its watch to the run (ActorCell::run). A flag raised
// for a run that has ended is dropped by the reporter (the worker's
// progress, its runs and wake-ups, moved on); one raised while no handler ran (a long stretch of
// timer expiry between runs) is dropped by the worker after the timers, or when it leaves idle.
#pragma once

#include <atomic>
#include <cstdint>

#include "shoal/detail/config.hpp"

namespace shoal::detail {

struct LongRunWatch {
  /// Raised by the monitor (release) once per long run; lowered by the
  /// thread that reports it (acquire exchange): the pair orders since_ns.
  std::atomic<bool> raised{false};
  /// Scheduler time (ns) the monitor first saw the run: the handler has
  /// run at least from here. Written by the monitor before it raises.
  std::atomic<std::int64_t> since_ns{0};
  /// The worker's progress (its finished runs and wake-ups) when the
  /// monitor raised the flag: the reporter drops a flag whose run has
  /// ended (raised just too late).
  std::atomic<std::uint64_t> progress{0};
};

/// Never raised: what a thread that is not a worker (a guest, a test
/// driving the deterministic mode) watches.
inline LongRunWatch no_long_run_watch;
/// The watch of the worker on this thread (Worker::run sets it): for the
/// lifecycle handlers, which run deeper than the worker's hand-over.
SHOAL_TLS_INITIAL_EXEC inline thread_local LongRunWatch* long_run_watch = &no_long_run_watch;

}  // namespace shoal::detail
