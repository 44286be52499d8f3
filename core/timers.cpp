#include "shoal/timers.hpp"

#include "core/detail/system_access.hpp"
#include "core/scheduler.hpp"
#include "shoal/actor_system.hpp"

namespace shoal::detail {

void ScheduledSend::expire() noexcept {
  if (clone_ != nullptr) {
    // Periodic: a fresh copy each time, then re-armed on this worker's wheel.
    // acquire: pairs with the acq_rel CAS in cancel().
    if (state_.load(std::memory_order_acquire) == armed) {
      Envelope* copy = nullptr;
      try {
        copy = clone_(*env_);
      } catch (...) {  // bad_alloc or a throwing copy: this one is lost
        shoal::detail::SystemAccess::report_failure(system_, to_.id(), std::current_exception());
      }
      if (copy != nullptr)
        shoal::detail::SystemAccess::deliver_scheduled(system_, to_, copy, system_message_);
      shoal::detail::SystemAccess::scheduler(system_).add_timer(
          this, interval_);  // keeps the wheel's reference
      return;
    }
    release();  // cancelled: the prototype goes with the last reference
    return;
  }
  std::uint8_t s = armed;
  // acq_rel: pairs with cancel(); the winner owns env_.
  if (state_.compare_exchange_strong(s, done, std::memory_order_acq_rel)) {
    shoal::detail::SystemAccess::deliver_scheduled(system_, to_, std::exchange(env_, nullptr),
                                                   system_message_);
  }
  release();  // the wheel's reference
}

bool ScheduledSend::cancel() noexcept {
  std::uint8_t s = armed;
  // acq_rel: pairs with the CAS in expire()/discard(): one of them wins the
  // armed state, and the winner owns the envelope.
  if (!state_.compare_exchange_strong(s, cancelled, std::memory_order_acq_rel)) return false;
  add_ref();  // the cancel request's, given back by drop()
  shoal::detail::SystemAccess::scheduler(system_).cancel_timer(this);
  return true;
}

void ScheduledSend::drop() noexcept {
  // Unlinked because cancelled (or the cancel request is done): the message
  // was never sent. The envelope goes with the last reference.
  release();
}

void ScheduledSend::discard() noexcept {
  std::uint8_t s = armed;
  // acq_rel: pairs with cancel(); a send that never happened is a dead letter.
  if (state_.compare_exchange_strong(s, done, std::memory_order_acq_rel) && !system_message_) {
    shoal::detail::SystemAccess::dead_letter(system_, std::exchange(env_, nullptr), to_.id(),
                                             DeadLetterReason::stopped_with_mail);
  }
  release();  // the wheel's reference
}

}  // namespace shoal::detail
