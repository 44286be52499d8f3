// Lifecycle messages: what the runtime tells an actor about its own life and
// about the actors it watches. They arrive through `receive` like any other
// message (list them in `Handles<Self, ...>` to handle them); an actor that
// does not handle one simply does not see it — they are never dead letters.
//
// Order of one incarnation (Proto.Actor's, see ../shared/reference/peers.md §2):
//   Started                 first, before any other message
//   ... user messages, Terminated of watched actors and children ...
//   Restarting              to the old instance, when its supervisor restarts it;
//                           its children are stopped, then a fresh instance gets
//                           Started
//   Stopping                stop begins: no user message is handled after it;
//                           the children are being stopped
//   Stopped                 the children are gone and the actor is deregistered;
//                           last message; watchers and the parent get Terminated
//
// ReceiveTimeout comes when the actor has handled no message for the time it
// set with `Context::set_receive_timeout`, and again after each such period
// until it cancels (messages deriving from NotInfluenceReceiveTimeout do not
// count). It is not delivered while the actor is suspended or stopping.
//
// PoisonPill is a user message: it is handled in order after everything
// queued before it, then the actor stops (`Context::poison`).
#pragma once

#include <cstdint>
#include <string_view>

#include "shoal/dead_letters.hpp"
#include "shoal/envelope.hpp"
#include "shoal/pid.hpp"

namespace shoal {

struct Started {};
struct Stopping {};
struct Stopped {};
struct Restarting {};
struct PoisonPill {};
struct ReceiveTimeout {};

/// Why a watched actor's Terminated was sent.
enum class TerminatedReason : std::uint8_t {
  stopped,             ///< it stopped (stop, poison, failure with a Stop directive, shutdown)
  address_terminated,  ///< its node became unreachable (remote actors)
  not_found,           ///< it was already gone when the watch arrived
};

std::string_view to_string(TerminatedReason r) noexcept;

/// A watched actor (or a child: children are watched implicitly) is gone.
/// Each watcher gets exactly one per watch, none after `unwatch`.
struct Terminated {
  Pid who;
  TerminatedReason why = TerminatedReason::stopped;
};

/// A request (it carried a sender) became a dead letter: sent back to the
/// requesting actor so it need not wait for an answer that will not come
/// (Proto.Actor's DeadLetterResponse). Request futures fail instead.
struct DeadLetterResponse {
  std::uint64_t target_id;     ///< who the request was for (0: an empty Pid)
  std::string_view type_name;  ///< the request's type
  DeadLetterReason reason;
};

/// True for the types above: messages the runtime originates, which are
/// ignored (not dead letters) when the actor does not handle them.
inline bool is_lifecycle(const MessageType* t) noexcept {
  t = t->base();
  return t == message_type_of<Started> || t == message_type_of<Stopping> ||
         t == message_type_of<Stopped> || t == message_type_of<Restarting> ||
         t == message_type_of<PoisonPill> || t == message_type_of<Terminated> ||
         t == message_type_of<ReceiveTimeout> || t == message_type_of<DeadLetterResponse>;
}

}  // namespace shoal
