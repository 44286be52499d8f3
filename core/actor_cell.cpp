#include "core/actor_cell.hpp"

#include "core/actor_system.hpp"

namespace shoal {

ActorCell::ActorCell(ActorSystem* system, std::uint64_t id, std::unique_ptr<Actor> actor,
                     const MailboxConfig& mailbox, std::uint32_t throughput)
    : Process(id, Kind::local_actor),
      Context(system),
      mailbox_(mailbox),
      actor_(std::move(actor)),
      throughput_(throughput == 0 ? 1 : throughput) {
  self_ = Pid(this);
}

// -- delivery ------------------------------------------------------------------------

void ActorCell::post_system(Envelope* e) noexcept {
  if (mailbox_.is_dead()) {
    // Stopping a stopped actor is harmless: nothing to report.
    destroy_envelope(e);
    return;
  }
  Claim c = mailbox_.push_system(e);
  if (c == Claim::schedule) {
    system_->scheduler().schedule(this);
  } else if (c == Claim::drain) {
    drain_dead();
  }
}

void ActorCell::drain_dead() noexcept {
  // We won dead→draining: we are the queue's consumer until finish_dead
  // stores `dead` again.
  mailbox_.finish_dead([](Envelope&) {},
                       [this](Envelope& e) {
                         system_->report_dead_letter(e, id(), DeadLetterReason::target_stopped);
                       });
}

// -- the run loop ----------------------------------------------------------------------

void ActorCell::run() {
  mailbox_.begin_run();
  std::uint32_t budget = throughput_;
  for (;;) {
    // System messages first, and again before every user message.
    if (Envelope* s = mailbox_.pop_system()) {
      handle_system(*s);
      s->destroy_payload();
      if (dead_) break;
      continue;
    }
    if (budget == 0 || mailbox_.suspended()) break;
    Envelope* u = mailbox_.pop_user();
    if (u == nullptr) break;
    --budget;
    invoke(*u);
    mailbox_.done_with_user(u);
    if (stop_requested_) [[unlikely]]
      die();
    if (dead_) break;
  }
  if (dead_) {
    finish_death();  // may free this cell
    return;
  }
  if (mailbox_.finish_run()) system_->scheduler().reschedule(this);
}

void ActorCell::invoke(Envelope& e) noexcept {
  try {
    actor_->receive(*this, e);
  } catch (...) {
    // Until supervision lands: report, then stop the actor.
    system_->report_failure(id(), std::current_exception());
    die();
  }
}

void ActorCell::handle_system(Envelope& e) noexcept {
  if (e.is<detail::StopSignal>()) die();
}

// -- death -------------------------------------------------------------------------------

void ActorCell::die() noexcept {
  if (dead_) return;
  dead_ = true;
  // The actor's destructor runs here, on the worker, like any handler.
  try {
    actor_.reset();
  } catch (...) {
    system_->report_failure(id(), std::current_exception());
  }
}

void ActorCell::finish_death() noexcept {
  // Mail that arrived before or during death: user messages are dead
  // letters; system messages (stop again, …) have nothing left to act on.
  mailbox_.finish_dead([](Envelope&) {},
                       [this](Envelope& e) {
                         system_->report_dead_letter(e, id(), DeadLetterReason::stopped_with_mail);
                       });
  system_->actor_died(*this);
  // Last: drops the cell's reference to itself; may delete `this`.
  Pid last = std::move(self_);
}

void ActorCell::abandon() noexcept {
  dead_ = true;
  actor_.reset();
  mailbox_.finish_dead([](Envelope&) {}, [](Envelope&) {});
  Pid last = std::move(self_);
}

}  // namespace shoal
