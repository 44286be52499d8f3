// Context: what an actor can do while it handles a message — its own Pid,
// its parent and children, sending, spawning children, watching, stopping,
// and reporting a message it does not handle.
//
// The context is the actor's cell seen through its public face; it is valid
// only inside `Actor::receive` and only on the thread running it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/detail/config.hpp"
#include "shoal/envelope.hpp"
#include "shoal/future.hpp"
#include "shoal/mailbox_config.hpp"
#include "shoal/pid.hpp"
#include "shoal/props.hpp"
#include "shoal/timers.hpp"

namespace shoal {

class ActorSystem;
class Actor;
namespace detail {
class ActorCell;
}  // namespace detail

namespace detail {
/// The message the calling thread's actor is handling (set for each
/// message before the handler runs; what sender() and respond() read).
SHOAL_TLS_INITIAL_EXEC inline thread_local const Envelope* current_message = nullptr;

/// A continuation of reenter_after, run as a message of its actor.
class ReentryStep {
 public:
  virtual ~ReentryStep() = default;
  virtual void run(Context& ctx) = 0;
  /// Completed: from now on the step reads the future through `core`.
  Pid core;
};
/// The message that carries it; `incarnation` is the instance that asked
/// (a restarted actor's new instance does not run the old one's steps).
struct Reentry {
  std::unique_ptr<ReentryStep> step;
  std::uint32_t incarnation;
};
}  // namespace detail

class Behavior;
struct SpawnResult;

class Context {
 public:
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// This actor's Pid.
  const Pid& self() const noexcept { return self_; }
  ActorSystem& system() const noexcept { return *system_; }

  /// Sends `msg` to `to` (one allocation; never blocks). A stopped or empty
  /// target makes it a counted dead letter. A handler's consecutive sends
  /// to one actor may leave together, as one chain, when the handler sends
  /// elsewhere or returns (at most 64 held: detail/outbox.hpp); the order
  /// of everything the handler sends is kept.
  template <class T>
  void send(const Pid& to, T&& msg);
  /// ActorSystem::try_send from this handler: `full` or `stopped` leave
  /// the message with the caller (a non-const lvalue is moved from only
  /// when delivered) and make no dead letter. Keeps the order of what this
  /// handler sent before. Goes past this actor's sender middleware (which
  /// sees send, request and respond): a middleware cannot give back a
  /// refusal.
  template <class T>
  SendResult try_send(const Pid& to, T&& msg);

  /// ActorSystem::mailbox_depth of this actor: the user messages queued
  /// behind the one being handled (bounded or instrumented mailboxes;
  /// std::nullopt otherwise).
  std::optional<std::size_t> mailbox_depth() const noexcept;

  /// Sends `msg` to `to` with this actor as its sender: the receiver's
  /// respond() comes back here, and if the request becomes a dead letter
  /// this actor gets a DeadLetterResponse.
  template <class T>
  void request(const Pid& to, T&& msg);
  /// Answers the message being handled: sends `msg` to its sender, quoting
  /// its request id, with this actor as the answer's sender. A message
  /// sent without a sender makes the answer a dead letter (no_sender).
  template <class T>
  void respond(T&& msg);
  /// The sender of the message being handled; empty for one sent with send().
  Pid sender() const;

  /// Sends `msg` to `to` as a request and returns the future of its answer
  /// (ActorSystem::request_future). Wait for it with reenter_after, never
  /// with get() (that would block this worker).
  template <class R, AnsweredWith<R> T>
  Future<R> request_future(const Pid& to, T&& msg, std::chrono::nanoseconds timeout);
  /// request_future<R> for a request that declares its answer's type
  /// (future.hpp, DeclaresReply).
  template <DeclaresReply T>
  Future<reply_type_of<T>> request_future(const Pid& to, T&& msg,
                                          std::chrono::nanoseconds timeout) {
    return request_future<reply_type_of<T>>(to, std::forward<T>(msg), timeout);
  }
  /// Once `f` completes, runs `cont(Context&, Result<R>&)` as a message of
  /// this actor: after the messages queued before it, one at a time with
  /// every other message (so `cont` may touch the actor's state). While it
  /// runs, sender() and respond() refer to the message that was being
  /// handled when reenter_after was called. Dropped, as a dead letter, if
  /// this actor has stopped or been restarted since.
  template <class R, class F>
  void reenter_after(Future<R>& f, F&& cont);

  /// Sends `msg` to `to` after `delay` (ActorSystem::send_after).
  template <class T>
  TimerHandle send_after(const Pid& to, T&& msg, std::chrono::nanoseconds delay);
  /// Sends copies of `msg` to `to` after `initial`, then every `interval`
  /// (ActorSystem::send_every).
  template <class T>
  TimerHandle send_every(const Pid& to, T&& msg, std::chrono::nanoseconds initial,
                         std::chrono::nanoseconds interval);

  /// Asks for a ReceiveTimeout once this actor has handled no message for
  /// `d`, and again every `d` after that; `d` <= 0 cancels. Setting it again
  /// restarts the period. Messages of types deriving from
  /// NotInfluenceReceiveTimeout do not count as activity. Costs one clock
  /// read per run of the mailbox while set; the timer is re-armed lazily
  /// (not once per message). A restart cancels it.
  void set_receive_timeout(std::chrono::nanoseconds d);
  void cancel_receive_timeout() { set_receive_timeout(std::chrono::nanoseconds::zero()); }
  /// The period set, or zero.
  std::chrono::nanoseconds receive_timeout() const noexcept;

  /// Spawns a child of this actor: supervised by it, stopped with it, and
  /// reported to it with Terminated when it stops. Throws SpawnError after
  /// shutdown has begun.
  Pid spawn(const Props& props);
  /// Spawns `A(args...)` as a child without building a Props (the fast path).
  template <class A, class... Args>
  Pid spawn(Args&&... args);
  /// Spawns a child named "<this actor's name>/<name>" ("$<id>/<name>" if
  /// this actor has no name); a taken name is an error, not an exception.
  SpawnResult spawn_named(const Props& props, std::string_view name);

  /// The actor that spawned this one; empty for actors the system spawned.
  Pid parent() const;
  /// The children alive (not yet reported Terminated), newest first.
  std::vector<Pid> children() const;

  /// Asks for one Terminated when `pid` stops (why = not_found if it is
  /// gone already). Watching twice still gives one. Children are watched
  /// without asking.
  void watch(const Pid& pid);
  /// Cancels a watch: no Terminated from `pid` reaches this actor afterwards,
  /// even one already on its way.
  void unwatch(const Pid& pid);

  /// Asks `pid` to stop: like a system message, handled after the one it is
  /// handling and before its queued user messages (a flag in its mailbox,
  /// no allocation). Harmless if already stopped.
  void stop(const Pid& pid);
  /// Stops this actor after the current message.
  void stop() { stop(self_); }
  /// Asks `pid` to stop after the messages already queued for it (a
  /// PoisonPill user message).
  void poison(const Pid& pid);

  /// Handles the next messages with `b` instead of the current behavior
  /// (behavior.hpp); `become(Behavior())` goes back to receive.
  void become(Behavior b);
  /// Handles the next messages with `b`; unbecome() returns to the current.
  void become_stacked(Behavior b);
  /// Returns to the behavior before the last become_stacked (or to receive).
  void unbecome() noexcept;

  /// Reports `msg` as a dead letter with reason `unhandled`. The typed
  /// `Handles<>` base calls this for types it has no handler for.
  void unhandled(const Envelope& msg);

  /// Index of the worker thread running this actor now (-1 in deterministic
  /// mode). For tests and diagnostics.
  int worker_index() const noexcept;

 protected:
  explicit Context(ActorSystem* system) noexcept : system_(system) {}
  /// Which instance of this actor is running (counts restarts).
  std::uint32_t incarnation();
  /// Where send, request and respond meet: this actor's sender middleware
  /// if any, then delivery (an empty `to`: a dead letter).
  void send_from_here(const Pid& to, Envelope* e);
  /// send_from_here's second and later message to one actor: held in this
  /// thread's outbox (detail/outbox.hpp).
  static void hold(Process* target, Envelope* e) noexcept;
  ~Context() = default;

  ActorSystem* const system_;
  Pid self_;  // the cell's reference to itself while it lives
};

}  // namespace shoal
