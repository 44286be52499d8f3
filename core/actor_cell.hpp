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
// Size: the cell is 168 bytes plus the actor instance, in one allocation for
// spawn<A> (DESIGN.md's budget is a few hundred bytes per idle actor; see
// bench spawn-stop).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "core/actor.hpp"
#include "core/context.hpp"
#include "core/mailbox.hpp"
#include "core/pid.hpp"

namespace shoal {

class ActorSystem;

namespace detail {
/// The type of the system message that stops an actor (resident in its cell).
inline constexpr MessageType stop_signal_type = resident_message_type("shoal::Stop");
}  // namespace detail

class ActorCell : public Process, public Context {
 public:
  /// A cell for an actor made elsewhere (a Props producer). The cell is not
  /// alive until begin_life().
  ActorCell(ActorSystem* system, std::uint64_t id, std::unique_ptr<Actor> actor,
            const MailboxConfig& mailbox, std::uint32_t throughput);

  /// Takes the cell's reference to itself (held until its death) and returns
  /// the spawner's: the two references the cell was born with. Spawner
  /// only, once.
  Pid begin_life() noexcept {
    self_ = Pid::adopt(this);
    return Pid::adopt(this);
  }

  /// Delivers a user message (ownership taken). Thread-safe, never blocks.
  inline void post_user(Envelope* e) noexcept;
  /// Delivers a system message (ownership taken). Thread-safe, never blocks.
  void post_system(Envelope* e) noexcept;
  /// Asks the actor to stop after its current message: the first call queues
  /// the cell's resident stop signal (no allocation); later calls do nothing.
  /// Thread-safe, never blocks.
  void request_stop() noexcept {
    // relaxed: the flag only elects the one thread that may queue stop_node_
    // (an RMW's total order does that); the queue's exchange publishes it.
    if (!stop_sent_.exchange(true, std::memory_order_relaxed)) post_system(&stop_node_);
  }

  /// Runs one batch. Called by the scheduler on the thread that dequeued it.
  void run();

  /// Stops this actor once the current message is handled, as a stop system
  /// message would, without sending one. Owner thread (inside receive) only.
  void stop_after_current() noexcept { stop_requested_ = true; }

  /// Drops a cell that was never started (spawn refused). Spawner only.
  void abandon() noexcept;

  MailboxStatus status() const noexcept { return mailbox_.status(); }

  // -- owned by ActorSystem's live table and name registry ----------------------
  std::uint32_t live_slot = 0;   // index in the shard's slot table
  std::uint16_t live_shard = 0;  // which shard
  bool named = false;            // listed in the name registry

 protected:
  /// For InlineActorCell, which constructs the actor in its own storage.
  ActorCell(ActorSystem* system, std::uint64_t id, const MailboxConfig& mailbox,
            std::uint32_t throughput);
  ~ActorCell() override { destroy_actor(); }
  void adopt_inline(Actor* a) noexcept {
    actor_ = a;
    actor_inline_ = true;
  }
  /// Destroys the actor instance if it still lives. Owner (or last Pid) only.
  void destroy_actor() noexcept;

 private:

  void invoke(Envelope& e) noexcept;
  void handle_system(Envelope& e) noexcept;
  void die() noexcept;
  void finish_death() noexcept;
  [[gnu::cold]] void drain_dead() noexcept;
  void schedule() noexcept;

  // Layout: 168 bytes, so a cell with a small actor fits jemalloc's 192-byte
  // class (DESIGN.md budget: a few hundred bytes per idle actor).
  Mailbox mailbox_;
  Envelope stop_node_{nullptr, &detail::stop_signal_type};  // queued once, by request_stop
  Actor* actor_ = nullptr;  // owned: heap-allocated, or in the subclass's storage
  std::uint32_t throughput_;
  std::atomic<bool> stop_sent_{false};
  bool actor_inline_ = false;    // actor_ lives in InlineActorCell's storage
  bool dead_ = false;            // owner only: set by die()
  bool stop_requested_ = false;  // owner only: set by stop_after_current()
};

/// A cell with its actor `A` in the same allocation: one allocation and one
/// cache miss less per spawn, stop and message than a separate instance.
/// `spawn<A>(args...)` uses it. The actor is destroyed at death, the storage
/// freed with the cell (when the last Pid goes).
template <class A>
class InlineActorCell final : public ActorCell {
 public:
  template <class... Args>
  InlineActorCell(ActorSystem* system, std::uint64_t id, const MailboxConfig& mailbox,
                  std::uint32_t throughput, Args&&... args)
      : ActorCell(system, id, mailbox, throughput) {
    // If A's constructor throws, nothing refers to the cell yet.
    adopt_inline(::new (static_cast<void*>(storage_)) A(std::forward<Args>(args)...));
  }

 private:
  // The actor lives in storage_: destroy it while storage_ still exists.
  ~InlineActorCell() override { destroy_actor(); }

  alignas(A) unsigned char storage_[sizeof(A)];
};

}  // namespace shoal
