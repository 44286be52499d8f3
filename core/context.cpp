#include "shoal/context.hpp"

#include "core/detail/system_access.hpp"
#include "core/scheduler.hpp"
#include "shoal/actor_system.hpp"

namespace shoal {

namespace {
detail::ActorCell& cell(Context* c) noexcept { return *static_cast<detail::ActorCell*>(c); }
const detail::ActorCell& cell(const Context* c) noexcept {
  return *static_cast<const detail::ActorCell*>(c);
}
}  // namespace

Pid Context::spawn(const Props& props) {
  detail::ActorCell* parent = &cell(this);
  return system_->spawn_wrapped(parent, {}, &props,
                                [&] { return system_->spawn_from(props, parent); });
}

SpawnResult Context::spawn_named(const Props& props, std::string_view name) {
  return system_->spawn_named_child(props, cell(this), name);
}

Pid Context::parent() const { return Pid(cell(this).parent_cell()); }

std::vector<Pid> Context::children() const { return cell(this).children_pids(); }

void Context::watch(const Pid& pid) { cell(this).watch(pid); }

void Context::unwatch(const Pid& pid) { cell(this).unwatch(pid); }

void Context::poison(const Pid& pid) { system_->poison(pid); }

void Context::become(Behavior b) { cell(this).become(b, /*stacked=*/false); }

void Context::become_stacked(Behavior b) { cell(this).become(b, /*stacked=*/true); }

void Context::unbecome() noexcept { cell(this).unbecome(); }

void Context::stop(const Pid& pid) {
  if (pid.process() == static_cast<const Process*>(static_cast<detail::ActorCell*>(this))) {
    // Stopping oneself needs no message: the cell's owner is this thread.
    static_cast<detail::ActorCell*>(this)->stop_after_current();
    return;
  }
  system_->stop(pid);
}

void Context::set_receive_timeout(std::chrono::nanoseconds d) { cell(this).set_receive_timeout(d); }

std::chrono::nanoseconds Context::receive_timeout() const noexcept {
  return cell(this).receive_timeout();
}

std::uint32_t Context::incarnation() { return cell(this).ext().incarnation; }

Pid Context::sender() const {
  const Envelope* e = detail::current_message;
  const SenderHeader* h = e != nullptr ? e->sender_header() : nullptr;
  return h != nullptr ? h->sender : Pid();
}

void Context::unhandled(const Envelope& msg) {
  // The runtime's own messages are offered, not imposed: ignoring them is fine.
  if (is_lifecycle(msg.type)) return;
  system_->report_dead_letter(msg, self_.id(), DeadLetterReason::unhandled);
}

int Context::worker_index() const noexcept { return system_->scheduler_->current_worker_index(); }

}  // namespace shoal
