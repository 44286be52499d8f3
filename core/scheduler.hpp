// Scheduler: N workers, a global injection queue, and the idle protocol that
// parks and wakes them. Also a deterministic single-threaded mode for tests.
//
// Idle protocol (after Tokio's `idle.rs`). One atomic word packs
// `searching` (workers looking for work to steal) and `unparked` (workers not
// asleep). At most half the workers search at once.
//   - A thread that makes work runnable where another worker could take it
//     (global queue, or the back of a run queue) calls notify_one(): it wakes
//     a parked worker only if none is searching and some are asleep. Never once
//     per message: a searcher will find the work, and a searcher that finds
//     work and was the last one wakes the next (a chain, not a herd).
//   - A worker with no work spins for `spin_before_park`, searching if it may,
//     then parks. The last searcher to park re-checks every queue after
//     leaving the searching count; the producer checks the count after
//     queueing. Both sides put a seq_cst fence between their store and their
//     load (store→load, Dekker), so one of them always sees the other: no
//     lost wake-up.
//
// Timers (timer_wheel.hpp): each worker owns a wheel. A timer armed on a
// worker goes into its own wheel (no atomic operation); one armed from any
// other thread is posted to a worker that is awake and idle, else to the
// sleeper the next wake-up takes (so a request's own wake-up serves its
// timeout: FutureCore::sent), else to a busy one in turn; it links it at its
// next look, woken for it if asleep. Cancelling from the owner's thread
// unlinks at once; from elsewhere it posts the cancel to the owner without
// waking it (until 64 cancels wait), so a cancelled timer's memory comes
// back at the owner's next look — for a sleeping owner, at the latest at
// the timer's deadline. A worker looks at its wheel when it runs out of work, and
// every `global_interval` runs while busy (a clock read then, only if it
// has timers); it parks no longer than until its earliest deadline. While
// a worker is inside one run for longer than `stall_after`, the monitor
// (monitor.hpp) fires its due timers instead. So a timer fires late by
// about two ticks plus the longer of `stall_after` and `global_interval`
// runs on its worker at most — never early.
//
// Guest runs (guest_runner.hpp): a thread that is not a worker may keep the
// mailboxes it makes runnable while every worker is parked and run them
// itself, instead of waking a worker.
//
// Deterministic mode: no threads. Runnable mailboxes go to one ready list and
// the test thread runs them one at a time with run_one(); which one runs next
// is drawn from a seeded generator, so a seed reproduces an interleaving.
// Time is virtual: it stands still until the test moves it (advance_time),
// which expires the timers due on the test thread.
#pragma once

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "core/flight_recorder.hpp"
#include "core/monitor.hpp"
#include "core/worker.hpp"
#include "shoal/detail/config.hpp"
#include "shoal/detail/timer_wheel.hpp"
#include "shoal/scheduler_config.hpp"
#include "shoal/stats.hpp"

namespace shoal {
class GuestRunner;
}  // namespace shoal

namespace shoal::detail {

class ActorCell;

class Scheduler {
 public:
  explicit Scheduler(const SchedulerConfig& config);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  /// Stops and joins the workers. Runnable mailboxes still queued are not run.
  ~Scheduler();

  /// Starts the worker threads (no-op in deterministic mode). Call once.
  void start();
  /// Stops and joins every worker; idempotent. Not from a worker thread.
  void stop();

  unsigned worker_count() const noexcept { return static_cast<unsigned>(workers_.size()); }
  bool deterministic() const noexcept { return config_.deterministic; }
  const SchedulerConfig& config() const noexcept { return config_; }

  /// Makes a mailbox runnable. Called by the thread that won its
  /// idle→scheduled transition, exactly once per transition. Thread-safe,
  /// does not block; allocates only when the global queue grows.
  void schedule(ActorCell* cell) noexcept {
    Worker* w = Worker::current();
    if (w != nullptr && &w->scheduler() == this) {
      w->schedule_local(cell);
      // Inside a traced run the sent message's flow arrow already says who
      // made the mailbox runnable; a schedule outside a run (a timer) is
      // recorded on its own.
      if (detail::WorkerTrace* t = detail::active_trace; t != nullptr && t->run_ts == 0)
          [[unlikely]]
        trace_scheduled(cell, ScheduledWhere::lifo_slot);
    } else {
      schedule_external(cell);
    }
  }

  /// Re-queues a mailbox at the end of its run, on the thread that ran it:
  /// behind every other runnable one if it used up its batch (`had_turn`),
  /// else on this worker's run queue (mail came as it went idle).
  void reschedule(ActorCell* cell, bool had_turn) noexcept;

  /// Deterministic mode: runs one runnable mailbox chosen by the seeded
  /// generator; false if none is runnable. Test thread only.
  bool run_one();
  /// Deterministic mode: runs until nothing is runnable or `max_runs` runs.
  /// Returns the number of runs. Test thread only.
  std::size_t run_until_idle(std::size_t max_runs = SIZE_MAX);

  /// Workers asleep on their parker now (possibly stale). Thread-safe.
  unsigned parked_workers() const noexcept {
    // relaxed: an observation for tests and stats; nothing depends on it.
    return worker_count() - unparked_of(idle_state_.load(std::memory_order_relaxed));
  }

  // -- timers ----------------------------------------------------------------------

  /// The timers' resolution: deadlines are rounded up to whole ticks.
  static constexpr std::chrono::nanoseconds tick{std::chrono::milliseconds(1)};

  /// Time since the scheduler was made: the steady clock, or in
  /// deterministic mode the virtual clock that advance_time() moves.
  /// Thread-safe.
  std::chrono::nanoseconds now() const noexcept {
    if (config_.deterministic) {
      // relaxed: the virtual clock is moved and read by the test thread.
      return std::chrono::nanoseconds(virtual_now_.load(std::memory_order_relaxed));
    }
    return std::chrono::steady_clock::now() - epoch_;
  }
  /// The tick now() is in (rounded down).
  std::uint64_t current_tick() const noexcept {
    return static_cast<std::uint64_t>(now() / tick);
  }
  /// Arms `t` to expire `delay` from now (never earlier; rounded up to a
  /// whole tick), on the calling worker's wheel or, from any other thread,
  /// on one chosen as the top of the file says. Its expire() then runs on
  /// that worker. After
  /// stop() began, `t` is discarded at once. Thread-safe, never blocks;
  /// allocates only when a worker's timer mail grows.
  void add_timer(Timer* t, std::chrono::nanoseconds delay) noexcept;
  /// add_timer for a caller outside the workers that is about to make work
  /// runnable (send a request): a sleeping owner is not woken yet. True if
  /// the caller must call wake_timer_owner(t) once it has sent: the send's
  /// wake-up then usually serves the timer too (the owner is the sleeper
  /// the next wake-up takes), and a second one is then usually no system
  /// call.
  [[nodiscard]] bool add_timer_wake_later(Timer* t, std::chrono::nanoseconds delay) noexcept;
  /// Wakes the owner of `t` if it sleeps (after add_timer_wake_later).
  void wake_timer_owner(const Timer* t) noexcept;
  /// Unlinks a timer the caller has cancelled (its is_cancelled() is true
  /// from now on, and the caller won that change, once per timer). The
  /// caller passes one reference, which drop() gives back; the wheel's own
  /// is dropped when it unlinks the timer. Thread-safe, never blocks.
  void cancel_timer(Timer* t) noexcept;
  /// Deterministic mode: moves the virtual clock forward by `d` and expires
  /// the timers due, on the calling thread. Returns how many expired. Test
  /// thread only.
  std::size_t advance_time(std::chrono::nanoseconds d);
  /// Deterministic mode: timers armed and neither expired nor discarded.
  std::size_t pending_timers() const noexcept { return det_timers_.size(); }

  // -- statistics and tracing ------------------------------------------------------

  /// Every worker's counters now (deterministic mode: the test thread's,
  /// as worker 0). Thread-safe; allocates the result.
  std::vector<WorkerStats> worker_stats() const;
  /// Every registered guest runner's counters now (index: the order they
  /// registered in; name: theirs). Thread-safe; allocates the result.
  std::vector<WorkerStats> guest_stats() const;
  /// The workers' flight recorder (flight_recorder.hpp).
  FlightRecorder& recorder() noexcept { return recorder_; }
  const FlightRecorder& recorder() const noexcept { return recorder_; }
  /// Records that `cell` was made runnable, by the actor running here.
  /// While tracing only.
  void trace_scheduled(ActorCell* cell, ScheduledWhere where) noexcept;

  /// Index of the worker running the calling thread, or -1. Thread-safe.
  int current_worker_index() const noexcept {
    Worker* w = Worker::current();
    return (w != nullptr && &w->scheduler() == this) ? static_cast<int>(w->index()) : -1;
  }

  // -- used by Worker (internals) ------------------------------------------------

  moodycamel::ConcurrentQueue<ActorCell*>& global_queue() noexcept { return global_; }
  Worker& worker(unsigned i) noexcept { return *workers_[i]; }
  bool stopping() const noexcept {
    // acquire: pairs with the (seq_cst) store in stop(); a worker that sees the
    // flag exits, and nothing it reads afterwards depends on the stopper.
    return stopping_.load(std::memory_order_acquire);
  }

  /// Wakes one parked worker if none is searching. Thread-safe. Call after
  /// making work stealable (the fence inside orders that store first).
  void notify_one() noexcept;
  /// GuestRunner's (de)registration, for guest_stats(). Thread-safe.
  void add_guest(GuestRunner* g);
  void remove_guest(GuestRunner* g);

  bool try_begin_search() noexcept;
  /// Leaves searching; true if this was the last searcher.
  bool end_search() noexcept;
  /// Registers worker `index` as parked; true if it was the last searcher.
  bool before_park(unsigned index, bool searching);
  /// Takes parked worker `index` off the sleepers after its timed park ran
  /// out. False if a waker took it first (its unpark is on the way).
  bool cancel_park(unsigned index);
  /// True if any queue other than LIFO slots holds runnable work.
  bool has_pending_work() const noexcept;
  /// The monitor hands over a mailbox it took from a stalled worker: it
  /// goes to the global queue. Thread-safe.
  void requeue_stalled(ActorCell* cell) noexcept { schedule_external(cell); }
  /// The monitor thread (monitor.hpp), or null if none runs. Thread-safe.
  const Monitor* monitor() const noexcept { return monitor_.get(); }
  /// Every worker idle with nothing in its slot, held or on its run queue,
  /// and the global queue empty; and the workers' progress so far
  /// (Worker::progress: runs and wake-ups). Two quiet looks with the same
  /// `progress` mean no worker ran or woke in between. Thread-safe; stale
  /// at once.
  bool looks_quiet(std::uint64_t& progress) const noexcept;
  /// Deterministic mode: nothing is runnable. The test thread only.
  bool nothing_runnable() const noexcept { return ready_.empty(); }
  /// A worker left idle (Monitor::note_busy). Thread-safe.
  void note_busy() noexcept {
    if (monitor_ != nullptr) monitor_->note_busy();
  }


 private:
  void schedule_external(ActorCell* cell) noexcept;
  /// Posts an arm or a cancel to worker `owner`; if stop() has begun,
  /// discards that worker's timer mail itself (stop may have drained it).
  void post_timer_or_discard(unsigned owner, Timer* t, bool cancel, bool wake = true) noexcept;
  /// add_timer's and add_timer_wake_later's body; true if an outside arm
  /// was posted without waking its owner (`wake` false).
  bool arm_timer(Timer* t, std::chrono::nanoseconds delay, bool wake) noexcept;
  /// Whose wheel an outside thread's timer goes to: an awake idle worker
  /// (looking from the next in turn), else the sleeper notify_one would
  /// wake next, else (every worker busy) the next in turn.
  unsigned pick_timer_owner() noexcept;

  static constexpr std::uint32_t one_searching = 1;
  static constexpr std::uint32_t one_unparked = 1u << 16;
  static std::uint32_t searching_of(std::uint32_t s) noexcept { return s & 0xffff; }
  static std::uint32_t unparked_of(std::uint32_t s) noexcept { return s >> 16; }

  const SchedulerConfig config_;
  const std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  moodycamel::ConcurrentQueue<ActorCell*> global_;
  std::atomic<std::uint32_t> next_timer_owner_{0};  // outside threads' timers, in turn
  std::vector<std::unique_ptr<Worker>> workers_;

  // Written by every worker entering or leaving search/park: its own line.
  alignas(detail::cache_line_size) std::atomic<std::uint32_t> idle_state_{0};
  alignas(detail::cache_line_size) std::atomic<bool> stopping_{false};
  bool started_ = false;
  std::mutex idle_mu_;              // guards sleepers_ (slow path only)
  std::vector<unsigned> sleepers_;  // parked workers, LIFO (warmest cache first)

  FlightRecorder recorder_;
  std::unique_ptr<Monitor> monitor_;  // see start()

  mutable std::mutex guests_mu_;
  std::vector<GuestRunner*> guests_;  // guarded by guests_mu_

  // -- deterministic mode (test thread only) ---------------------------------------
  WorkerCounters det_counters_;
  std::vector<ActorCell*> ready_;
  std::mt19937_64 rng_;
  std::atomic<std::int64_t> virtual_now_{0};  // nanoseconds
  TimerWheel det_timers_;
};

}  // namespace shoal::detail
