// SystemAccess: the runtime's door into ActorSystem. What the scheduler,
// timers, futures, the io layer, the tools and the tests need of a system
// and a user must not call (delivering built envelopes, dead letters,
// failures, the scheduler itself) lives in ActorSystem's private section;
// this is the one friend outside the actor model that reaches it. Not
// installed.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>

#include "core/scheduler.hpp"
#include "shoal/actor_system.hpp"

namespace shoal::detail {

struct SystemAccess {
  static Scheduler& scheduler(ActorSystem& s) noexcept { return *s.scheduler_; }
  static const Scheduler& scheduler(const ActorSystem& s) noexcept { return *s.scheduler_; }

  /// ActorSystem::deliver_chain: `first` … `last` to a non-empty Pid.
  static void deliver_chain(ActorSystem& s, const Pid& to, Envelope* first,
                            Envelope* last) noexcept {
    s.deliver_chain(to, first, last);
  }
  /// A system message to a non-empty Pid.
  static void post_system(const Pid& to, Envelope* e) noexcept { ActorSystem::post_system(to, e); }
  /// Where a timer's send lands.
  static void deliver_scheduled(ActorSystem& s, const Pid& to, Envelope* e, bool system) noexcept {
    s.deliver_scheduled(to, e, system);
  }
  /// A dead letter for a message the caller still owns (not freed).
  static void report_dead_letter(ActorSystem& s, const Envelope& e, std::uint64_t target,
                                 DeadLetterReason r) noexcept {
    s.report_dead_letter(e, target, r);
  }
  /// A dead letter for an owned envelope, which is freed.
  static void dead_letter(ActorSystem& s, Envelope* e, std::uint64_t target,
                          DeadLetterReason r) noexcept {
    s.dead_letter(e, target, r);
  }
  /// An actor's failure, as SystemConfig::on_failure (or the log) sees it.
  static void report_failure(ActorSystem& s, std::uint64_t actor,
                             const std::exception_ptr& error) noexcept {
    s.report_failure(actor, error);
  }
  /// ActorSystem::schedule_send: `e` (owned) to `to` after `delay`.
  static TimerHandle schedule_send(ActorSystem& s, const Pid& to, Envelope* e,
                                   std::chrono::nanoseconds delay, bool system,
                                   CloneFn clone = nullptr, std::chrono::nanoseconds interval = {},
                                   bool handle = true) {
    return s.schedule_send(to, e, delay, system, clone, interval, handle);
  }
};

}  // namespace shoal::detail
