// The flight recorder: per-worker rings of fixed-size events, always
// compiled, switched on and off at run time (ActorSystem::start_trace /
// stop_trace), read at any moment without stopping the workers.
//
// What a worker records (TraceKind): each mailbox run (actor, begin, length,
// messages), steals, parks, the two ends of every message sent between
// actors on workers (flows), so a trace viewer draws an arrow from the
// sending run to the receiving one, and the mailboxes made runnable other
// than by such a message (from outside a run: a timer, the global queue),
// with who did it. A mailbox a traced send made runnable needs no event of
// its own: the message's arrow starts in the run that sent it. A guest (a
// node's io thread, guest_runner.hpp) records in a lane of its own: the
// runs it hosts, each batch frame it delivers (remote_in, the source of
// its messages' flows) and what it writes to each peer (remote_out).
//
// Cost while recording, per mailbox run: two TSC reads and one 48-byte
// event; per send, one counter increment (a run's sends take consecutive
// flow ids, so the run event names the first and the count; no event per
// send). Off, a worker pays one thread-local load per send and per
// schedule.
//
// Flow ids (the `mark` of a user message, envelope.hpp):
//   0                            none (sent from outside a worker, or not traced)
//   seq << 9 | worker << 1       the sending worker's seq-th traced send
//   tick << 9 | worker << 1 | 1  a stamp for an instrumented receiver (stats.hpp),
//                                tick = TSC at the send − tick_epoch; it is
//                                its flow id too
// `worker` is the sender's index modulo 256.
//
// The ring (one writer, any readers, never blocks either): the writer claims
// slot n (claimed_ = n + 1), fences, writes the event's words, then
// publishes (published_ = n + 1). A reader copies the published events,
// fences, and re-reads claimed_: an event the writer may have started to
// overwrite meanwhile (index < claimed − capacity) is dropped, never
// returned torn. Every word is an atomic, so there is no data race.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shoal/detail/active_trace.hpp"
#include "shoal/detail/tsc.hpp"
#include "shoal/trace.hpp"

namespace shoal::detail {

/// One worker's ring. push: owner only; read: any thread. Never blocks.
class TraceRing {
 public:
  /// `capacity` is rounded up to a power of two. Allocates.
  explicit TraceRing(std::size_t capacity);

  /// Appends `e`, overwriting the oldest event once full. Owner only,
  /// wait-free, no allocation.
  void push(const TraceEvent& e) noexcept {
    const std::uint64_t n = published_.load(std::memory_order_relaxed);  // own store
    // relaxed + release fence: a reader that sees any word written below
    // (its acquire fence pairs with this fence) also sees the claim.
    claimed_.store(n + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    Slot& s = slots_[n & mask_];
    // relaxed: published by the release store of published_ below.
    s.w[0].store(e.ts, std::memory_order_relaxed);
    s.w[1].store(std::uint64_t{e.dur} | std::uint64_t{static_cast<std::uint8_t>(e.kind)} << 32 |
                     std::uint64_t{e.x & 0xffffff} << 40,
                 std::memory_order_relaxed);
    s.w[2].store(e.a, std::memory_order_relaxed);
    s.w[3].store(e.b, std::memory_order_relaxed);
    s.w[4].store(e.c, std::memory_order_relaxed);
    s.w[5].store(e.d, std::memory_order_relaxed);
    // release: pairs with the acquire load in read().
    published_.store(n + 1, std::memory_order_release);
  }

  /// The events still in the ring, oldest first, none torn. Any thread;
  /// allocates the result; never blocks the writer.
  std::vector<TraceEvent> read() const;
  /// Events ever pushed. Any thread.
  std::uint64_t pushed() const noexcept {
    // relaxed: a count for statistics.
    return published_.load(std::memory_order_relaxed);
  }
  std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  struct Slot {
    std::atomic<std::uint64_t> w[6];
  };
  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_;
  alignas(64) std::atomic<std::uint64_t> claimed_{0};
  std::atomic<std::uint64_t> published_{0};
};

/// A worker's recording state while tracing. Owner thread only.
struct WorkerTrace {
  WorkerTrace(unsigned worker, std::size_t capacity, std::atomic<std::uint32_t>* naming_epoch)
      : ring(capacity), worker(worker & 0xff), naming_epoch(naming_epoch) {}

  TraceRing ring;
  const std::uint64_t worker;
  /// The recorder's naming epoch (FlightRecorder: "naming actors").
  std::atomic<std::uint32_t>* const naming_epoch;
  /// pushed() at which this lane next moves the naming epoch on.
  std::uint64_t renaming_at = 0;
  std::uint64_t flow_seq = 0;  ///< traced sends so far
  std::uint64_t actor = 0;     ///< the actor running now (0 between runs)
  /// When the current run began (or a remote frame's delivery: remote_in);
  /// 0 outside both. What is made runnable inside one needs no `scheduled`
  /// event: the message's flow says who did it.
  std::uint64_t run_ts = 0;

  /// The next consecutive flow id of this worker.
  std::uint64_t next_flow() noexcept { return ++flow_seq << 9 | worker << 1; }
  /// A stamp for an instrumented receiver (also its flow id).
  std::uint64_t stamp(std::uint64_t tick) const noexcept;
  /// When the events of the current run happen (a run's begin, else now).
  std::uint64_t now() const noexcept { return run_ts != 0 ? run_ts : ticks(); }

  /// The naming epoch now: an actor whose last actor_type event is from
  /// another one is named again at its next run.
  std::uint32_t epoch() const noexcept {
    // relaxed: the epoch only decides whether a (redundant) name event is
    // written; nothing is published through it.
    return naming_epoch->load(std::memory_order_relaxed);
  }
  /// After a push: once this lane has written half a ring since it last did
  /// so, a new epoch begins, so that every actor still running is named
  /// again before its old name event can be overwritten.
  void after_push() noexcept {
    if (ring.pushed() < renaming_at) [[likely]]
      return;
    renaming_at = ring.pushed() + ring.capacity() / 2;
    naming_epoch->fetch_add(1, std::memory_order_relaxed);  // relaxed: see epoch()
  }
};

/// The worker field of a stamp made off the workers.
inline constexpr std::uint64_t no_worker = 0xff;
/// A send stamp taken at `tick` by `worker` (see the flow ids above). The
/// tick is counted from the process's tick_epoch, so 55 bits last 139 days
/// of a 3 GHz TSC.
inline std::uint64_t make_stamp(std::uint64_t tick, std::uint64_t worker) noexcept {
  return (tick - tick_epoch) << 9 | (worker & 0xff) << 1 | 1;
}
/// The tick a stamp was taken at.
inline std::uint64_t tick_of_stamp(std::uint64_t mark) noexcept { return (mark >> 9) + tick_epoch; }
inline bool is_stamp(std::uint64_t mark) noexcept { return (mark & 1) != 0; }

inline std::uint64_t WorkerTrace::stamp(std::uint64_t tick) const noexcept {
  return make_stamp(tick, worker);
}

/// The per-lane rings of one scheduler, and the switch. Owned by the
/// Scheduler; rings are made on the first start() and kept until the
/// scheduler goes (a worker may still be writing just after stop()).
///
/// Naming actors: a run event names its actor by id. So that a trace can
/// show the actor's type without a table of every live actor, the first run
/// of an actor in each naming epoch is preceded by an actor_type event. An
/// epoch begins at every start() and whenever some lane has written half its
/// ring since the last one: an actor that keeps running is named again
/// before its name can be overwritten. An actor that ran only in a part of
/// a ring whose name event was overwritten (it stopped running, another
/// lane wrapped) stays unnamed ("#id"). Cost: one event per actor per epoch.
///
/// Lanes: 0 … workers − 1 are the workers (or the test thread in
/// deterministic mode); after them come up to max_guest_lanes lanes for
/// guests (guest_runner.hpp: a node's io thread running actors while the
/// workers sleep), each claimed by one guest at a time.
class FlightRecorder {
 public:
  /// Lanes a scheduler keeps for guests; a guest registered while all are
  /// taken is not recorded (its runs still count in its statistics).
  static constexpr unsigned max_guest_lanes = 16;
  /// What claim_guest_lane() returns when every guest lane is taken.
  static constexpr unsigned no_lane = ~0u;

  /// `workers` threads record, each into a ring of `capacity` events.
  FlightRecorder(unsigned workers, std::size_t capacity);
  ~FlightRecorder();
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  /// Starts recording (workers notice within one scheduling round). Events
  /// older than this are not read out. Thread-safe; allocates the rings
  /// the first time.
  void start();
  /// Stops recording. Thread-safe.
  void stop() noexcept;
  bool recording() const noexcept {
    // acquire: pairs with the release store in start(); the rings are made.
    return on_.load(std::memory_order_acquire);
  }
  /// The ring of lane `i` if recording (and the lane has one), else null.
  /// For the lane's recording thread.
  detail::WorkerTrace* trace_for(unsigned i) noexcept {
    // acquire: pairs with the release store that published the ring
    // (start() or claim_guest_lane()).
    return recording() ? traces_[i].load(std::memory_order_acquire) : nullptr;
  }
  /// Gives a guest named `name` a lane of its own (the lowest free one),
  /// or no_lane. Thread-safe; allocates the lane's ring if recording ever
  /// started.
  unsigned claim_guest_lane(std::string name);
  /// Frees a lane claim_guest_lane() gave. Its events stay readable, under
  /// the name of its last guest. Thread-safe.
  void release_guest_lane(unsigned lane) noexcept;

  /// Every lane's events since the last start(), oldest first: the
  /// workers', then the guest lanes ever claimed (as many as
  /// guest_names() at the same moment; read() takes both under one lock
  /// when `guest_names` is given). Any thread; does not stop the recording.
  std::vector<std::vector<TraceEvent>> read(std::vector<std::string>* guest_names = nullptr) const;
  std::size_t capacity() const noexcept { return capacity_; }
  unsigned workers() const noexcept { return workers_; }

 private:
  /// Makes lane `i`'s ring if it has none. Under mu_.
  void make_ring(unsigned i);

  const unsigned workers_;
  const std::size_t capacity_;
  std::atomic<bool> on_{false};
  std::atomic<std::uint64_t> since_{0};  // tick of the last start()
  std::atomic<std::uint32_t> naming_epoch_{0};  // see "naming actors"; the lanes move it on
  mutable std::mutex mu_;                // serialises making rings and claiming lanes with readers
  bool started_ = false;  // start() ran once: claimed lanes get rings at once (under mu_)
  // One per lane (workers, then guests); a ring is published once (release
  // store under mu_) and freed by the destructor.
  std::unique_ptr<std::atomic<detail::WorkerTrace*>[]> traces_;
  std::vector<std::string> guest_names_;  // under mu_: per guest lane ever claimed
  std::vector<bool> guest_taken_;         // under mu_: claimed now
};

}  // namespace shoal::detail
