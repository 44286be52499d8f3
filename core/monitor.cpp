#include "core/monitor.hpp"

#include <sys/prctl.h>

#include <algorithm>

#include "core/scheduler.hpp"
#include "shoal/detail/actor_cell.hpp"

namespace shoal::detail {

Monitor::Monitor(Scheduler& sched, bool takes_stalled)
    : sched_(sched), takes_stalled_(takes_stalled), seen_(sched.worker_count()) {}

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
  // Its waits can be short (next_wait()): the default 50 µs of timer slack
  // would stretch them by up to half.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  unsigned quiet = 0;
  // The workers are starting: look as just after one left idle.
  Found found{.all_idle = false, .any_idle = true};
  std::chrono::nanoseconds wait = next_wait(found, Scheduler::tick, /*woken=*/true);
  // relaxed (both): pair with the store in stop(), ordered by the parker.
  const bool eager =
      takes_stalled_ && sched_.worker_count() >= 2 && sched_.config().eager_stall_looks;
  while (!stop_.load(std::memory_order_relaxed)) {
    // relaxed: a hint for note_busy; the parker's token keeps a wake-up
    // that comes before the wait.
    wake_on_busy_.store(eager && found.all_idle, std::memory_order_relaxed);
    const bool woken = parker_.park_for(wait);
    // relaxed: pairs with the store in stop(), as above.
    if (stop_.load(std::memory_order_relaxed) || sched_.stopping()) break;
    found = look(sched_.now());
    wait = next_wait(found, wait, woken);
    quiet = found.all_idle ? quiet + 1 : 0;
    if (quiet >= quiet_looks) {
      sleep_while_all_idle();
      quiet = 0;
      // A worker has just left idle (note_busy): look again soon.
      found = {.all_idle = false, .any_idle = true};
      wait = next_wait(found, wait, /*woken=*/true);
    }
  }
}

std::chrono::nanoseconds Monitor::next_wait(Found f, std::chrono::nanoseconds last,
                                            bool woken) const noexcept {
  const std::chrono::nanoseconds tick = Scheduler::tick;
  // Quick looks only while a stall could be given up to an idle worker.
  if (!takes_stalled_ || sched_.worker_count() < 2 || f.all_idle || !f.any_idle) return tick;
  const auto quick = std::clamp(sched_.config().stall_after / 2, min_period, tick);
  // Just after the monitor slept, or while a busy worker that just left
  // idle or has been in one run since the last look has cells to give up.
  if (woken || f.suspect || sched_.config().eager_stall_looks) return quick;
  return std::min(last * 2, tick);  // the busy workers make progress: back off
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

Monitor::Found Monitor::look(std::chrono::nanoseconds now) {
  const auto stall_after = sched_.config().stall_after;
  const auto long_handler = sched_.config().long_handler;
  Found found;
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {
    Worker& w = sched_.worker(i);
    Seen& seen = seen_[i];
    const std::uint64_t progress = w.progress();
    const bool idle = w.is_idle();
    found.all_idle &= idle;
    found.any_idle |= idle;
    // Just left idle with a cell in its slot: its handler may be stalling
    // on what it woke.
    found.suspect |= !idle && seen.idle && w.has_local_cells();
    if (idle || progress != seen.progress || seen.idle) {
      // Moving, or with nothing to run: not stalled. A run may begin from
      // here (the first look at it busy), not from a look while idle.
      seen = {.progress = progress, .since = now, .idle = idle};
      continue;
    }
    const auto in_run = now - seen.since;  // at least: it began before `since`
    // In one run since the last look at least, with cells to give up.
    found.suspect |= w.has_local_cells();
    if (long_handler.count() > 0 && in_run >= long_handler && !seen.flagged_long) {
      w.flag_long_run(seen.since, progress);
      seen.flagged_long = true;
    }
    if (!takes_stalled_ || in_run < stall_after) continue;
    // Stalled: its due timers fire from here (a tick late at most), once a
    // tick, and not at all (nor its fence) if it has none.
    if (w.may_have_timers() && (seen.expired == std::chrono::nanoseconds::zero() ||
                                now - seen.expired >= Scheduler::tick)) {
      w.expire_for_stalled(progress);
      seen.expired = now;
    }
    if (sched_.worker_count() < 2 || !w.has_local_cells()) continue;
    const Worker::Given g = w.give_up_stalled(progress);
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
  return found;
}

}  // namespace shoal::detail
