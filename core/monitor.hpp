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
//
// The monitor never runs actors and costs the workers nothing while they
// make progress: it reads each worker's run count once a tick. When every
// worker has been idle for `quiet_looks` ticks it sleeps until a worker
// leaves idle (note_busy), so an idle system pays nothing for it. Started
// when stall_after is above zero and the kernel has membarrier.
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
  explicit Monitor(Scheduler& sched);
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
    // relaxed: ordered by the fence above, as the pair's load half.
    if (asleep_.load(std::memory_order_relaxed)) parker_.unpark();
  }

 private:
  /// What the monitor last saw of one worker.
  struct Seen {
    std::uint64_t runs = 0;
    std::chrono::nanoseconds since{};  // when `runs` was first seen
  };
  void run();
  /// One look at every worker at time `now`; true if every one was idle.
  bool look(std::chrono::nanoseconds now);
  /// Sleeps until note_busy or stop, unless a worker turns out busy.
  void sleep_while_all_idle();

  /// Looks in a row with every worker idle before the monitor sleeps.
  static constexpr unsigned quiet_looks = 10;

  Scheduler& sched_;
  std::vector<Seen> seen_;  // monitor thread only
  detail::Parker parker_;   // the tick's sleep; stop() and note_busy() unpark it
  std::atomic<bool> stop_{false};
  std::atomic<bool> asleep_{false};  // in sleep_while_all_idle (note_busy reads it)
  std::thread thread_;
};

}  // namespace shoal
