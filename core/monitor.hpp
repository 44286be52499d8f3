// Monitor: the scheduler's watch thread (after Go's sysmon). Once a tick it
// reads each worker's progress (Worker::progress: its finished runs and
// its wake-ups, so a worker that went idle and came back between two
// looks is never taken for one inside a single run);
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
// How often it looks. A look costs its thread a timed sleep (~15–20 µs of
// CPU on a VM) and takes a CPU from the other threads for that long, so it
// looks quickly only when a stall may be starting that a look could act
// on: while a worker is idle (it can run what a stall gives up at once)
// and a busy one has cells in its LIFO slot or held and has just left
// idle or been in one run since the last look, it waits stall_after / 2
// (≥ 20 µs); otherwise it doubles its wait up to a tick (as Go's sysmon
// backs off). With every worker busy it looks once a tick: none could run
// what a stall gives up before its own next look at the global queue
// anyway. With every worker idle nothing can stall. The workers never
// wake it for this (unless SchedulerConfig::eager_stall_looks asks for
// it): waking a waiting thread costs the waker 5–18 µs on a VM (an IPI),
// too much on the path of a message. So a handler that stalls on what it
// woke has that run elsewhere about 1.5 × stall_after after the monitor
// first sees it busy (within a tick of its start, sooner when its worker
// just woke); timers of a stalled worker are expired once a tick (they
// have a tick's resolution).
//
// The monitor never runs actors and costs the workers nothing while they
// make progress: it reads each worker's progress. When every worker has
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

namespace shoal::detail {

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
    // relaxed (both): ordered by the fence above, as the pair's load half
    // (wake_on_busy_ a hint: missed, the monitor looks a tick later).
    if (asleep_.load(std::memory_order_relaxed) || wake_on_busy_.load(std::memory_order_relaxed)) {
      parker_.unpark();
    }
  }

 private:
  /// What the monitor last saw of one worker.
  struct Seen {
    std::uint64_t progress = 0;        // Worker::progress()
    std::chrono::nanoseconds since{};  // when `progress` was first seen
    bool idle = true;                  // idle at the last look (none yet: as if)
    bool flagged_long = false;         // this run's long-run flag is raised
    std::chrono::nanoseconds expired{};  // when its timers were last expired from here
  };
  /// What one look found.
  struct Found {
    bool all_idle = true;  // every worker looks for work or sleeps
    bool any_idle = false;
    bool suspect = false;  // a busy worker that just left idle or is in the same run as at
                           // the last look, with cells in its slot or held
  };
  void run();
  /// One look at every worker at time `now`.
  Found look(std::chrono::nanoseconds now);
  /// How long to wait before the next look, after one that found `f`
  /// having waited `last` (`woken`: note_busy ended the wait).
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
  // Waiting with every worker idle, and SchedulerConfig::eager_stall_looks:
  // the first worker to leave idle ends the wait (note_busy reads it).
  std::atomic<bool> wake_on_busy_{false};
  std::thread thread_;
};

}  // namespace shoal::detail
