#include "core/monitor.hpp"

#include "core/actor_cell.hpp"
#include "core/scheduler.hpp"

namespace shoal {

Monitor::Monitor(Scheduler& sched) : sched_(sched), seen_(sched.worker_count()) {}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
  thread_ = std::thread([this] { run(); });  // joined in stop(), before *this goes
}

void Monitor::stop() noexcept {
  // relaxed: pairs with the loads in run() and sleep_while_all_idle();
  // unpark() (the token's exchange) orders it before the monitor's next look.
  stop_.store(true, std::memory_order_relaxed);
  parker_.unpark();
  if (thread_.joinable()) thread_.join();
}

void Monitor::run() {
  unsigned quiet = 0;
  // relaxed (both): pair with the store in stop(), ordered by the parker.
  while (!stop_.load(std::memory_order_relaxed)) {
    parker_.park_for(Scheduler::tick);
    // relaxed: pairs with the store in stop(), as above.
    if (stop_.load(std::memory_order_relaxed) || sched_.stopping()) break;
    quiet = look(sched_.now()) ? quiet + 1 : 0;
    if (quiet >= quiet_looks) {
      sleep_while_all_idle();
      quiet = 0;
    }
  }
}

void Monitor::sleep_while_all_idle() {
  // seq_cst store and fence: the store half of the pair in note_busy.
  asleep_.store(true, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  bool all_idle = true;
  for (unsigned i = 0; i < sched_.worker_count(); ++i) all_idle &= sched_.worker(i).is_idle();
  // relaxed: pairs with the store in stop(); a stop after this load still
  // ends the park (its unpark leaves the token set).
  if (all_idle && !stop_.load(std::memory_order_relaxed)) parker_.park();
  // relaxed: a stale `true` costs a worker one spare unpark.
  asleep_.store(false, std::memory_order_relaxed);
}

bool Monitor::look(std::chrono::nanoseconds now) {
  const auto bound = sched_.config().stall_after;
  bool all_idle = true;
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {
    Worker& w = sched_.worker(i);
    Seen& seen = seen_[i];
    const std::uint64_t runs = w.runs();
    const bool idle = w.is_idle();
    all_idle &= idle;
    if (idle || runs != seen.runs) {
      seen = {runs, now};  // moving, or with nothing to run: not stalled
      continue;
    }
    if (now - seen.since < bound) continue;
    // Stalled: its due timers fire from here (a tick late at most).
    w.expire_for_stalled(runs);
    if (sched_.worker_count() < 2 || !w.has_local_cells()) continue;
    const Worker::Given g = w.give_up_stalled(runs);
    if (g.slot != nullptr) sched_.requeue_stalled(g.slot);
    if (g.held != nullptr) {
      // Owned now, and drained when it was held: run it if mail came since,
      // else let it go idle (end_hold re-queues it if mail comes meanwhile).
      if (g.held->looks_runnable()) {
        sched_.requeue_stalled(g.held);
      } else {
        g.held->end_hold();
      }
    }
  }
  return all_idle;
}

}  // namespace shoal
