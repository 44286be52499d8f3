// Actor: the user's state and behaviour. Subclass it and override receive,
// or derive from Handles<Self, Msg...> (handles.hpp) for typed dispatch.
#pragma once

namespace shoal {

class Context;
struct Envelope;

class Actor {
 public:
  virtual ~Actor() = default;
  /// Handles one message. Runs on one worker at a time (turn-based): no
  /// locking needed for the actor's own state. An exception escaping it stops
  /// the actor and is reported as a failure (supervision arrives later).
  virtual void receive(Context& ctx, Envelope& msg) = 0;
};

}  // namespace shoal
