// Statistics: what every worker counts (always on), what an instrumented
// actor records (opt-in), and the snapshot `ActorSystem::stats()` returns.
//
// Worker counters cost one plain add each on the worker's own cache lines:
// a counter has one writer, so it is a relaxed load and a relaxed store (no
// locked instruction), and readers on other threads see a value at most a
// few updates old. Per run the worker records the messages it handled in
// its batch-size histogram (whose count is the runs and sum the messages)
// and adds its system messages to a counter; idle time is measured only
// when a worker runs out of work (two clock reads per idle period), so a
// busy worker reads no clock for its counters.
//
// An instrumented actor (Props::with_stats, or SystemConfig::actor_stats for
// all) also records, in TSC ticks (detail/tsc.hpp):
//   - queue wait: enqueue → dequeue. The sender stamps the message (it knows
//     from the Pid's tag that the target is instrumented, without reading
//     the target) and counts it into `enqueued`;
//   - handler time: around each user message;
//   - mailbox depth: enqueued − dequeued, sampled before each dequeue, whose
//     maximum is the high-water mark (depth only grows between dequeues);
//   - the stamp of the oldest message still queued, for "oldest message age".
// These cost two clock reads and a shared counter per message: a profiling
// tool, not for every actor in production.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "shoal/histogram.hpp"

namespace shoal {

namespace detail {

/// A counter with one writer (at a time) and any number of readers. The
/// writer's add is a relaxed load and store: no locked instruction.
class Counter {
 public:
  /// Writer only (or writers ordered by happens-before). Wait-free.
  void add(std::uint64_t n = 1) noexcept {
    // relaxed (both): a statistic; nothing is published through it, and the
    // only writer reads its own last store.
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  /// Raises the value to `n` if it is lower. Writer only.
  void raise_to(std::uint64_t n) noexcept {
    // relaxed: as add().
    if (n > v_.load(std::memory_order_relaxed)) v_.store(n, std::memory_order_relaxed);
  }
  /// Sets the value. Writer only.
  void set(std::uint64_t n) noexcept {
    // relaxed: as add().
    v_.store(n, std::memory_order_relaxed);
  }
  /// Any thread; may lag the writer.
  std::uint64_t get() const noexcept {
    // relaxed: a reading for statistics, ordering nothing.
    return v_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace detail

/// Messages per mailbox run, counted on the worker's hot path with one
/// plain increment: below 64 every size has its own bucket, so the sum of
/// messages is exact without adding it up per run (runs of 64 or more add
/// theirs to a counter). Writer: the worker; snapshot(): any thread.
class BatchSizes {
 public:
  void record(std::uint32_t n) noexcept {
    std::atomic<std::uint64_t>& c = counts_[Histogram::bucket_of(n)];
    // relaxed: one writer; a statistic (see detail::Counter).
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (n >= exact_below) [[unlikely]]
      large_sum_.add(n);
  }
  /// Runs, messages (the sum), percentiles. Any thread; allocates.
  HistogramSnapshot snapshot() const;
  /// Runs recorded so far (every bucket's count). Any thread; may lag the
  /// writer; no allocation.
  std::uint64_t runs() const noexcept;

 private:
  static constexpr std::uint32_t exact_below = 64;
  static_assert(Histogram::bucket_of(exact_below - 1) == exact_below - 1);
  std::atomic<std::uint64_t> counts_[Histogram::bucket_count] = {};
  detail::Counter large_sum_;
};

// -- live counters -----------------------------------------------------------------

/// One worker's counters. Written by that worker only; read by snapshots.
struct WorkerCounters {
  /// User messages per run: its count is the runs, its sum the messages.
  BatchSizes batch_sizes;
  detail::Counter system_messages;  ///< system messages handled
  detail::Counter steals_tried;     ///< run queues of other workers looked into
  detail::Counter steals_won;       ///< ... that gave work (half their queue)
  detail::Counter parks;            ///< times the worker went to sleep
  detail::Counter wakeups;          ///< ... and was woken for work (not a timeout)
  detail::Counter held_reruns;      ///< held mailboxes run again without going idle
  /// Stalls in which the monitor took this worker's LIFO slot or held
  /// mailbox (Worker::give_up_stalled). Written by the monitor, its only writer.
  detail::Counter stalls_given_up;
  detail::Counter idle_ticks;    ///< time searching or asleep, finished periods
  detail::Counter idle_since;    ///< tick the current idle period began; 0 if busy
  std::uint64_t start_tick = 0;  ///< when the worker was made (set before any reader exists)
};

/// An instrumented actor's live statistics (see the file comment). The
/// receiver's fields are written by whichever worker runs the actor, one at
/// a time (ordered by the mailbox hand-over); `enqueued_` and `oldest_` by
/// senders too.
class ActorStats {
 public:
  // -- sender side (any thread) ---------------------------------------------------
  /// A message stamped `stamp` was pushed into the mailbox. Thread-safe.
  void note_enqueued(std::uint64_t stamp) noexcept {
    // relaxed: a count for statistics; the receiver's view of it may lag.
    enqueued_.fetch_add(1, std::memory_order_relaxed);
    // seq_cst: the push before this was a full barrier (an exchange); this
    // load and the receiver's seq_cst store of 0 followed by its look at the
    // queue form a store→load pair (see note_dequeued): either it sees our
    // message, or we see its 0 and publish our stamp.
    if (oldest_.load(std::memory_order_seq_cst) == 0) {
      std::uint64_t zero = 0;
      oldest_.compare_exchange_strong(zero, stamp, std::memory_order_seq_cst);
    }
  }

  // -- receiver side (the worker running the actor) ------------------------------
  /// Before a user message is taken: samples the depth. Receiver only.
  void note_dequeue() noexcept {
    // relaxed: a count for statistics (see note_enqueued).
    const std::uint64_t in = enqueued_.load(std::memory_order_relaxed);
    const std::uint64_t out = dequeued_.get();
    depth_hwm_.raise_to(in > out ? in - out : 0);
    dequeued_.add();
  }
  /// After a message was taken: `next_stamp` is the next queued message's
  /// stamp, or 0 if none is visible; `peek` looks again. Receiver only.
  template <class Peek>
  void note_oldest(std::uint64_t next_stamp, Peek&& peek) noexcept {
    if (next_stamp != 0) {
      // relaxed: a sender only writes over 0, which this is not.
      oldest_.store(next_stamp, std::memory_order_relaxed);
      return;
    }
    oldest_.store(0, std::memory_order_seq_cst);  // store→load: see note_enqueued
    if (std::uint64_t s = peek(); s != 0) {
      std::uint64_t zero = 0;
      oldest_.compare_exchange_strong(zero, s, std::memory_order_seq_cst);
    }
  }

  Histogram queue_wait;  ///< ticks from enqueue to dequeue
  Histogram handler;     ///< ticks per user message handled

  // -- readers ---------------------------------------------------------------------
  std::uint64_t dequeued() const noexcept { return dequeued_.get(); }
  std::uint64_t enqueued() const noexcept {
    // relaxed: a reading for statistics.
    return enqueued_.load(std::memory_order_relaxed);
  }
  std::uint64_t depth_high_water() const noexcept { return depth_hwm_.get(); }
  /// Stamp of the oldest queued message, 0 if none. Any thread.
  std::uint64_t oldest_stamp() const noexcept {
    // relaxed: a reading for statistics.
    return oldest_.load(std::memory_order_relaxed);
  }

 private:
  detail::Counter dequeued_;
  detail::Counter depth_hwm_;
  // Senders write these two: their own line, away from the receiver's.
  alignas(64) std::atomic<std::uint64_t> enqueued_{0};
  std::atomic<std::uint64_t> oldest_{0};
};

// -- snapshots -------------------------------------------------------------------------

/// One worker, as stats() saw it. Times in nanoseconds.
struct WorkerStats {
  unsigned index = 0;
  std::string name;  ///< guests only (GuestRunner's name, e.g. "io 0")
  std::uint64_t messages = 0;
  std::uint64_t system_messages = 0;
  std::uint64_t runs = 0;
  std::uint64_t steals_tried = 0;
  std::uint64_t steals_won = 0;
  std::uint64_t parks = 0;
  std::uint64_t wakeups = 0;
  /// Runs of a mailbox the worker held after its previous run (mail came
  /// before it had to go idle: no idle/wake round trip). See worker.cpp.
  std::uint64_t held_reruns = 0;
  /// Times the worker, inside one run longer than SchedulerConfig::
  /// stall_after, had its LIFO slot or held mailbox taken for the others.
  std::uint64_t stalls_given_up = 0;
  double busy_ns = 0;
  double idle_ns = 0;
  HistogramSnapshot batch_sizes;
};

/// One instrumented actor. Times in nanoseconds.
struct ActorStatsSnapshot {
  std::uint64_t id = 0;
  std::string name;  ///< registered name, or ""
  std::uint64_t messages = 0;
  std::uint64_t depth = 0;  ///< queued now (enqueued − dequeued)
  std::uint64_t depth_high_water = 0;
  double oldest_message_age_ns = 0;  ///< of the oldest message queued now; 0 if none
  HistogramSummary queue_wait_ns;
  HistogramSummary handler_ns;
};

/// What ActorSystem::stats() returns: a copy, safe to keep and render.
struct SystemStats {
  double uptime_ns = 0;
  std::vector<WorkerStats> workers;
  /// Threads that are not workers and ran mailboxes while every worker slept
  /// (guest_runner.hpp: a node's io threads). busy_ns/idle_ns are not measured.
  std::vector<WorkerStats> guests;
  std::vector<ActorStatsSnapshot> actors;  ///< instrumented live actors, by id
  std::uint64_t dead_letters = 0;

  /// Sum over the workers and the guests.
  std::uint64_t messages() const noexcept;
  /// Every worker's and guest's batch sizes merged.
  HistogramSnapshot batch_sizes() const;
  /// A table for people (one row per worker, then one per actor).
  std::string to_text() const;
  /// The same as JSON (an object: uptime_ns, workers[], actors[], ...).
  std::string to_json() const;
};

}  // namespace shoal
