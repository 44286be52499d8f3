// ActorCell: one local actor — its mailbox, its instance, its place in the
// hierarchy, and the run loop that feeds one to the other. It is the Process
// a local Pid points at and the Context the actor sees.
//
// One run (DESIGN.md step 4): `Started` if this is the first run; every
// system message first; then up to `throughput` user messages, re-checking
// the system queue before each; then re-queue at the back if mail remains,
// else go idle without losing a wake-up (Mailbox::finish_run). A cell is
// born scheduled, so `Started` runs even if no message ever comes.
//
// Life states (owner thread only):
//
//   alive ──failure──▶ failed ──Resume──▶ alive
//     │                  │ Restart
//     │                  ▼
//     ├──Restart──▶ restarting: Restarting to the old instance, children
//     │                  │      stopped; when the last is gone: fresh
//     │                  │      instance, Started, alive
//     ▼                  ▼
//   stopping: Stopping, children stopped; when the last is gone: names
//             released, Stopped, Terminated to the watchers; dead.
//
// Every state but `alive` suspends the user queue: no user message is handled
// while failed, restarting or stopping (they become dead letters at death).
// Stop wins over restart; a failure while stopping is reported and ignored.
//
// Children: each cell links its children in an intrusive doubly linked list
// (written by the parent's owner thread only), so spawning and reaping a
// child allocates nothing. A child tells its parent it is gone with an
// envelope resident in the child (`term_node_`), which holds one reference
// to the child until the parent's queue lets go of it.
//
// Lifetime: the cell holds a reference to itself (`self_`) from spawn until
// the end of the run in which it dies; scheduled cells are therefore always
// alive without a reference per schedule. After death the mailbox status is
// `dead`, so the cell can never be scheduled again; late mail is drained into
// dead letters by whichever thread finds it (Mailbox::finish_dead), and a
// late Watch is answered with Terminated{not_found}.
//
// Size: see the layout note on the members; watchers, restart statistics and
// the list head of children live in `CellExtras`, allocated the first time an
// actor needs one of them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "shoal/actor.hpp"
#include "shoal/behavior.hpp"
#include "shoal/context.hpp"
#include "shoal/detail/long_run.hpp"
#include "shoal/detail/mailbox.hpp"
#include "shoal/lifecycle.hpp"
#include "shoal/pid.hpp"
#include "shoal/props.hpp"
#include "shoal/stats.hpp"
#include "shoal/supervision.hpp"

namespace shoal {
class ActorSystem;
}  // namespace shoal

namespace shoal::detail {

class ActorCell;

void release_terminated_child(Envelope* e) noexcept;
/// The system message a child sends its parent when it is gone (resident in
/// the child; releases the child's reference when the parent's queue is done).
inline constexpr MessageType child_terminated_type =
    resident_message_type("shoal::ChildTerminated", &release_terminated_child);

// Other system messages: rare, allocated per send.
struct Watch {
  Pid watcher;
};
struct Unwatch {
  Pid watcher;
};
/// ActorSystem::stop on a Pid that is not a local actor (a remote proxy):
/// the proxy carries the stop to the actor's node.
struct StopRequest {};
struct ChildFailed {
  Pid child;
  std::exception_ptr error;
  RestartStats* stats;  // the child's; touched by the supervisor only while the child is suspended
};
struct Resume {};
struct Restart {};
/// A receive-timeout timer went off: is the actor idle long enough?
/// `generation` tells a current timer from one that set/cancel outdated.
struct ReceiveTimeoutCheck {
  std::uint32_t generation;
};

/// What only some actors need: allocated on first use, freed with the cell.
struct CellExtras {
  ActorCell* first_child = nullptr;    // owner only
  std::uint32_t child_count = 0;       // owner only
  std::vector<Pid> watchers;           // owner only: get Terminated when we stop
  std::vector<Pid> watching;           // owner only: whose Terminated we accept
  RestartStats stats;                  // see ChildFailed
  std::vector<Behavior> behaviors;     // owner only: become / become_stacked, top last
  std::shared_ptr<const Props> props;  // Props-spawned: producer and child strategy
  std::string_view type_name;          // Props-spawned: the first instance's type (interned)
  // Receive timeout (owner only): the period, the last activity (scheduler
  // time) and the generation of the current timer.
  std::chrono::nanoseconds receive_timeout{0};
  std::chrono::nanoseconds last_activity{0};
  std::uint32_t timeout_generation = 0;
  std::uint32_t incarnation = 0;  // owner only: +1 per restart (reenter_after)
  // Instrumented actors only (stats.hpp): made before publication, kept
  // until the cell is freed (senders holding a Pid may still count into it).
  std::unique_ptr<ActorStats> actor_stats;
};

/// What one run did: for the worker's counters and the flight recorder.
struct RunStats {
  std::uint32_t user = 0;        ///< user messages handled
  std::uint32_t system = 0;      ///< system messages handled
  std::uint64_t first_mark = 0;  ///< the first user message's mark (envelope.hpp), 0 if none
  bool held = false;             ///< the run ended with an empty mailbox and kept it (run(true))
};

class ActorCell : public Process, public Context {
 public:
  /// A cell whose actor a Props makes (now and at every restart). The cell
  /// is not alive until begin_life().
  ActorCell(ActorSystem* system, std::uint64_t id, std::shared_ptr<const Props> props,
            std::uint32_t throughput, ActorCell* parent);

  /// Takes the cell's reference to itself (held until its death) and returns
  /// the spawner's: the two references the cell was born with. Spawner
  /// only, once.
  Pid begin_life() noexcept {
    self_ = Pid::adopt(this);
    return Pid::adopt(this);
  }
  /// Links a new child into this cell's list of children (and takes the
  /// reference its term_node_ hands back at its death). Owner only, before
  /// the child is published (so its end cannot be reported before it is
  /// listed). True if the parent is stopping or restarting: the spawner must
  /// stop the child once it is published.
  bool adopt_child(ActorCell* child);
  /// Undoes adopt_child for a child whose spawn was refused. Owner only.
  void disown_child(ActorCell* child) noexcept;

  /// Delivers a user message (ownership taken). False if the actor was
  /// asked to stop: then the message is a dead letter (target_stopped).
  /// Thread-safe, never blocks.
  inline bool post_user(Envelope* e) noexcept;
  /// Delivers a user message unless the mailbox is full or the actor was
  /// asked to stop; then the caller keeps `e` (no dead letter). Thread-safe,
  /// never blocks.
  SendResult try_post_user(Envelope* e) noexcept;
  /// ActorSystem::mailbox_depth for this actor. Thread-safe, a few loads.
  std::optional<std::size_t> mailbox_depth() const noexcept;
  /// Delivers user messages `first` … `last` (linked through `next`, oldest
  /// first) with one queue exchange and at most one schedule. Only when
  /// takes_chains(). Thread-safe, never blocks.
  inline void post_user_chain(Envelope* first, Envelope* last) noexcept;
  bool takes_chains() const noexcept { return mailbox_.takes_chains(); }
  /// takes_chains(), and not asked to stop (Mailbox::takes_chains_now).
  bool takes_chains_now() const noexcept { return mailbox_.takes_chains_now(); }
  /// Delivers a system message (ownership taken). Thread-safe, never blocks.
  void post_system(Envelope* e) noexcept;
  /// Asks the actor to stop after its current message, before anything
  /// else queued (Mailbox::request_stop: a flag, no allocation); later calls
  /// do nothing. Thread-safe, never blocks.
  void request_stop() noexcept {
    Claim c = mailbox_.request_stop();
    if (c == Claim::schedule) {
      schedule();
    } else if (c == Claim::drain) [[unlikely]] {
      drain_dead();
    }
  }

  /// Runs one batch. Called by the scheduler on the thread that dequeued
  /// it. The cell may be gone when it returns. With `may_hold`, a run that
  /// ends because the mailbox is empty (not at the batch bound, not
  /// suspended, not dead) keeps it instead of going idle and says so
  /// (RunStats::held): the caller still owns the cell and must run it again
  /// or end_hold() it. `watch`: the long-run flag of the worker running it
  /// (detail/long_run.hpp), looked at after every handler.
  RunStats run(bool may_hold = false, detail::LongRunWatch& watch = detail::no_long_run_watch);

  /// For a held cell: true if another run looks worth it (a hint; see
  /// Mailbox::looks_runnable). Owner only.
  bool looks_runnable() const noexcept { return mailbox_.looks_runnable(); }
  /// Gives up a held cell: idle, or re-queued on this thread's worker if
  /// mail came meanwhile (behind everything if `had_turn`: it used up its
  /// batch). Owner only; afterwards another thread may own it.
  /// (Not `release`: that is Process's reference drop, which it would hide.)
  void end_hold(bool had_turn = false) noexcept;

  /// Stops this actor once the current message is handled. Owner thread
  /// (inside receive) only.
  void stop_after_current() noexcept { request_stop(); }

  /// Drops a cell that was never started (spawn refused). Spawner only.
  void abandon() noexcept;

  MailboxStatus status() const noexcept { return mailbox_.status(); }
  /// True once the actor has stopped. Thread-safe; may be stale at once.
  bool is_dead() const noexcept { return mailbox_.is_dead(); }
  /// True if the spawner must schedule the first run (to deliver Started).
  /// Spawner only, before publication.
  bool needs_first_run() const noexcept { return !started_; }

  // -- hierarchy and watch (owner thread only, through Context) --------------------
  ActorCell* parent_cell() const noexcept { return parent_; }
  std::vector<Pid> children_pids() const;
  void watch(const Pid& target);
  void unwatch(const Pid& target);
  /// Switches behavior (behavior.hpp): become replaces the stack,
  /// become_stacked pushes, unbecome pops back to the one before.
  void become(Behavior b, bool stacked);
  void unbecome() noexcept;
  /// Allocated on first use. Owner only.
  CellExtras& ext();
  /// The actor's C++ type, for traces: a string that lives as long as the
  /// process. Thread-safe.
  virtual std::string_view type_name() const noexcept;
  /// The flight recorder's naming epoch in which this actor was last named
  /// (flight_recorder.hpp). Owner only.
  std::uint32_t trace_epoch() const noexcept { return trace_epoch_; }
  void set_trace_epoch(std::uint32_t e) noexcept { trace_epoch_ = e; }
  /// An instrumented actor's statistics (null if not instrumented).
  /// Thread-safe: fixed before publication.
  ActorStats* actor_stats() const noexcept {
    return is_instrumented() ? ext_->actor_stats.get() : nullptr;
  }

  // -- middleware (middleware.hpp) ----------------------------------------------------
  /// True if receiver or sender middleware applies to this actor.
  bool intercepted() const noexcept { return intercepted_; }
  /// Decides intercepted() from the system's and the Props' chains. Spawner
  /// only, before publication.
  void init_middleware() noexcept;
  /// Runs `e` (owned) through the sender chain, then delivers it to `to`.
  void send_through_middleware(const Pid& to, Envelope* e);
  /// Context::set_receive_timeout.
  void set_receive_timeout(std::chrono::nanoseconds d);
  std::chrono::nanoseconds receive_timeout() const noexcept {
    return ext_ ? ext_->receive_timeout : std::chrono::nanoseconds::zero();
  }

  /// This actor fails with `error` (an exception from its code, or one its
  /// child escalated): it is suspended and its supervisor decides.
  void fail(const std::exception_ptr& error, bool report) noexcept;

  // -- owned by ActorSystem's live table and name registry ----------------------
  /// live_shard of a cell that is not in the live table (a child).
  static constexpr std::uint16_t not_listed = 0xffff;
  std::uint32_t live_slot = 0;            // index in the shard's slot table
  std::uint16_t live_shard = not_listed;  // which shard, if listed
  bool named = false;                     // listed in the name registry (set before publication)

 protected:
  /// For InlineActorCell, which constructs the actor in its own storage.
  ActorCell(ActorSystem* system, std::uint64_t id, const MailboxConfig& mailbox,
            std::uint32_t throughput, ActorCell* parent);
  ~ActorCell() override { destroy_actor(); }
  void adopt_inline(Actor* a) noexcept {
    actor_inline_ = true;
    set_first_actor(a, system_receive_middleware());
  }
  /// Installs the first instance. An actor that cannot handle Started needs
  /// no run at spawn: it starts idle, as if Started had been delivered —
  /// unless receiver middleware (`intercepted`) is to see Started.
  void set_first_actor(Actor* a, bool intercepted) noexcept {
    actor_ = a;
    if (intercepted || a->may_handle(message_type_of<Started>)) {
      mailbox_.start_scheduled();  // the spawner schedules the first run
    } else {
      started_ = true;
    }
  }
  /// The system has receiver middleware (which sees every actor's Started).
  bool system_receive_middleware() const noexcept;
  /// Destroys the actor instance if it still lives. Owner (or last Pid) only.
  void destroy_actor() noexcept;
  /// Makes a fresh instance for a restart (the old one is destroyed). May throw.
  virtual Actor* make_actor();

 private:
  enum class State : std::uint8_t { alive, failed, restarting, stopping };
  friend void detail::release_terminated_child(Envelope* e) noexcept;
  /// The cell whose term_node_ `e` is.
  static ActorCell* of_term_node(Envelope* e) noexcept;
  friend struct ParentSupervisor;
  friend struct GuardianSupervisor;

  /// Hands `e` to the active behavior, else to receive. May throw.
  void handle(Envelope& e) {
    detail::current_message = &e;  // for sender() and respond()
    if (e.is<detail::Reentry>()) [[unlikely]] {
      reenter(e.get<detail::Reentry>());
      return;
    }
    if (intercepted_) [[unlikely]] {
      receive_through_middleware(e);
      return;
    }
    dispatch(e);
  }
  /// The actor's behavior, else receive (what the receive chain ends in).
  void dispatch(Envelope& e) {
    if (behaving_) [[unlikely]] {
      Behavior b = ext_->behaviors.back();  // a copy: the handler may change the stack
      b(*actor_, *this, e);
      return;
    }
    actor_->receive(*this, e);
  }
  void start() noexcept;
  void invoke(Envelope& e) noexcept;
  /// invoke() for a message with a mark or to an instrumented actor: records
  /// its flow (the `index`-th of this run) and its statistics.
  void invoke_observed(Envelope& e, std::uint64_t mark, std::uint32_t index) noexcept;
  /// Makes this actor instrumented. Constructor only.
  void instrument();
  /// Runs a reenter_after continuation (or drops it if from an older instance).
  void reenter(detail::Reentry* r);
  void receive_through_middleware(Envelope& e);
  friend class shoal::ReceiveNext;
  /// Runs a lifecycle message through the actor; true if it did not throw.
  bool deliver_lifecycle(Envelope& e) noexcept;
  /// After a handler of a message of type `t`: reports it if the monitor
  /// raised `w` meanwhile (detail/long_run.hpp).
  void note_if_long(detail::LongRunWatch& w, const MessageType& t) noexcept;
  [[gnu::cold]] void report_long(detail::LongRunWatch& w, const MessageType& t) noexcept;
  void handle_system(Envelope& e) noexcept;
  void handle_post_mortem(const Envelope& e) noexcept;
  void on_terminated(Envelope& e, Terminated& t) noexcept;
  void on_receive_timeout_check(std::uint32_t generation) noexcept;
  /// Arms the receive-timeout timer of `generation` to go off after `delay`.
  void arm_receive_timeout(std::uint32_t generation, std::chrono::nanoseconds delay) noexcept;
  void on_child_terminated(ActorCell* child) noexcept;
  void supervise(detail::ChildFailed& f) noexcept;
  void resume() noexcept;
  void begin_restart() noexcept;
  void finish_restart() noexcept;
  void begin_stop() noexcept;
  void finalize_stop() noexcept;
  void stop_children() noexcept;
  void unlink_child(ActorCell* child) noexcept;
  std::uint32_t child_count() const noexcept { return ext_ ? ext_->child_count : 0; }
  void finish_death() noexcept;
  [[gnu::cold]] void drain_dead() noexcept;
  /// Hands this cell, whose idle→scheduled change the caller won
  /// (Claim::schedule), to the scheduler. Out of line: the scheduler is the
  /// runtime's, not in the installed headers; one direct call per claim.
  void schedule() noexcept;

  State state() const noexcept { return static_cast<State>(state_); }
  void set_state(State s) noexcept { state_ = static_cast<std::uint8_t>(s) & 3u; }

  // Layout: 184 bytes (static_assert below), so a cell whose actor is only
  // a vtable fits jemalloc's 192-byte class: three cache lines, never shared
  // with a neighbour cell (a 224-byte class measured 2× slower spawn+stop
  // from false sharing). The first 48 are the Process and Context headers,
  // the live-table fields and the flag byte; then the mailbox (its status
  // word and user queue head share a line), whose tail padding holds
  // throughput_ and trace_epoch_.
  // Owner only, except actor_inline_ (set before publication).
  bool actor_inline_ : 1 = false;  // actor_ lives in InlineActorCell's storage
  bool started_ : 1 = false;       // Started delivered
  bool dead_ : 1 = false;          // set by finalize_stop()
  bool behaving_ : 1 = false;      // ext_->behaviors is not empty
  std::uint8_t state_ : 2 = 0;     // a State; see state()
  bool timing_ : 1 = false;        // a receive timeout is set (ext_->receive_timeout)
  bool intercepted_ : 1 = false;   // middleware applies (set before publication)
  [[no_unique_address]] Mailbox mailbox_;
  std::uint32_t throughput_;
  std::uint32_t trace_epoch_ = 0;  // owner only; fills the padding before term_node_
  Envelope term_node_{nullptr, &detail::child_terminated_type};  // queued once, to parent_
  ActorCell* const parent_;          // null for actors the system spawned
  ActorCell* sib_prev_ = nullptr;    // parent's owner thread only
  ActorCell* sib_next_ = nullptr;    // parent's owner thread only
  Actor* actor_ = nullptr;           // owned: heap-allocated, or in the subclass's storage
  std::unique_ptr<CellExtras> ext_;  // owner only (stats: see ChildFailed)
};

static_assert(sizeof(ActorCell) <= 184,
              "a cell whose actor is only a vtable must fit 192 bytes (see Layout)");

/// A cell with its actor `A` in the same allocation: one allocation and one
/// cache miss less per spawn, stop and message than a separate instance.
/// `spawn<A>(args...)` uses it. It keeps a copy of the arguments to make a
/// fresh instance when the actor is restarted. The actor is destroyed at
/// death, the storage freed with the cell (when the last Pid goes).
template <class A, class... Args>
class InlineActorCell final : public ActorCell {
  static_assert((std::is_copy_constructible_v<Args> && ...),
                "spawn<A>(args...) keeps a copy of the arguments to restart the actor; use "
                "Props::from_producer for move-only arguments");

 public:
  template <class... In>
  InlineActorCell(ActorSystem* system, std::uint64_t id, std::uint32_t throughput,
                  ActorCell* parent, In&&... in)
      : ActorCell(system, id, MailboxConfig{}, throughput, parent), args_(std::forward<In>(in)...) {
    // If A's constructor throws, nothing refers to the cell yet.
    adopt_inline(construct());
  }

 private:
  // The actor lives in storage_: destroy it while storage_ still exists.
  ~InlineActorCell() override { destroy_actor(); }
  Actor* make_actor() override { return construct(); }
  std::string_view type_name() const noexcept override { return detail::type_name<A>(); }
  Actor* construct() {
    return std::apply(
        [this](const Args&... a) { return ::new (static_cast<void*>(storage_)) A(a...); }, args_);
  }

  [[no_unique_address]] std::tuple<Args...> args_;
  alignas(A) unsigned char storage_[sizeof(A)];
};

}  // namespace shoal::detail
