// Context: what an actor can do while it handles a message — its own Pid,
// sending, spawning, stopping, and reporting a message it does not handle.
//
// The context is the actor's cell seen through its public face; it is valid
// only inside `Actor::receive` and only on the thread running it.
#pragma once

#include <cstdint>
#include <string>

#include "core/envelope.hpp"
#include "core/pid.hpp"
#include "core/props.hpp"

namespace shoal {

class ActorSystem;
class Actor;
struct SpawnResult;

class Context {
 public:
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// This actor's Pid.
  const Pid& self() const noexcept { return self_; }
  ActorSystem& system() const noexcept { return *system_; }

  /// Sends `msg` to `to` (one allocation; never blocks). A stopped or empty
  /// target makes it a counted dead letter.
  template <class T>
  void send(const Pid& to, T&& msg);

  /// Spawns an actor. Throws SpawnError after shutdown has begun.
  Pid spawn(const Props& props);
  /// Spawns `A(args...)` without building a Props (the fast path).
  template <class A, class... Args>
  Pid spawn(Args&&... args);
  /// Spawns under a unique name; a taken name is an error, not an exception.
  SpawnResult spawn_named(const Props& props, std::string name);

  /// Asks `pid` to stop: a system message, handled before its queued user
  /// messages and after the one it is handling. Harmless if already stopped.
  void stop(const Pid& pid);
  /// Stops this actor after the current message.
  void stop() { stop(self_); }

  /// Reports `msg` as a dead letter with reason `unhandled`. The typed
  /// `Handles<>` base calls this for types it has no handler for.
  void unhandled(const Envelope& msg);

  /// Index of the worker thread running this actor now (-1 in deterministic
  /// mode). For tests and diagnostics.
  int worker_index() const noexcept;

 protected:
  explicit Context(ActorSystem* system) noexcept : system_(system) {}
  ~Context() = default;

  ActorSystem* const system_;
  Pid self_;  // the cell's reference to itself while it lives
};

}  // namespace shoal
