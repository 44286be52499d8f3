#include "core/guest_runner.hpp"

#include <utility>

#include "core/scheduler.hpp"
#include "core/worker.hpp"

namespace shoal {

GuestRunner::GuestRunner(Scheduler& scheduler, std::string name)
    : scheduler_(scheduler), name_(std::move(name)) {
  counters_.start_tick = detail::ticks();
  cells_.reserve(64);
  scheduler_.add_guest(this);
}

GuestRunner::~GuestRunner() {
  if (detail::collecting_guest == this) detail::collecting_guest = nullptr;
  // Whatever was kept and never run is still runnable (its status says
  // scheduled): hand it to the workers rather than strand it.
  for (ActorCell* c : cells_) scheduler_.schedule(c);
  scheduler_.remove_guest(this);
}

void GuestRunner::collect() noexcept { detail::collecting_guest = this; }

std::size_t GuestRunner::run() noexcept {
  if (detail::collecting_guest == this) detail::collecting_guest = nullptr;
  if (cells_.empty()) return 0;
  // Swapped out: a run that makes another mailbox runnable queues it for the
  // workers (not collecting now), so nothing is appended while we iterate.
  running_.swap(cells_);
  detail::in_guest_run = true;
  for (ActorCell* c : running_) Worker::run_mailbox(c, counters_, nullptr);
  detail::in_guest_run = false;
  const std::size_t n = running_.size();
  running_.clear();
  return n;
}

}  // namespace shoal
