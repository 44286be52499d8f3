// Actor: the user's state and behaviour. Subclass it and override receive,
// or derive from Handles<Self, Msg...> (handles.hpp) for typed dispatch.
#pragma once

namespace shoal {

class Context;
struct Envelope;
struct MessageType;
class SupervisorStrategy;

class Actor {
 public:
  virtual ~Actor() = default;
  /// Handles one message. Runs on one worker at a time (turn-based): no
  /// locking needed for the actor's own state. An exception escaping it is a
  /// failure: the actor is suspended and its supervisor decides
  /// (supervision.hpp).
  virtual void receive(Context& ctx, Envelope& msg) = 0;

  /// Whether this actor may handle messages of type `t`. The runtime skips
  /// work for lifecycle messages an actor cannot handle (an actor that does
  /// not handle Started is not run at spawn). Handles<> answers from its
  /// type list; a hand-written receive may handle anything.
  virtual bool may_handle(const MessageType* t) const noexcept {
    (void)t;
    return true;
  }

  /// The strategy this actor applies to its failing children; null = the
  /// one its Props name, else the system default. Override to return `this`
  /// in an actor that is also a SupervisorStrategy.
  virtual const SupervisorStrategy* supervisor_strategy() const noexcept { return nullptr; }
};

}  // namespace shoal
