// Worker: one scheduler thread, its LIFO slot and its stealable run queue
// (a Chase-Lev deque: the owner takes the newest, thieves the oldest).
//
// Where a runnable mailbox goes (DESIGN.md, "the data path of one local
// message", step 3):
//   - scheduled by a send on this worker → the LIFO slot (runs next: this is
//     what keeps a ping-pong pair on one core); the previous slot holder goes
//     on top of the run queue (it runs next after the slot, newest first),
//     where idle workers can steal it;
//   - re-scheduled after using its batch → the global queue, behind
//     everything runnable (fairness: "at the back");
//   - moved out of the slot after `max_lifo_streak` runs in a row while
//     others wait → on top of the run queue, and the oldest entry runs now;
//   - run queue full → its older half spills to the global queue.
// What a worker runs next: every `global_interval` ticks the global queue
// first, else the oldest entry of its run queue (so neither is starved by
// a stream of new work), then the LIFO slot, then its run queue (newest
// first), then the global queue, then it steals (the oldest half of a
// victim's run queue).
//
// The LIFO slot is owner-only (a plain pointer): stealing it would cost two
// locked instructions per hop of every ping-pong. The price: a mailbox in the
// slot waits for the handler that scheduled it to return, even if another
// worker is idle. TODO(perf): measure a stealable slot once the trace exists.
#pragma once

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "core/detail/config.hpp"
#include "core/detail/parker.hpp"
#include "core/flight_recorder.hpp"
#include "core/run_queue.hpp"
#include "core/stats.hpp"
#include "core/timer_wheel.hpp"

namespace shoal {

class ActorCell;
struct RunStats;
class Scheduler;

class Worker {
 public:
  Worker(Scheduler& sched, unsigned index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index() const noexcept { return index_; }
  Scheduler& scheduler() const noexcept { return sched_; }

  /// The worker running on this thread, or null. Thread-safe.
  static Worker* current() noexcept { return current_; }

  /// Makes `cell` run next on this worker (LIFO slot). Owner thread only.
  inline void schedule_local(ActorCell* cell) noexcept;
  /// Queues `cell` on this worker's run queue (it runs before the older
  /// entries; thieves take those first). Owner only.
  void push_local(ActorCell* cell) noexcept;
  /// Queues `cell` behind every runnable mailbox (the global queue): for a
  /// mailbox that had its turn. Owner only.
  void push_back(ActorCell* cell) noexcept;

  /// Thread body: runs mailboxes until the scheduler stops.
  void run();

  /// Runs one mailbox, counting it into `counters` and recording it into
  /// `trace` if not null. On the thread that owns both.
  static void run_mailbox(ActorCell* cell, WorkerCounters& counters,
                          detail::WorkerTrace* trace) noexcept;

  /// This worker's counters: written by it, read by anyone (stats.hpp).
  const WorkerCounters& counters() const noexcept { return counters_; }

  // Read by other workers when stealing and by the idle protocol.
  RunQueue<ActorCell>& queue() noexcept { return queue_; }
  const RunQueue<ActorCell>& queue() const noexcept { return queue_; }
  detail::Parker& parker() noexcept { return parker_; }
  /// This worker's timers. Owner thread only (the scheduler after joining).
  TimerWheel& timers() noexcept { return timers_; }
  /// Hands this worker a timer to link (`cancel` false) or a cancelled
  /// timer to unlink and drop (`cancel` true), from another thread; wakes
  /// the worker if it is parked (it must re-time its sleep). Thread-safe.
  void post_timer(Timer* t, bool cancel) noexcept;
  /// After the thread is joined: discards the posted timers (arms are
  /// discarded, cancels dropped). Thread-safe against late posters.
  void discard_timer_mail() noexcept;
  std::thread& thread() noexcept { return thread_; }

 private:
  ActorCell* next_local();
  ActorCell* pop_global();
  ActorCell* steal();
  ActorCell* search();
  /// Takes foreign timers from the inbox and expires the due ones (whose
  /// sends schedule onto this worker). True if any expired.
  bool poll_timers();
  /// Links or unlinks what other threads posted (post_timer).
  void take_timer_mail();
  /// Searches, then parks, until work turns up (returned) or the scheduler
  /// stops (null); counts the time as idle.
  ActorCell* idle();
  void park();
  void spill(ActorCell* extra) noexcept;
  /// Appends `n` cells to the global queue as this worker's producer;
  /// aborts with a message if the queue cannot grow (out of memory).
  void enqueue_global(ActorCell* const* cells, std::size_t n) noexcept;
  /// Starts or stops recording on this thread, as the recorder says.
  void refresh_trace() noexcept;
  static RunStats run_traced(ActorCell* cell, WorkerCounters& counters, detail::WorkerTrace& trace,
                             bool may_hold) noexcept;
  /// After a run of `cell` (which it `held`, or not): settles the cell held
  /// before, and holds this one if something runs next here.
  void after_run(ActorCell* cell, bool held) noexcept;
  /// Runs the held cell next if mail looks pending, else releases it.
  void settle_held() noexcept;

  static inline thread_local Worker* current_ = nullptr;

  // -- set at construction, read by anyone -----------------------------------
  Scheduler& sched_;
  const unsigned index_;

  // -- owner thread only ------------------------------------------------------
  ActorCell* lifo_slot_ = nullptr;
  std::uint32_t lifo_streak_ = 0;
  // A cell whose last run drained its mailbox, kept owned for one more run
  // (after_run): in no queue, so nobody else can run it meanwhile.
  ActorCell* held_ = nullptr;
  std::uint32_t global_countdown_ = 1;  // ticks until the global queue goes first
  std::uint64_t rng_;
  bool searching_ = false;
  moodycamel::ConsumerToken global_consumer_;
  moodycamel::ProducerToken global_producer_;
  TimerWheel timers_;
  detail::WorkerTrace* trace_ = nullptr;  // while recording (also in active_trace)
  WorkerCounters counters_;  // written here only; read by stats()

  // -- shared: thieves and wakers -------------------------------------------------
  RunQueue<ActorCell> queue_;
  alignas(detail::cache_line_size) detail::Parker parker_;
  // Timers posted by other threads: Timer* with the low bit set for a cancel.
  // Rare (arming off the workers, cancelling across workers): a
  // moodycamel queue, since a timer may be in it twice (arm and cancel).
  moodycamel::ConcurrentQueue<std::uintptr_t> timer_mail_;
  alignas(detail::cache_line_size) std::atomic<bool> has_timer_mail_{false};
  std::atomic<bool> parked_{false};  // about to sleep or asleep (post_timer wakes it)
  std::thread thread_;
};

// -- inline fast path ----------------------------------------------------------

inline void Worker::schedule_local(ActorCell* cell) noexcept {
  ActorCell* prev = lifo_slot_;
  lifo_slot_ = cell;
  if (prev != nullptr) push_local(prev);
}

}  // namespace shoal
