#include "core/actor_cell.hpp"

#include "core/actor_system.hpp"

namespace shoal {

ActorCell::ActorCell(ActorSystem* system, std::uint64_t id, std::unique_ptr<Actor> actor,
                     const MailboxConfig& mailbox, std::uint32_t throughput)
    : ActorCell(system, id, mailbox, throughput) {
  actor_ = actor.release();
}

ActorCell::ActorCell(ActorSystem* system, std::uint64_t id, const MailboxConfig& mailbox,
                     std::uint32_t throughput)
    : Process(id, Kind::local_actor, /*refs=*/2),  // adopted by begin_life()
      Context(system),
      mailbox_(mailbox),
      throughput_(throughput == 0 ? 1 : throughput) {}

void ActorCell::destroy_actor() noexcept {
  Actor* a = std::exchange(actor_, nullptr);
  if (a == nullptr) return;
  // A destructor that throws terminates (destructors are noexcept): as for
  // any C++ object, not a failure the runtime can report.
  if (actor_inline_) {
    a->~Actor();
  } else {
    delete a;
  }
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
  if (e.type == &detail::stop_signal_type) die();
}

// -- death -------------------------------------------------------------------------------

void ActorCell::die() noexcept {
  if (dead_) return;
  dead_ = true;
  destroy_actor();  // the actor's destructor runs here, on the worker, like any handler
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
  destroy_actor();
  mailbox_.finish_dead([](Envelope&) {}, [](Envelope&) {});
  Pid last = std::move(self_);
}

}  // namespace shoal
