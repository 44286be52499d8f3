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
// Giving up a stalled worker's cells. The LIFO slot and the held mailbox
// are the owner's: it reads and writes them with plain loads and stores (an
// atomic exchange there would cost two locked instructions per hop of every
// ping-pong). But a worker inside one long run must not keep them: the actor
// its handler woke would wait for that handler. So the scheduler's monitor
// (monitor.hpp), seeing a worker in one run for longer than
// SchedulerConfig::stall_after, takes them (give_up_stalled) for the other
// workers. The owner's every take of the slot or the held cell is
//     old = load; store(new); light_fence; if (stall_flag_) reconcile(old)
// and the monitor's is
//     stall_flag_ = true; process_fence(); compare-exchange(old → null)
// so either the owner's store is visible to the monitor's exchange (which
// then fails or takes what the owner left), or the owner's look at the
// flag comes after the fence, sees it, and learns under stall_mu_ whether
// `old` was taken (taken_): no cell is run twice. The flag stays set until
// the owner has looked; its cost on the fast path is one plain load.
//
// The timer wheel is the owner's too, and the monitor expires the due
// timers of a stalled worker (expire_for_stalled) with the same pair: the
// owner marks each use of its wheel (WheelUse: in_wheel_ = true;
// light_fence; if wheel_flag_, wait for wheel_mu_), the monitor sets
// wheel_flag_, fences, and uses the wheel only if in_wheel_ is false.
#pragma once

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/detail/parker.hpp"
#include "core/detail/process_fence.hpp"
#include "core/flight_recorder.hpp"
#include "core/run_queue.hpp"
#include "shoal/detail/config.hpp"
#include "shoal/detail/long_run.hpp"
#include "shoal/detail/timer_wheel.hpp"
#include "shoal/stats.hpp"

namespace shoal::detail {

class ActorCell;
struct RunStats;
class Scheduler;
class Worker;

/// The worker whose timers the monitor expires on this thread just now
/// (Worker::expire_for_stalled): Scheduler::add_timer re-arms into it.
SHOAL_TLS_INITIAL_EXEC inline thread_local Worker* expiring_wheel = nullptr;

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
  /// This worker's timers, with no guard: the scheduler after joining.
  TimerWheel& timers() noexcept { return timers_; }
  /// Links a timer in this worker's wheel: on the owner thread, or on the
  /// monitor's while it expires this worker's timers (expiring_wheel).
  void insert_timer(Timer* t) noexcept;
  /// Unlinks `t` if linked here; true if it was. Owner thread only.
  bool remove_timer(Timer* t) noexcept;
  /// Hands this worker a timer to link (`cancel` false) or a cancelled
  /// timer to unlink and drop (`cancel` true), from another thread. An arm
  /// wakes the worker if it is parked (it must re-time its sleep), unless
  /// `wake` is false: then the caller must call wake_if_parked() soon. A
  /// cancel wakes it only once cancels_before_wake wait (see there).
  /// Thread-safe.
  void post_timer(Timer* t, bool cancel, bool wake = true) noexcept;
  /// Cancels queued for a sleeping worker before one wakes it (post_timer).
  static constexpr std::size_t cancels_before_wake = 64;
  /// Wakes the worker if it is parked, after a post_timer without a
  /// wake-up. Usually no system call if it was woken already (its wake-up
  /// token is still set). Thread-safe.
  void wake_if_parked() noexcept {
    // Store→load against park(), as in post_timer (the post's seq_cst
    // store of the mail flag came before this).
    if (parked_.load(std::memory_order_seq_cst)) parker_.unpark();
  }
  /// True if the worker looks asleep. Thread-safe; a hint, stale at once.
  bool looks_parked() const noexcept {
    // relaxed: a hint for choosing a timer's owner; whoever posts to it
    // wakes it with the seq_cst look in post_timer or wake_if_parked.
    return parked_.load(std::memory_order_relaxed);
  }
  /// After the thread is joined: discards the posted timers (arms are
  /// discarded, cancels dropped). Thread-safe against late posters.
  void discard_timer_mail() noexcept;
  std::thread& thread() noexcept { return thread_; }

  // -- watched by the monitor (monitor.hpp) ------------------------------------
  /// Runs this worker has finished (its batch-size histogram's count, so
  /// nothing extra on the run path): unchanged while it is inside one run.
  /// Thread-safe; stale at once; reads every bucket (for the monitor).
  std::uint64_t runs() const noexcept { return counters_.batch_sizes.runs(); }
  /// Moves whenever a run ends, the worker leaves idle, its thread starts
  /// or it drops a long-run flag no handler took: equal at two looks that found it busy, it was
  /// inside one run (or the short step between two) all along, never idle in between. runs() alone
  /// cannot tell: a worker can go idle and come back between two looks without finishing a run.
  /// Thread-safe; stale at once.
  std::uint64_t progress() const noexcept {
    // relaxed: the owner's own count; a stale value makes the monitor's
    // look (and the checks against it below) conservative, never wrong.
    return runs() + woke_.load(std::memory_order_relaxed);
  }
  /// True while the worker looks for work or sleeps. Thread-safe; stale.
  bool is_idle() const noexcept { return counters_.idle_since.get() != 0; }
  /// True if the LIFO slot or the held mailbox has a cell now (what
  /// give_up_stalled would take). Thread-safe; stale at once.
  bool has_local_cells() const noexcept {
    // relaxed: a hint; give_up_stalled decides under its fence.
    return lifo_slot_.load(std::memory_order_relaxed) != nullptr ||
           held_.load(std::memory_order_relaxed) != nullptr;
  }
  /// False if the worker had no timers at its last use of its wheel and
  /// none are posted to it: expire_for_stalled (and its fence) can wait.
  /// Thread-safe; a hint, stale by one use of the wheel.
  bool may_have_timers() const noexcept {
    // relaxed (both): hints; the monitor looks again a tick later.
    return has_timers_.load(std::memory_order_relaxed) ||
           has_timer_mail_.load(std::memory_order_relaxed);
  }
  /// What give_up_stalled took: the LIFO slot's mailbox (scheduled: run it)
  /// and the held one (owned, drained when held: settle it).
  struct Given {
    ActorCell* slot = nullptr;
    ActorCell* held = nullptr;
  };
  /// Expires this worker's due timers (and links its posted ones) on the
  /// calling thread if the worker is still inside the run it was in at
  /// `progress` (progress()) and not using its wheel: what a timer's
  /// expiry re-arms goes back into this wheel. Returns how many fired. The
  /// monitor only; a process_fence per call; takes wheel_mu_.
  std::size_t expire_for_stalled(std::uint64_t progress) noexcept;
  /// Takes the LIFO slot's and the held mailbox from this worker if it is
  /// still inside the run it was in at `progress` (see the top of the
  /// file). The caller owns what it gets. Any thread but the owner; a
  /// process_fence (µs) the first time per stall; takes stall_mu_.
  Given give_up_stalled(std::uint64_t progress) noexcept;
  /// Tells the handler running now that its run (the one it was in at
  /// `progress`) has lasted from `since` (scheduler time) past
  /// SchedulerConfig::long_handler: it reports itself when it returns
  /// (detail/long_run.hpp). The monitor only, once a run.
  void flag_long_run(std::chrono::nanoseconds since, std::uint64_t progress) noexcept {
    // relaxed (both): published by the release store below.
    long_run_.since_ns.store(since.count(), std::memory_order_relaxed);
    long_run_.progress.store(progress, std::memory_order_relaxed);
    // release: pairs with the acquire exchange of the reporting thread.
    long_run_.raised.store(true, std::memory_order_release);
  }

 private:
  ActorCell* next_local();
  ActorCell* pop_global();
  ActorCell* steal();
  ActorCell* search();
  /// Takes foreign timers from the inbox and expires the due ones (whose
  /// sends schedule onto this worker). True if any expired.
  bool poll_timers();
  /// Lowers the long-run flag if the monitor raised it while no handler
  /// ran (detail/long_run.hpp): after firing timers, and on leaving idle.
  void drop_long_run_flag() noexcept;
  /// The thread started, left idle or dropped a flag: moves progress().
  void note_woke() noexcept;
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
                             bool may_hold, detail::LongRunWatch& watch) noexcept;
  /// After a run of `cell` (which it `held`, or not): settles the cell held
  /// before, and holds this one if something runs next here.
  void after_run(ActorCell* cell, bool held) noexcept;
  /// Runs the held cell next if mail looks pending, else releases it.
  void settle_held() noexcept;
  /// The owner's look after a take of the slot or the held cell: `mine`,
  /// or null if the monitor took it. Clears the flag.
  inline ActorCell* after_take(ActorCell* mine) noexcept;
  [[gnu::cold]] ActorCell* reconcile(ActorCell* mine) noexcept;
  /// The owner's use of its wheel, against the monitor's (see the top).
  /// Nests: only the outermost use marks.
  class WheelUse {
   public:
    explicit WheelUse(Worker& w) noexcept;
    ~WheelUse();
    WheelUse(const WheelUse&) = delete;
    WheelUse& operator=(const WheelUse&) = delete;

   private:
    Worker& w_;
    bool outer_;
    bool locked_ = false;
  };

  SHOAL_TLS_INITIAL_EXEC static inline thread_local Worker* current_ = nullptr;

  // -- set at construction, read by anyone -----------------------------------
  Scheduler& sched_;
  const unsigned index_;

  // -- owner thread writes; the monitor reads (and takes: see the top) -----------
  std::atomic<ActorCell*> lifo_slot_{nullptr};
  // A cell whose last run drained its mailbox, kept owned for one more run
  // (after_run): in no queue, so no other worker can run it meanwhile.
  std::atomic<ActorCell*> held_{nullptr};
  std::atomic<bool> in_wheel_{false};  // the owner is using its wheel (WheelUse)
  std::atomic<bool> has_timers_{false};  // its wheel was not empty after the last use

  // -- owner thread only ------------------------------------------------------
  std::uint32_t lifo_streak_ = 0;
  std::uint32_t wheel_depth_ = 0;       // WheelUse nesting
  std::uint32_t global_countdown_ = 1;  // ticks until the global queue goes first
  std::uint64_t rng_;
  bool searching_ = false;
  moodycamel::ConsumerToken global_consumer_;
  moodycamel::ProducerToken global_producer_;
  TimerWheel timers_;
  detail::WorkerTrace* trace_ = nullptr;  // while recording (also in active_trace)
  WorkerCounters counters_;  // written here only; read by stats()
  // Times the thread started, left idle or dropped an untaken long-run
  // flag (progress()): written here only.
  std::atomic<std::uint64_t> woke_{0};

  // -- shared: thieves and wakers -------------------------------------------------
  RunQueue<ActorCell> queue_;
  // Written by the monitor when it takes (rare); read by the owner at every
  // take of the slot or the held cell: a line of its own, read-shared.
  alignas(detail::cache_line_size) std::atomic<bool> stall_flag_{false};
  detail::LongRunWatch long_run_;        // the same: raised rarely, read per message
  std::atomic<bool> wheel_flag_{false};  // the monitor wants the wheel (see the top)
  std::mutex stall_mu_;                  // the monitor's takes; the owner's reconcile
  std::vector<ActorCell*> taken_;        // under stall_mu_: taken since the owner looked
  // The monitor's use of the wheel, and the owner's while wheel_flag_ is
  // set. Never held with stall_mu_ by the monitor; the owner may take
  // stall_mu_ under it (a timer's send reconciles the slot).
  std::mutex wheel_mu_;
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

inline ActorCell* Worker::after_take(ActorCell* mine) noexcept {
  // The store of the take before this load (the cheap side of the fence).
  detail::light_fence();
  // relaxed: the monitor's process_fence orders its store before every
  // load of ours after the fence; stall_mu_ orders the rest (reconcile).
  if (stall_flag_.load(std::memory_order_relaxed)) [[unlikely]]
    return reconcile(mine);
  return mine;
}

inline void Worker::schedule_local(ActorCell* cell) noexcept {
  // relaxed load: only this thread stores a cell here. release store: pairs
  // with the monitor's acquire exchange (the cell's state goes with it).
  ActorCell* prev = lifo_slot_.load(std::memory_order_relaxed);
  lifo_slot_.store(cell, std::memory_order_release);
  prev = after_take(prev);
  if (prev != nullptr) push_local(prev);
}

}  // namespace shoal::detail
