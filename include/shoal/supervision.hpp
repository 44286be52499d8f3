// Supervision: what happens when an actor fails.
//
// A failure is an exception escaping `receive` or the `Started` handler. The
// failing actor's mailbox is suspended (it handles system messages only) and
// its parent's strategy decides, on the parent's worker:
//
//   resume    keep the instance and its state; go on with the next message
//   restart   `Restarting` to the old instance, its children stopped, a fresh
//             instance from the producer, `Started` to it; the failed message
//             is not redelivered
//   stop      stop the child (its watchers and the parent get Terminated)
//   escalate  the parent fails with the same error, and its own parent decides
//
// Which strategy: the parent actor's own (`Actor::supervisor_strategy`), else
// the parent's `Props::with_supervisor`, else the system's default. Actors
// spawned by the system itself (no parent actor) are supervised by the
// guardian strategy of `SystemConfig` (default: one-for-one, at most 10
// restarts within 10 s, then stop — Proto.Actor's default), and an
// escalation from them stops them.
//
// Strategies: one-for-one and all-for-one (at most N restarts within a
// window, then stop), and exponential backoff (restart after a delay that
// doubles with each recent failure, with jitter and a cap; the child stays
// suspended meanwhile, its mail queued).
//
// Restart statistics belong to the child; a strategy's window check reads and
// updates them while the child is suspended (the Failure message and the
// directive sent back order the accesses: no lock).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/pid.hpp"

namespace shoal {

enum class Directive : std::uint8_t { resume, restart, stop, escalate };
/// "resume", "restart", "stop" or "escalate".
std::string_view to_string(Directive d) noexcept;

/// What a failure says of itself: `what()` of a std::exception, else
/// "unknown exception". For reports and events; never throws.
std::string describe(const std::exception_ptr& error) noexcept;

/// Failure times of one actor, for "at most N restarts within a window".
/// Times are the scheduler's (Scheduler::now as a steady time point): real,
/// or virtual in deterministic mode.
class RestartStats {
 public:
  using Clock = std::chrono::steady_clock;

  /// Records a failure at `now`, forgetting those older than `window`
  /// (a zero window keeps them all).
  void record(Clock::time_point now, Clock::duration window);
  /// Failures recorded within `window` before `now` (all of them for 0).
  std::size_t failures_within(Clock::time_point now, Clock::duration window) const noexcept;
  /// Failures recorded since the last reset.
  std::size_t total() const noexcept { return times_.size(); }
  void reset() noexcept { times_.clear(); }

 private:
  std::vector<Clock::time_point> times_;
};

/// What a strategy acts on: the failing actor's supervisor (its parent
/// actor, or the system's guardian for an actor without one).
class Supervisor {
 public:
  /// The supervisor's live children (the failing one included).
  virtual std::vector<Pid> children() const = 0;
  virtual void resume_children(std::span<const Pid> children) = 0;
  virtual void restart_children(std::span<const Pid> children) = 0;
  /// Restarts `children` once `delay` has passed; they stay suspended (their
  /// mail queued) until then.
  virtual void restart_children_after(std::span<const Pid> children,
                                      std::chrono::nanoseconds delay) = 0;
  virtual void stop_children(std::span<const Pid> children) = 0;
  /// The supervisor itself fails with `error` (its own supervisor decides).
  virtual void escalate_failure(const std::exception_ptr& error) = 0;
  /// The scheduler's clock, for restart windows (virtual in deterministic mode).
  virtual RestartStats::Clock::time_point now() const = 0;

 protected:
  ~Supervisor() = default;
};

/// Decides and applies a directive for a failed child. Runs on the
/// supervisor's worker; must not block.
class SupervisorStrategy {
 public:
  virtual ~SupervisorStrategy() = default;
  virtual void handle_failure(Supervisor& supervisor, const Pid& child, RestartStats& stats,
                              const std::exception_ptr& error) const = 0;
};

/// Maps a failure to a directive. Called at failure time only.
using Decider = std::function<Directive(const Pid& child, const std::exception_ptr& error)>;

/// Restart for any error (the default decider).
Directive always_restart(const Pid& child, const std::exception_ptr& error);

/// Applies the decided directive to the failing child only. A restart beyond
/// `max_restarts` failures within `within` stops the child instead
/// (max_restarts 0: never restart; within 0: count every failure).
class OneForOneStrategy : public SupervisorStrategy {
 public:
  OneForOneStrategy(std::uint32_t max_restarts, RestartStats::Clock::duration within,
                    Decider decider = always_restart);
  void handle_failure(Supervisor& supervisor, const Pid& child, RestartStats& stats,
                      const std::exception_ptr& error) const override;

 protected:
  /// True if a restart must become a stop (records the failure).
  bool over_limit(Supervisor& supervisor, RestartStats& stats) const;
  /// Decides and applies; restart and stop go to every child if `to_all`.
  void apply(Supervisor& supervisor, const Pid& child, RestartStats& stats,
             const std::exception_ptr& error, bool to_all) const;

  std::uint32_t max_restarts_;
  RestartStats::Clock::duration within_;
  Decider decider_;
};

/// Like one-for-one, but a restart or stop applies to every child of the
/// supervisor (resume still applies to the failing child only).
class AllForOneStrategy final : public OneForOneStrategy {
 public:
  using OneForOneStrategy::OneForOneStrategy;
  void handle_failure(Supervisor& supervisor, const Pid& child, RestartStats& stats,
                      const std::exception_ptr& error) const override;
};

/// Restarts the failing child after a delay that grows exponentially with
/// its recent failures: the n-th failure within `reset_after` of the ones
/// before waits min(max, initial · multiplier^(n−1)), less a random part of
/// up to `jitter` of it (so children failing together do not come back in
/// step; the delay never exceeds `max`). A child that stays up for
/// `reset_after` starts again from `initial`. With `max_restarts` > 0, a
/// failure beyond that many within `reset_after` stops the child instead.
/// The decider still chooses; backoff applies to its restarts.
/// (Proto.Actor's "exponential" backoff grows linearly: n · initial.)
class ExponentialBackoffStrategy final : public SupervisorStrategy {
 public:
  struct Options {
    std::chrono::nanoseconds initial{std::chrono::milliseconds(100)};
    std::chrono::nanoseconds max{std::chrono::seconds(10)};
    double multiplier = 2.0;
    /// Fraction in [0, 1] of each delay that is random (drawn from the
    /// child's id and failure count: reproducible, no shared state).
    double jitter = 0.2;
    std::chrono::nanoseconds reset_after{std::chrono::seconds(60)};
    std::uint32_t max_restarts = 0;  ///< 0: no limit
    Decider decider = always_restart;
  };
  /// Throws std::invalid_argument for initial <= 0, max < initial,
  /// multiplier < 1, jitter outside [0, 1] or reset_after <= 0.
  explicit ExponentialBackoffStrategy(Options options);
  void handle_failure(Supervisor& supervisor, const Pid& child, RestartStats& stats,
                      const std::exception_ptr& error) const override;
  /// The delay before the restart after the n-th recent failure (n >= 1),
  /// before jitter.
  std::chrono::nanoseconds base_delay(std::size_t n) const noexcept;
  /// The delay with jitter for `child_id`'s n-th recent failure.
  std::chrono::nanoseconds delay(std::uint64_t child_id, std::size_t n) const noexcept;

 private:
  Options o_;
};

/// One-for-one, at most 10 restarts within 10 s, always restart.
std::shared_ptr<const SupervisorStrategy> default_strategy();

}  // namespace shoal
