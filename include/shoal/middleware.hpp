// Middleware: code that wraps what actors do — receive, send, spawn — for
// plug-ins such as tracing, metrics or context propagation (Proto.Actor's
// receiver, sender and spawn middleware).
//
//   auto timing = [](shoal::Context& ctx, shoal::Envelope& msg, shoal::ReceiveNext next) {
//     auto t0 = std::chrono::steady_clock::now();
//     next(ctx, msg);                                  // on to the actor
//     record(msg.type->name, std::chrono::steady_clock::now() - t0);
//   };
//   system.spawn(shoal::Props::of<Worker>().with_receiver_middleware(timing));
//   // or for every actor: SystemConfig::receiver_middleware
//
// Receiver middleware runs on the actor's worker around each user message
// and lifecycle message handed to the actor; it may inspect, replace (call
// next with another envelope) or swallow (not call next) the message. An
// exception from it is the actor's failure, as one from the actor would be.
// Sender middleware runs on the sending actor's worker around each send,
// request and respond of that actor (sends from outside threads have no
// sending actor and are not wrapped); it owns the envelope it is given and
// must pass it to next or destroy it (destroy_envelope). Spawn middleware
// runs around every spawn of the system, on the spawning thread.
//
// Chains run in order, the first outermost; the system's (SystemConfig)
// wrap an actor's own (Props). None set costs nothing but a flag test per
// message and per send: a bit in a byte the cell reads anyway.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "shoal/envelope.hpp"
#include "shoal/pid.hpp"

namespace shoal {

namespace detail {
class ActorCell;
}  // namespace detail
class ActorSystem;
class Context;
class Props;
class ReceiveNext;
class SendNext;
class SpawnNext;

using ReceiverMiddleware = std::function<void(Context& ctx, Envelope& msg, ReceiveNext next)>;
using SenderMiddleware =
    std::function<void(Context& sender, const Pid& target, Envelope* msg, SendNext next)>;

/// What spawn middleware sees of a spawn.
struct SpawnInfo {
  ActorSystem& system;
  /// The parent actor; empty for actors the system spawns.
  Pid parent;
  /// The name asked for, empty for unnamed spawns (a named child's full
  /// "parent/name" is known once the spawn is done: ActorSystem::name_of).
  std::string_view name;
  /// The Props, or null for `spawn<A>(args...)`.
  const Props* props;
};
using SpawnMiddleware = std::function<Pid(const SpawnInfo& info, SpawnNext next)>;

/// The rest of a receive chain: the next middleware, finally the actor.
class ReceiveNext {
 public:
  void operator()(Context& ctx, Envelope& msg) const;

 private:
  friend class detail::ActorCell;
  ReceiveNext(detail::ActorCell* cell, const std::vector<ReceiverMiddleware>* outer,
              const std::vector<ReceiverMiddleware>* inner, std::size_t i) noexcept
      : cell_(cell), outer_(outer), inner_(inner), i_(i) {}
  detail::ActorCell* cell_;
  const std::vector<ReceiverMiddleware>* outer_;  // the system's (may be null)
  const std::vector<ReceiverMiddleware>* inner_;  // the actor's (may be null)
  std::size_t i_;                                 // index over outer, then inner
};

/// The rest of a send chain: the next middleware, finally delivery.
class SendNext {
 public:
  /// Passes `msg` (owned) on towards `target`.
  void operator()(Context& sender, const Pid& target, Envelope* msg) const;

 private:
  friend class detail::ActorCell;
  SendNext(ActorSystem* system, const std::vector<SenderMiddleware>* outer,
           const std::vector<SenderMiddleware>* inner, std::size_t i) noexcept
      : system_(system), outer_(outer), inner_(inner), i_(i) {}
  ActorSystem* system_;
  const std::vector<SenderMiddleware>* outer_;
  const std::vector<SenderMiddleware>* inner_;
  std::size_t i_;
};

/// The rest of a spawn chain: the next middleware, finally the spawn.
class SpawnNext {
 public:
  /// Spawns (or runs the next middleware) and returns the new actor's Pid.
  /// Throws what the spawn throws (SpawnError after shutdown began).
  Pid operator()() const;

  // -- internals (ActorSystem) --
  using Final = Pid (*)(void* state);
  SpawnNext(const std::vector<SpawnMiddleware>* chain, std::size_t i, const SpawnInfo* info,
            Final final, void* state) noexcept
      : chain_(chain), i_(i), info_(info), final_(final), state_(state) {}

 private:
  const std::vector<SpawnMiddleware>* chain_;
  std::size_t i_;
  const SpawnInfo* info_;
  Final final_;
  void* state_;
};

}  // namespace shoal
