// Mailbox: an actor's two queues (system, user), its scheduling status and
// its suspended flag. It decides *whether* to schedule; the scheduler decides
// *where*; the actor cell runs it.
//
// Status protocol. One atomic word counts the notifications since the
// mailbox was last idle; its top bit marks a dead actor.
//
//   word == 0             idle: in no run queue, owned by nobody
//   word == n > 0         scheduled or running: owned by one thread, the
//                         one that will run it (`running_` tells which)
//   word == dead          dead, nobody draining
//   word == dead | n > 0  dead, one thread draining post-mortem mail
//
// Who notifies. Every system push and the one stop request. A user push
// only when the user queue's empty mark shows it is the first since the
// owner last found the queue empty (MpscQueue::try_mark_empty): sends to a
// busy actor — the fan-in case — cost one exchange on the queue and never
// touch the word.
//
//   producer: enter its node in the queue (seeing or not seeing the mark),
//             then, if it notifies, fetch_add(1), then link the node. The
//             one that moves the word from 0 owns the next run and schedules
//             it; from `dead`, it owns the drain. Everyone else is done.
//   owner:    after its last pop, mark the user queue empty (a CAS that fails
//             if any node was entered: then it keeps running), v = load; if
//             the queues are still empty, CAS(v → 0) makes it idle.
//
// No lost wake-up. A user node entered before the mark makes the mark fail.
// One entered after it saw the mark, so its producer notifies: if after the
// owner's load, the CAS fails and the owner looks again; if before, the
// node was entered before the notification (release → acquire), so the owner
// sees the queue non-empty (entered counts, linked or not) and stays. The
// same holds for system nodes and the stop flag, which always notify (the
// node is pushed, or the flag set, before the notification). A bounded user
// queue has no mark: its pushes always notify.
//
// Why a counter and not idle/scheduled/running states with a store-then-
// recheck: after a successful CAS to idle the owner never touches the mailbox
// again. With store-then-recheck, the recheck reads the queue after another
// worker may already have run the actor, seen it die, and freed it.
// Cost: a send to a busy actor, one locked exchange; a send that wakes an
// idle actor, the exchange and a fetch_add; ending a run, two CASes.
//
// Held. The owner may end a run without going idle (hold): the queue stays
// unmarked, so sends cost one exchange and notify nobody; the owner either
// runs it again or finish_run()s it later. A conversation between two actors
// on one worker then costs one locked instruction per message instead of
// four (Worker::after_run says when a worker holds).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "shoal/detail/bounded_queue.hpp"
#include "shoal/detail/config.hpp"
#include "shoal/detail/mpsc_queue.hpp"
#include "shoal/detail/system_queue.hpp"
#include "shoal/envelope.hpp"
#include "shoal/mailbox_config.hpp"

namespace shoal::detail {

/// Scheduling state of a mailbox, as observed (see the top of the file).
enum class MailboxStatus : std::uint8_t {
  idle,       ///< in no run queue; owned by no thread; the next notifying producer takes it
  scheduled,  ///< in exactly one run queue (or being put there by its claimer)
  running,    ///< a worker is running it; only that worker changes it
  dead,       ///< the actor stopped; never scheduled again
  draining,   ///< dead; one thread is turning post-mortem mail into dead letters
};

/// What the caller of a push must do next.
enum class Claim : std::uint8_t {
  none,      ///< someone else owns the next run
  schedule,  ///< the caller moved the mailbox from idle: it must hand it to the scheduler
  drain,     ///< the actor is dead and the caller owns the drain: it must drain
  refused,   ///< a user push after the stop request: not queued; the caller owns the
             ///< message and makes it a dead letter (target_stopped)
};

class Mailbox {
 public:
  explicit Mailbox(const MailboxConfig& config)
      : bounded_(config.capacity == 0 ? nullptr : std::make_unique<BoundedQueue>(config.capacity)),
        overflow_(config.overflow) {
    user_.try_mark_empty();  // idle from birth: the first user push notifies
  }

  /// Makes a new mailbox scheduled instead of idle: its creator owns the
  /// first run and must hand it to the scheduler. Before publication only.
  void start_scheduled() noexcept {
    // relaxed: the mailbox is not shared yet; the scheduler's queue (or the
    // Pid handed to other threads) publishes it.
    word_.store(1, std::memory_order_relaxed);
  }

  // -- producers (any thread) -------------------------------------------------

  /// Queues a system message. Thread-safe, lock-free, never refuses.
  Claim push_system(Envelope* e) noexcept {
    system_.push(e);
    return notify();
  }

  /// Asks the owner to stop: a flag it checks before every user message, so
  /// the stop overtakes queued user mail. The first request
  /// notifies (and may claim the run); later ones return `none`. A flag and
  /// not a message: no node to allocate or to keep in every mailbox.
  ///
  /// The same flag closes the user queue: a user push that sees it is
  /// refused (Claim::refused), since no user message is handled after a
  /// stop. So mail sent after the stop is a dead letter at its sender, and
  /// the drain at death (finish_dead) ends whatever the senders do: only
  /// pushes already past their look at the flag, and chains begun before
  /// it (push_user_chain), can still enter — a bounded number. Thread-safe,
  /// wait-free.
  Claim request_stop() noexcept {
    // relaxed: the exchange only elects the one requester that notifies;
    // notify()'s release publishes the flag to the owner (see has_runnable).
    if (stop_.exchange(true, std::memory_order_relaxed)) return Claim::none;
    return notify();
  }

  /// Queues a user message. When a bounded mailbox is full, the message that
  /// loses (the new one, or an evicted old one) is passed to
  /// `on_drop(Envelope*, bool is_new)`, which takes ownership of it.
  /// Thread-safe, lock-free; never blocks or waits for the consumer.
  template <class OnDrop>
  Claim push_user(Envelope* e, OnDrop&& on_drop) noexcept {
    // The flag shares its line with bounded_, which every push reads
    // anyway (not the status word's line). A push that misses it queues,
    // and its message is drained at death.
    // relaxed: pairs with request_stop's exchange; no data rides on it.
    if (stop_.load(std::memory_order_relaxed)) [[unlikely]]
      return Claim::refused;
    if (bounded_ == nullptr) [[likely]] {
      // Notify between entering and linking: the notification's fetch_add
      // then does not wait for the link store, whose cache line the owner
      // is usually reading. The owner treats an entered-but-unlinked node
      // as mail (maybe_nonempty), so it cannot go idle past it.
      MpscQueue::Entered in = user_.enter(e);
      Claim c = in.was_marked ? notify() : Claim::none;
      user_.link(in, e);
      return c;
    }
    if (!push_bounded(e, on_drop)) return Claim::none;
    return notify();
  }

  /// push_user for a sender that handles refusal itself (try_send): a
  /// full bounded mailbox refuses `e` (Claim::refused with `full` set)
  /// whatever its overflow policy — nothing is evicted, no dead letter —
  /// and so does one asked to stop (`full` left clear). The caller keeps
  /// a refused message. Thread-safe, lock-free.
  Claim try_push_user(Envelope* e, bool& full) noexcept {
    // relaxed: as in push_user.
    if (stop_.load(std::memory_order_relaxed)) [[unlikely]]
      return Claim::refused;
    if (bounded_ == nullptr) {
      MpscQueue::Entered in = user_.enter(e);
      Claim c = in.was_marked ? notify() : Claim::none;
      user_.link(in, e);
      return c;
    }
    if (!bounded_->try_push(e)) {
      full = true;
      return Claim::refused;
    }
    return notify();
  }

  /// A bounded mailbox's queued user messages (BoundedQueue::size); -1 for
  /// an unbounded one, which keeps no count: a counter every sender bumps
  /// would put a second locked instruction on each send, the fan-in path.
  /// Thread-safe.
  /// True once the actor was asked to stop: no user message is handled
  /// after. Thread-safe; a reading.
  bool stop_requested() const noexcept {
    // relaxed: pairs with request_stop's exchange; a reading, no data rides on it.
    return stop_.load(std::memory_order_relaxed);
  }
  std::ptrdiff_t bounded_depth() const noexcept {
    return bounded_ == nullptr ? -1 : static_cast<std::ptrdiff_t>(bounded_->size());
  }

  /// True if push_user_chain may be used (an unbounded mailbox). Fixed at
  /// construction; thread-safe.
  bool takes_chains() const noexcept { return bounded_ == nullptr; }
  /// True if a chain whose sender has not looked at the stop flag (a remote
  /// batch) may be queued now: an unbounded mailbox not asked to stop. Else
  /// the sender goes message by message through push_user, which refuses
  /// after a stop. Thread-safe; stale at once (a chain that passes just
  /// before a stop is drained at death, as a push that misses the flag is).
  bool takes_chains_now() const noexcept {
    // relaxed: pairs with request_stop's exchange; no data rides on it.
    // The flag sits on bounded_'s line, which takes_chains() reads anyway.
    return bounded_ == nullptr && !stop_.load(std::memory_order_relaxed);
  }
  /// Queues the user messages `first` … `last` (linked through `next`,
  /// oldest first) with one exchange: what a sender with many messages for
  /// one actor (a remote batch) uses. Unbounded mailboxes only
  /// (takes_chains). Thread-safe, lock-free.
  ///
  /// The stop flag is not looked at here but as the chain began: a burst's
  /// first message goes through push_user, and one refused there begins no
  /// chain (Context::send_from_here); a remote batch asks takes_chains_now()
  /// (ActorSystem::deliver_chain). A burst is flushed later, after the
  /// target's line has usually moved to its consumer again: reading the
  /// flag here would cost a cache miss per chain. A chain begun before the stop
  /// still enters and is drained at death (stopped_with_mail); each sending
  /// thread holds at most one chain, so the drain stays bounded.
  Claim push_user_chain(Envelope* first, Envelope* last) noexcept {
    MpscQueue::Entered in = user_.enter_chain(last);
    Claim c = in.was_marked ? notify() : Claim::none;
    user_.link(in, first);
    return c;
  }

  /// True once the actor has stopped. Thread-safe; may be stale by the time
  /// the caller acts (the notification protocol covers that race).
  bool is_dead() const noexcept {
    // relaxed: an early-out hint only; correctness comes from notify().
    return (word_.load(std::memory_order_relaxed) & dead_bit) != 0;
  }

  /// The status as observed now. Thread-safe; stale at once.
  MailboxStatus status() const noexcept {
    // relaxed (both): an observation for tests and stats, ordering nothing.
    std::uint64_t w = word_.load(std::memory_order_relaxed);
    if ((w & dead_bit) != 0) return w == dead_bit ? MailboxStatus::dead : MailboxStatus::draining;
    if (w == 0) return MailboxStatus::idle;
    return running_.load(std::memory_order_relaxed) ? MailboxStatus::running
                                                    : MailboxStatus::scheduled;
  }

  // -- owner: the thread running (or draining) the mailbox ----------------------

  void begin_run() noexcept {
    // relaxed: information for observers (status()); ordering comes from the
    // run queue that handed us the mailbox.
    running_.store(true, std::memory_order_relaxed);
  }

  /// True once, the first time the owner looks after a stop request.
  bool take_stop() noexcept {
    // relaxed: reads request_stop()'s exchange; the flag carries no payload.
    // A late view only delays the stop to the next check: the requester's
    // notify() fetch_add (release) pairs with finish_run's acquire load of
    // the word, after which has_runnable() sees the flag.
    if (stop_taken_ || !stop_.load(std::memory_order_relaxed)) return false;
    stop_taken_ = true;
    return true;
  }

  /// Oldest system message or null. Hand it back with `done_with_system`.
  Envelope* pop_system() noexcept { return system_.try_pop(); }
  /// Destroys and frees a message from pop_system after it was handled.
  void done_with_system(Envelope* e) noexcept { destroy_envelope(e); }

  /// Oldest user message or null. Hand it back with `done_with_user`.
  Envelope* pop_user() noexcept {
    if (bounded_ == nullptr) [[likely]]
      return user_.try_pop();
    return bounded_->try_pop();
  }
  /// The message pop_user would return next, left in place; null if none is
  /// reachable, or if the mailbox is bounded (a producer dropping the
  /// oldest may free it meanwhile). Owner only.
  const Envelope* peek_user() const noexcept {
    return bounded_ == nullptr ? user_.peek() : nullptr;
  }
  bool bounded() const noexcept { return bounded_ != nullptr; }
  /// Destroys a message from pop_user after its handler ran.
  void done_with_user(Envelope* e) noexcept {
    if (bounded_ == nullptr) [[likely]] {
      e->destroy_payload();  // the node is the queue's stub now; it frees it
    } else {
      destroy_envelope(e);
    }
  }

  bool suspended() const noexcept { return suspended_; }
  /// While suspended, runs process system messages only. Owner only.
  void set_suspended(bool s) noexcept { suspended_ = s; }

  /// Ends a run. True if mail remains: the caller must re-queue the mailbox
  /// at the back (it stays owned). False if it went idle: the caller must not
  /// touch the mailbox (or its actor) again. Owner only.
  bool finish_run() noexcept {
    for (;;) {
      // relaxed: for observers only; see begin_run. Either way the run ends.
      running_.store(false, std::memory_order_relaxed);
      // A user node entered since the last pop keeps us running; from here
      // on, the next user push notifies.
      if (!mark_user_empty()) return true;
      // acquire: pairs with the producers' acq_rel fetch_add in notify(): a
      // notification counted in `seen` had its message entered before it.
      std::uint64_t seen = word_.load(std::memory_order_acquire);
      if (has_runnable()) return true;
      // release: publishes the run's effects to the producer that next moves
      // the word from 0 (it pairs by the acquire half of its fetch_add).
      if (word_.compare_exchange_strong(seen, 0, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
        return false;
      }
      running_.store(true, std::memory_order_relaxed);  // relaxed: as above
    }
  }

  /// Ends a run without giving up ownership: the mailbox stays scheduled
  /// (not in any run queue) and no push notifies, since the user queue is
  /// left unmarked. The owner must later run it again or finish_run() it;
  /// until then its mail waits for this owner (Worker::after_run). Owner only.
  void hold() noexcept {
    // relaxed: read only by status()'s relaxed load, an observation that
    // orders nothing; the next run's begin_run sets it again.
    running_.store(false, std::memory_order_relaxed);
  }

  /// A hint for a held mailbox: true if mail or a stop request looks
  /// pending, so another run is worth it. A false may be stale; finish_run
  /// then finds the mail. Owner only.
  bool looks_runnable() const noexcept { return has_runnable(); }

  /// Marks the mailbox dead (end of the actor's last run, or of a drain) and
  /// drains every message until a CAS proves no notification is pending.
  /// Each system message goes to `on_system`, each user message to
  /// `on_user`; neither may free it. Owner only; afterwards nobody owns it.
  template <class OnSystem, class OnUser>
  void finish_dead(OnSystem&& on_system, OnUser&& on_user) noexcept {
    // relaxed: for observers only; see begin_run.
    running_.store(false, std::memory_order_relaxed);
    for (;;) {
      // acquire: as in finish_run.
      std::uint64_t seen = word_.load(std::memory_order_acquire);
      drain(on_system, on_user);
      // A producer between entering and linking: wait for its link (a few
      // instructions away; post-mortem only, never on a live actor's path).
      if (has_any()) continue;
      // Late user pushes must notify, to find `dead` and drain themselves.
      if (bounded_ == nullptr && !user_.try_mark_empty()) continue;
      // acq_rel: as in finish_run. A producer that has not notified yet will
      // find `dead` and drain itself.
      if (word_.compare_exchange_strong(seen, dead_bit, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
        return;
      }
    }
  }

  /// Takes every reachable message out, system first. Owner only.
  template <class OnSystem, class OnUser>
  void drain(OnSystem&& on_system, OnUser&& on_user) noexcept {
    system_.drain(on_system);
    while (Envelope* e = pop_user()) {
      on_user(*e);
      done_with_user(e);
    }
  }

 private:
  static constexpr std::uint64_t dead_bit = std::uint64_t{1} << 63;

  Claim notify() noexcept {
    // acq_rel: release publishes our push to the owner's acquire load in
    // finish_run; acquire (when we move the word from 0) makes the previous
    // owner's run happen-before the run we are about to schedule.
    std::uint64_t prev = word_.fetch_add(1, std::memory_order_acq_rel);
    if (prev == 0) return Claim::schedule;
    if (prev == dead_bit) return Claim::drain;
    return Claim::none;
  }

  // False if a user node was entered since the last pop (we must run on).
  // While suspended the user queue is left unmarked: its mail must not wake
  // the actor, and the resuming system message will.
  bool mark_user_empty() noexcept {
    if (bounded_ != nullptr || suspended_) return true;
    return user_.try_mark_empty();
  }

  // Mail, including nodes entered but not linked yet (their producers may
  // have notified already: going idle past them would lose them), and a
  // stop request not yet taken.
  bool has_runnable() const noexcept {
    if (system_.maybe_nonempty()) return true;
    // relaxed: after finish_run's acquire load of the word, a requester
    // whose notification was counted is visible (its exchange came first).
    if (!stop_taken_ && stop_.load(std::memory_order_relaxed)) return true;
    if (suspended_) return false;
    return bounded_ == nullptr ? user_.maybe_nonempty() : bounded_->maybe_nonempty();
  }

  bool has_any() const noexcept {
    return system_.maybe_nonempty() ||
           (bounded_ == nullptr ? user_.maybe_nonempty() : bounded_->maybe_nonempty());
  }

  template <class OnDrop>
  bool push_bounded(Envelope* e, OnDrop& on_drop) noexcept;

  // A waking send writes word_ and the user queue's head: adjacent, so it
  // usually touches one cache line of the mailbox.
  std::atomic<std::uint64_t> word_{0};  // see the top of the file
  MpscQueue user_;                      // unused when bounded
  SystemQueue system_;
  std::unique_ptr<BoundedQueue> bounded_;  // null = unbounded
  std::atomic<bool> running_{false};       // written by the owner only
  std::atomic<bool> stop_{false};          // see request_stop
  OverflowPolicy overflow_;
  bool suspended_ = false;   // owner only
  bool stop_taken_ = false;  // owner only: take_stop() returned true
};

template <class OnDrop>
bool Mailbox::push_bounded(Envelope* e, OnDrop& on_drop) noexcept {
  if (bounded_->try_push(e)) return true;
  if (overflow_ == OverflowPolicy::drop_oldest) {
    // Evict the oldest (as a second consumer) and retry. Each round removes
    // a message or succeeds; the bound keeps a pathological interleaving
    // (other producers refilling every freed cell) from spinning a worker.
    for (std::size_t round = 0; round <= bounded_->capacity(); ++round) {
      if (Envelope* old = bounded_->try_pop()) on_drop(old, false);
      if (bounded_->try_push(e)) return true;
    }
  }
  on_drop(e, true);
  return false;
}

}  // namespace shoal::detail
