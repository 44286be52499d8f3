// Delayed and periodic sends: the timers behind send_after, send_every,
// receive timeouts and delayed restarts (the scheduler's wheels hold them,
// see core/scheduler.hpp in the source tree).
//
//   shoal::TimerHandle h = system.send_after(pid, Tick{}, 50ms);
//   h.cancel();  // true: Tick will not be sent
//
// A ScheduledSend holds the message (built at arming time: one allocation
// for the node, one for the envelope) and the target's Pid. When it expires
// on a worker the envelope is delivered like any send. Cancelling is an
// atomic state change from any thread, after which the timer is unlinked by
// its worker (at once on that worker, else at the worker's next look:
// Scheduler::cancel_timer) and freed silently. One still pending when the
// system shuts down becomes a dead letter (stopped_with_mail).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include "shoal/detail/timer_wheel.hpp"
#include "shoal/envelope.hpp"
#include "shoal/pid.hpp"

namespace shoal {

class ActorSystem;

namespace detail {

/// Makes a fresh envelope from a periodic send's prototype.
using CloneFn = Envelope* (*)(const Envelope& prototype);

template <class T>
Envelope* clone_envelope(const Envelope& prototype) {
  return emplace_envelope<T>(static_cast<const TypedEnvelope<T>&>(prototype).value);
}

class ScheduledSend final : public Timer {
 public:
  /// `refs`: 1 for the wheel, plus 1 if a TimerHandle is made. `clone`
  /// non-null makes it periodic (every `interval`), sending copies of `e`.
  ScheduledSend(ActorSystem& system, Pid to, Envelope* e, bool system_message, std::uint32_t refs,
                CloneFn clone = nullptr, std::chrono::nanoseconds interval = {}) noexcept
      : refs_(refs),
        system_(system),
        to_(std::move(to)),
        env_(e),
        clone_(clone),
        interval_(interval),
        system_message_(system_message) {}

  void expire() noexcept override;
  void discard() noexcept override;
  void drop() noexcept override;
  bool is_cancelled() const noexcept override {
    // acquire: pairs with the CAS in cancel().
    return state_.load(std::memory_order_acquire) == cancelled;
  }

  /// Stops the send if it has not happened (a periodic one: the next ones)
  /// and has the timer unlinked. True if this call cancelled it.
  /// Thread-safe.
  bool cancel() noexcept;
  /// True until it was sent (not periodic), cancelled or discarded.
  bool pending() const noexcept {
    return state_.load(std::memory_order_acquire) == armed;  // acquire: pairs with cancel/expire
  }
  void add_ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: from an existing reference
  }
  void release() noexcept {
    // acq_rel: as Process::release (the last owner sees the others' writes).
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  enum : std::uint8_t { armed, done, cancelled };
  ~ScheduledSend() {
    if (env_ != nullptr) destroy_envelope(env_);  // never sent (cancelled), or a prototype
  }

  std::atomic<std::uint32_t> refs_;
  std::atomic<std::uint8_t> state_{armed};
  ActorSystem& system_;
  Pid to_;
  Envelope* env_;  // the message (null once sent), or a periodic send's prototype
  CloneFn clone_;
  std::chrono::nanoseconds interval_;
  bool system_message_;
};

}  // namespace detail

/// What send_after and send_every return: lets the sender cancel. Copies
/// share the one timer. Empty (nothing to cancel) by default.
class TimerHandle {
 public:
  TimerHandle() noexcept = default;
  explicit TimerHandle(detail::ScheduledSend* adopted) noexcept : t_(adopted) {}
  TimerHandle(const TimerHandle& o) noexcept : t_(o.t_) {
    if (t_ != nullptr) t_->add_ref();
  }
  TimerHandle(TimerHandle&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  TimerHandle& operator=(TimerHandle o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~TimerHandle() {
    if (t_ != nullptr) t_->release();
  }

  /// Stops the send if it has not happened (for send_every: every later
  /// one). True if this call stopped it; false if it was sent, cancelled
  /// or discarded already. Thread-safe.
  bool cancel() noexcept { return t_ != nullptr && t_->cancel(); }
  /// True while the send is still to come (always, for send_every, until
  /// cancelled or shut down).
  bool pending() const noexcept { return t_ != nullptr && t_->pending(); }
  explicit operator bool() const noexcept { return t_ != nullptr; }

 private:
  detail::ScheduledSend* t_ = nullptr;
};

}  // namespace shoal
