// GuestRunner: lets a thread that is not a worker (a node's io thread) run
// the mailboxes its own deliveries make runnable, while every worker sleeps.
//
// Why: a message that arrives from the network finds the workers of a
// lightly loaded system parked. Waking one costs 11–38 µs on this kind of
// machine (SchedulerConfig::spin_before_park), far more than most handlers take; then the answer
// waits for the io thread again. Running the handler on the thread that
// decoded the message makes a remote round trip one thread per process
// (bench/RESULTS.md: the remote round trip's p50 fell from 94 to 21 µs). When any worker is awake
// (running or spinning), runnable mailboxes go to the workers as always:
// the guest only takes what would otherwise cost a wake-up.
//
//   shoal::GuestRunner guest(system, "io 0");   // on the io thread
//   guest.collect();        // from here, this thread's schedules may be kept
//   ... deliver messages ...
//   guest.run();            // runs each kept mailbox once (one batch)
//
// What a handler run here may rely on is what it has on a worker: it runs
// alone on its actor (the mailbox's status hands it over), one batch of at
// most `throughput` messages, system messages first; a mailbox with more to
// do is re-queued to the workers. What a guest run's handler makes runnable
// while the workers still sleep runs on the guest too (a local hop behind
// a remote message), up to `max_runs_per_call` runs per call. Future::get() refuses to block here
// as on a worker (it would stall the thread the answer must come through). The cost: a long handler
// delays the guest's other work (its io) while it runs, as it delays the mailboxes queued behind it
// on a worker; a node can turn guest runs off (NodeConfig::run_actors).
//
// The flight recorder records a guest's runs in a lane of its own (named
// as the guest, after the workers' lanes; at most 16 guests are recorded),
// with what its thread makes runnable while it records (trace()). Their
// counts appear in ActorSystem::stats() as `guests`.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "shoal/detail/config.hpp"
#include "shoal/stats.hpp"

namespace shoal {

class ActorSystem;

namespace detail {
class ActorCell;
class FlightRecorder;
class Scheduler;
struct WorkerTrace;
}  // namespace detail

class GuestRunner {
 public:
  /// Registers with `system`'s scheduler (its counters show in stats() as
  /// `name`). The runner must be used by one thread at a time and destroyed
  /// before the system.
  GuestRunner(ActorSystem& system, std::string name);
  ~GuestRunner();
  GuestRunner(const GuestRunner&) = delete;
  GuestRunner& operator=(const GuestRunner&) = delete;

  /// From now until run(), mailboxes this thread makes runnable (it won
  /// their idle→scheduled change) while every worker is parked are kept
  /// here instead of queued for the workers. Not in deterministic mode,
  /// nor once the scheduler is stopping. Never blocks or allocates.
  void collect() noexcept;
  /// Runs each kept mailbox once, in the order kept; what those runs make
  /// runnable (while every worker still sleeps) is kept and run in rounds
  /// the same way while fewer than `max_runs_per_call` have run; the rest
  /// goes to the workers. A mailbox that used its whole batch goes back to the workers,
  /// never to the guest. Stops collecting. Returns how many ran. Not from a
  /// worker; not from inside a handler.
  std::size_t run() noexcept;
  /// Runs per run() call at most: bounds how long a chain of local hops
  /// keeps the guest (an io thread) from its own work.
  static constexpr std::size_t max_runs_per_call = 64;

  /// Kept mailboxes not yet run. This thread only.
  std::size_t kept() const noexcept { return cells_.size(); }
  const std::string& name() const noexcept { return name_; }
  const WorkerCounters& counters() const noexcept { return counters_; }

  /// This guest's flight-recorder ring while the system records (and the
  /// guest has a lane), else null. The guest's thread sets it as
  /// detail::active_trace while it works (run() does so for its runs) and
  /// writes its own events there; this thread only.
  detail::WorkerTrace* trace() noexcept;
  /// The guest's lane in the flight recorder (~0u if every guest lane was
  /// taken).
  unsigned lane() const noexcept { return lane_; }

 private:
  friend class detail::Scheduler;
  /// Keeps `cell` to run. The collecting thread only.
  void keep(detail::ActorCell* cell) { cells_.push_back(cell); }

  detail::Scheduler& scheduler_;
  detail::FlightRecorder& recorder_;  // the scheduler's
  const std::string name_;
  const unsigned lane_;  // in the scheduler's flight recorder
  std::vector<detail::ActorCell*> cells_;
  std::vector<detail::ActorCell*> running_;  // cells_ swapped out while they run
  WorkerCounters counters_;                  // written by the running thread only
};

namespace detail {
SHOAL_TLS_INITIAL_EXEC inline thread_local GuestRunner* collecting_guest = nullptr;
SHOAL_TLS_INITIAL_EXEC inline thread_local bool in_guest_run = false;
}  // namespace detail

}  // namespace shoal
