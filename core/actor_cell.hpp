// ActorCell: one local actor — its mailbox, its instance, and the run loop
// that feeds one to the other. It is the Process a local Pid points at and
// the Context the actor sees.
//
// One run (DESIGN.md step 4): every system message first; then up to
// `throughput` user messages, re-checking the system queue before each; then
// re-queue at the back if mail remains, else go idle without losing a
// wake-up (Mailbox::finish_run).
//
// Lifetime: the cell holds a reference to itself (`self_`) from spawn until
// the end of the run in which it dies; scheduled cells are therefore always
// alive without a reference per schedule. After death the mailbox status is
// `dead`, so the cell can never be scheduled again; late mail is drained into
// dead letters by whichever thread finds it (Mailbox::finish_dead).
//
// Size: the cell is ~170 bytes plus the actor instance (DESIGN.md's budget is
// a few hundred bytes per idle actor; see bench spawn_stop).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/actor.hpp"
#include "core/context.hpp"
#include "core/mailbox.hpp"
#include "core/pid.hpp"

namespace shoal {

class ActorSystem;

namespace detail {
/// The system message that stops an actor.
struct StopSignal {};
}  // namespace detail

class ActorCell final : public Process, public Context {
 public:
  ActorCell(ActorSystem* system, std::uint64_t id, std::unique_ptr<Actor> actor,
            const MailboxConfig& mailbox, std::uint32_t throughput);

  /// Delivers a user message (ownership taken). Thread-safe, never blocks.
  inline void post_user(Envelope* e) noexcept;
  /// Delivers a system message (ownership taken). Thread-safe, never blocks.
  void post_system(Envelope* e) noexcept;

  /// Runs one batch. Called by the scheduler on the thread that dequeued it.
  void run();

  /// Stops this actor once the current message is handled, as a stop system
  /// message would, without sending one. Owner thread (inside receive) only.
  void stop_after_current() noexcept { stop_requested_ = true; }

  /// Drops a cell that was never started (spawn refused). Spawner only.
  void abandon() noexcept;

  MailboxStatus status() const noexcept { return mailbox_.status(); }

  // -- owned by ActorSystem's live list and name registry ----------------------
  ActorCell* live_prev = nullptr;
  ActorCell* live_next = nullptr;
  std::uint32_t live_shard = 0;
  std::unique_ptr<std::string> name;

 private:
  ~ActorCell() override = default;

  void invoke(Envelope& e) noexcept;
  void handle_system(Envelope& e) noexcept;
  void die() noexcept;
  void finish_death() noexcept;
  [[gnu::cold]] void drain_dead() noexcept;
  void schedule() noexcept;

  Mailbox mailbox_;
  std::unique_ptr<Actor> actor_;
  std::uint32_t throughput_;
  bool dead_ = false;            // owner only: set by die()
  bool stop_requested_ = false;  // owner only: set by stop_after_current()
};

}  // namespace shoal
