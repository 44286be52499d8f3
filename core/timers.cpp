#include "core/timers.hpp"

#include "core/actor_system.hpp"

namespace shoal::detail {

void ScheduledSend::expire() noexcept {
  std::uint8_t s = armed;
  if (clone_ != nullptr) {
    // Periodic: a fresh copy each time, then re-armed on this worker's wheel.
    // acquire: pairs with the acq_rel CAS in cancel().
    if (state_.load(std::memory_order_acquire) == armed) {
      Envelope* copy = nullptr;
      try {
        copy = clone_(*env_);
      } catch (...) {  // bad_alloc or a throwing copy: this one is lost
        system_.report_failure(to_.id(), std::current_exception());
      }
      if (copy != nullptr) system_.deliver_scheduled(to_, copy, system_message_);
      system_.scheduler().add_timer(this, interval_);
      return;
    }
    destroy_envelope(env_);  // cancelled: the prototype goes
    release();
    return;
  }
  // acq_rel: pairs with cancel(); the winner owns env_.
  if (state_.compare_exchange_strong(s, done, std::memory_order_acq_rel)) {
    system_.deliver_scheduled(to_, env_, system_message_);
  } else {
    destroy_envelope(env_);
  }
  release();
}

void ScheduledSend::discard() noexcept {
  std::uint8_t s = armed;
  // acq_rel: pairs with cancel(); a send that never happened is a dead letter.
  if (state_.compare_exchange_strong(s, done, std::memory_order_acq_rel) && !system_message_) {
    system_.dead_letter(env_, to_.id(), DeadLetterReason::stopped_with_mail);
  } else {
    destroy_envelope(env_);
  }
  release();
}

}  // namespace shoal::detail
