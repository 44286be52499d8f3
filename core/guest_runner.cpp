#include "shoal/guest_runner.hpp"

#include <utility>

#include "core/detail/system_access.hpp"
#include "core/flight_recorder.hpp"
#include "core/scheduler.hpp"
#include "core/worker.hpp"

namespace shoal {

GuestRunner::GuestRunner(ActorSystem& system, std::string name)
    : scheduler_(detail::SystemAccess::scheduler(system)),
      recorder_(scheduler_.recorder()),
      name_(std::move(name)),
      lane_(recorder_.claim_guest_lane(name_)) {
  counters_.start_tick = detail::ticks();
  cells_.reserve(64);
  scheduler_.add_guest(this);
}

GuestRunner::~GuestRunner() {
  if (detail::collecting_guest == this) detail::collecting_guest = nullptr;
  // Whatever was kept and never run is still runnable (its status says
  // scheduled): hand it to the workers rather than strand it.
  for (detail::ActorCell* c : cells_) scheduler_.schedule(c);
  scheduler_.remove_guest(this);
  recorder_.release_guest_lane(lane_);
}

detail::WorkerTrace* GuestRunner::trace() noexcept {
  return lane_ == detail::FlightRecorder::no_lane ? nullptr : recorder_.trace_for(lane_);
}

void GuestRunner::collect() noexcept { detail::collecting_guest = this; }

std::size_t GuestRunner::run() noexcept {
  std::size_t n = 0;
  detail::in_guest_run = true;
  // The runs are recorded in this guest's lane; what they send and make
  // runnable too (active_trace), as on a worker.
  detail::WorkerTrace* const t = trace();
  detail::WorkerTrace* const outer = std::exchange(detail::active_trace, t);
  // Rounds: what one round's handlers wake (while the workers still sleep)
  // is kept for the next, so a chain of local hops behind a remote message
  // crosses no wake-up either. Swapped out before each round: nothing is
  // appended to the list being iterated.
  while (!cells_.empty() && n < max_runs_per_call) {
    running_.swap(cells_);
    detail::collecting_guest = this;
    for (detail::ActorCell* c : running_) {
      detail::Worker::run_mailbox(c, counters_, t);
      ++n;
    }
    running_.clear();
  }
  detail::collecting_guest = nullptr;
  detail::in_guest_run = false;
  detail::active_trace = outer;
  // Over the bound: the workers take the rest (waking one, as a send from
  // any other thread would).
  running_.swap(cells_);
  for (detail::ActorCell* c : running_) scheduler_.schedule(c);
  running_.clear();
  return n;
}

}  // namespace shoal
