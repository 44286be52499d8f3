// Monitor: the scheduler's watch thread (after Go's sysmon). Once a tick it
// reads each worker's progress (Worker::runs, its count of finished runs);
// for a worker that has been inside one run for longer than
// SchedulerConfig::stall_after it
//   - fires the worker's due timers itself (Worker::expire_for_stalled), so
//     a timer is late by at most a tick or two plus stall_after, never by
//     a whole handler; and
//   - with two or more workers, takes the worker's LIFO slot and held
//     mailbox (Worker::give_up_stalled) to the global queue, where another
//     worker runs them: what a long handler woke does not wait for it.
// For a worker inside one run for longer than SchedulerConfig::long_handler
// it raises the worker's long-run flag, once per run: the handler reports
// itself when it returns (detail/long_run.hpp).
//
// How often it looks. A look costs its thread a timed sleep, ~15–20 µs of
// CPU on a VM, so it looks quickly only when that can pay: while a worker
// is idle (it can run what a stall gives up at once) and another busy,
// every stall_after / 2 (≥ 20 µs) just after a worker left idle or parked
// and while a busy worker has been in one run since the last look (until
// it has stalled and has nothing left to give up);
// backing off, doubling, to once a tick while the busy workers make
// progress (as Go's sysmon backs off). With every worker busy it looks
// once a tick: none could run what a stall gives up before its own next
// look at the global queue anyway. With every worker idle nothing can
// stall. Leaving either state ends the tick's wait at once: the first
// worker to leave idle (note_busy) or to park (note_parking) wakes the
// monitor. So a handler that stalls right after its worker woke has what
// it woke run elsewhere after about 1.5 × stall_after (measured ~0.3 ms);
// one that stalls in the middle of busy work, within about two ticks.
// Timers of a stalled worker are expired once a tick (they have a tick's
// resolution).
//
// The monitor never runs actors and costs the workers nothing while they
// make progress: it reads each worker's run count. When every worker has
// been idle for `quiet_looks` looks it sleeps until a worker leaves idle
// (note_busy), so an idle system pays nothing for it. Started
// when long_handler is above zero, or stall_after is and the kernel has
// membarrier (taking from a stalled worker needs it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/detail/parker.hpp"

namespace shoal {

class Scheduler;

class Monitor {
 public:
  /// `takes_stalled`: expire timers of and take cells from stalled workers
  /// (SchedulerConfig::stall_after); else only watch for long handlers.
  Monitor(Scheduler& sched, bool takes_stalled);
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;
  ~Monitor();

  /// Starts the thread. Once; from the thread that starts the scheduler.
  void start();
  /// Stops and joins the thread; idempotent. Not from the monitor itself.
  void stop() noexcept;
  /// True while it sleeps because every worker was idle. Thread-safe; stale.
  bool asleep() const noexcept {
    // relaxed: an observation for tests.
    return asleep_.load(std::memory_order_relaxed);
  }
  /// A worker left idle: wakes the monitor if it sleeps for want of work.
  /// Call after the worker's store that says it is busy. Thread-safe; a
  /// fence and a load, a futex wake only after the system was all idle.
  void note_busy() noexcept {
    // Store→load against the monitor's sleep (run()): seq_cst fences both
    // sides, so either it sees this worker busy or this sees it asleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // relaxed (both): ordered by the fence above, as the pair's load half;
    // wake_on_ is a hint (missed, the monitor looks a tick later).
    if (asleep_.load(std::memory_order_relaxed) ||
        wake_on_.load(std::memory_order_relaxed) == Wake::on_busy) {
      parker_.unpark();
    }
  }
  /// A worker is about to park: wakes the monitor if every worker was busy
  /// at its last look (it waits a tick then). Thread-safe; a load.
  void note_parking() noexcept {
    // relaxed: a hint; missed, the monitor looks a tick later.
    if (wake_on_.load(std::memory_order_relaxed) == Wake::on_park) parker_.unpark();
  }

 private:
  /// What the monitor last saw of one worker.
  struct Seen {
    std::uint64_t runs = 0;
    std::chrono::nanoseconds since{};  // when `runs` was first seen
    bool idle = false;                 // idle at the last look
    bool flagged_long = false;         // this run's long-run flag is raised
    std::chrono::nanoseconds expired{};  // when its timers were last expired from here
  };
  /// What ends a tick-long wait early (see "how often it looks").
  enum class Wake : std::uint8_t { never, on_busy, on_park };
  /// What one look found.
  struct Found {
    bool all_idle = true;  // every worker looks for work or sleeps
    bool any_idle = false;
    bool suspect = false;  // a busy worker in the same run as at the last look, which
                           // may yet have something to give up
  };
  void run();
  /// One look at every worker at time `now`.
  Found look(std::chrono::nanoseconds now);
  /// What may end the wait after a look that found `f`.
  Wake wake_on(Found f) const noexcept;
  /// How long to wait before the next look, after one that found `f`
  /// having waited `last` (`woken`: a worker ended the wait).
  std::chrono::nanoseconds next_wait(Found f, std::chrono::nanoseconds last,
                                     bool woken) const noexcept;
  /// Sleeps until note_busy or stop, unless a worker turns out busy.
  void sleep_while_all_idle();

  /// Looks in a row with every worker idle before the monitor sleeps.
  static constexpr unsigned quiet_looks = 10;
  /// The shortest period between looks.
  static constexpr std::chrono::nanoseconds min_period{std::chrono::microseconds(20)};

  Scheduler& sched_;
  const bool takes_stalled_;
  std::vector<Seen> seen_;  // monitor thread only
  detail::Parker parker_;   // the tick's sleep; stop() and note_busy() unpark it
  std::atomic<bool> stop_{false};
  std::atomic<bool> asleep_{false};  // in sleep_while_all_idle (note_busy reads it)
  std::atomic<Wake> wake_on_{Wake::never};  // written before each wait; workers read it
  std::thread thread_;
};

}  // namespace shoal
