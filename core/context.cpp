#include "core/context.hpp"

#include "core/actor_system.hpp"

namespace shoal {

Pid Context::spawn(const Props& props) { return system_->spawn(props); }

SpawnResult Context::spawn_named(const Props& props, std::string name) {
  return system_->spawn_named(props, std::move(name));
}

void Context::stop(const Pid& pid) {
  if (pid.process() == static_cast<const Process*>(static_cast<ActorCell*>(this))) {
    // Stopping oneself needs no message: the cell's owner is this thread.
    static_cast<ActorCell*>(this)->stop_after_current();
    return;
  }
  system_->stop(pid);
}

void Context::unhandled(const Envelope& msg) {
  system_->report_dead_letter(msg, self_.id(), DeadLetterReason::unhandled);
}

int Context::worker_index() const noexcept { return system_->scheduler().current_worker_index(); }

}  // namespace shoal
