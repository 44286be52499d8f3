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
// Deterministic mode: no threads. Runnable mailboxes go to one ready list and
// the test thread runs them one at a time with run_one(); which one runs next
// is drawn from a seeded generator, so a seed reproduces an interleaving.
#pragma once

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "core/detail/config.hpp"
#include "core/worker.hpp"

namespace shoal {

class ActorCell;

struct SchedulerConfig {
  /// Worker threads; 0 = one per hardware thread.
  unsigned workers = 0;
  /// How long an idle worker spins (looking for work) before it parks.
  /// Waking a parked thread costs ~11–38 µs here (DESIGN.md), so spinning
  /// somewhat longer than that keeps bursty hand-offs off the futex.
  std::chrono::nanoseconds spin_before_park{std::chrono::microseconds(50)};
  /// Pin worker i to CPU i (mod the CPUs this process may use).
  bool pin_workers = false;
  /// Run no threads; the caller drives with run_one()/run_until_idle().
  bool deterministic = false;
  /// Seed of the deterministic mode's choices.
  std::uint64_t seed = 0;
};

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
    } else {
      schedule_external(cell);
    }
  }

  /// Re-queues a mailbox that used up its batch, behind the other runnable
  /// ones. Called at the end of the mailbox's run, on the thread that ran it.
  void reschedule(ActorCell* cell) noexcept;

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

  /// Index of the worker running the calling thread, or -1. Thread-safe.
  int current_worker_index() const noexcept {
    Worker* w = Worker::current();
    return (w != nullptr && &w->scheduler() == this) ? static_cast<int>(w->index()) : -1;
  }

  // -- used by Worker (internals) ------------------------------------------------

  moodycamel::ConcurrentQueue<ActorCell*>& global_queue() noexcept { return global_; }
  Worker& worker(unsigned i) noexcept { return *workers_[i]; }
  bool stopping() const noexcept {
    // acquire: pairs with the release store in stop(); a worker that sees the
    // flag exits, and nothing it reads afterwards depends on the stopper.
    return stopping_.load(std::memory_order_acquire);
  }

  /// Wakes one parked worker if none is searching. Thread-safe. Call after
  /// making work stealable (the fence inside orders that store first).
  void notify_one() noexcept;
  bool try_begin_search() noexcept;
  /// Leaves searching; true if this was the last searcher.
  bool end_search() noexcept;
  /// Registers worker `index` as parked; true if it was the last searcher.
  bool before_park(unsigned index, bool searching);
  /// True if any queue other than LIFO slots holds runnable work.
  bool has_pending_work() const noexcept;

 private:
  void schedule_external(ActorCell* cell) noexcept;

  static constexpr std::uint32_t one_searching = 1;
  static constexpr std::uint32_t one_unparked = 1u << 16;
  static std::uint32_t searching_of(std::uint32_t s) noexcept { return s & 0xffff; }
  static std::uint32_t unparked_of(std::uint32_t s) noexcept { return s >> 16; }

  const SchedulerConfig config_;
  moodycamel::ConcurrentQueue<ActorCell*> global_;
  std::vector<std::unique_ptr<Worker>> workers_;

  // Written by every worker entering or leaving search/park: its own line.
  alignas(detail::cache_line_size) std::atomic<std::uint32_t> idle_state_{0};
  alignas(detail::cache_line_size) std::atomic<bool> stopping_{false};
  bool started_ = false;
  std::mutex idle_mu_;              // guards sleepers_ (slow path only)
  std::vector<unsigned> sleepers_;  // parked workers, LIFO (warmest cache first)

  // -- deterministic mode (test thread only) ---------------------------------------
  std::vector<ActorCell*> ready_;
  std::mt19937_64 rng_;
};

}  // namespace shoal
