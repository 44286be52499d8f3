// Mailbox: an actor's two queues (system, user), its scheduling status and
// its suspended flag. It decides *whether* to schedule; the scheduler decides
// *where*; the actor cell runs it.
//
// Status protocol (one atomic word):
//
//   idle ──CAS by the producer that wins──▶ scheduled ──owner──▶ running
//     ▲                                                           │
//     └──── owner: seq_cst store, then re-check the queues ◀──────┤
//                                            (or → scheduled: re-queued at the back)
//   dead ──CAS by whoever finds mail after death──▶ draining ──▶ dead (+ re-check)
//
// No lost wake-up: a producer pushes (seq_cst exchange) then loads the status
// (seq_cst); the owner stores idle (seq_cst) then loads the queue heads
// (seq_cst). In the single order of seq_cst operations one of the two loads
// comes after the other side's store, so either the producer sees idle and
// schedules, or the owner sees the message and schedules itself.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/bounded_queue.hpp"
#include "core/detail/config.hpp"
#include "core/envelope.hpp"
#include "core/mpsc_queue.hpp"

namespace shoal {

/// What a bounded mailbox does with a message that does not fit. Neither
/// blocks nor spins: the loser becomes a counted dead letter.
enum class OverflowPolicy : std::uint8_t {
  drop_newest,  ///< refuse the new message
  drop_oldest,  ///< evict the oldest queued message to make room
};

struct MailboxConfig {
  std::size_t capacity = 0;  ///< user messages; 0 = unbounded
  OverflowPolicy overflow = OverflowPolicy::drop_newest;

  static MailboxConfig unbounded() noexcept { return {}; }
  static MailboxConfig bounded(std::size_t capacity,
                               OverflowPolicy overflow = OverflowPolicy::drop_newest) noexcept {
    return {capacity == 0 ? 1 : capacity, overflow};
  }
};

/// Scheduling state of a mailbox; see the diagram at the top of the file.
enum class MailboxStatus : std::uint32_t {
  idle,       ///< in no run queue; owned by no thread; a producer's CAS leaves it
  scheduled,  ///< in exactly one run queue (or being put there by its claimer)
  running,    ///< a worker is running it; only that worker changes the status
  dead,       ///< the actor stopped; never scheduled again
  draining,   ///< one thread is turning post-mortem mail into dead letters
};

/// What the caller of a push must do next.
enum class Claim : std::uint8_t {
  none,      ///< someone else owns the next run
  schedule,  ///< the caller won idle→scheduled: it must hand the mailbox to the scheduler
  drain,     ///< the actor is dead and the caller won dead→draining: it must drain
};

class Mailbox {
 public:
  explicit Mailbox(const MailboxConfig& config)
      : bounded_(config.capacity == 0 ? nullptr : std::make_unique<BoundedQueue>(config.capacity)),
        overflow_(config.overflow) {}

  // -- producers (any thread) -------------------------------------------------

  /// Queues a system message. Thread-safe, wait-free, never refuses.
  Claim push_system(Envelope* e) noexcept {
    system_.push(e);
    return try_claim();
  }

  /// Queues a user message. When a bounded mailbox is full, the message that
  /// loses (the new one, or an evicted old one) is passed to
  /// `on_drop(Envelope*, bool is_new)`, which takes ownership of it.
  /// Thread-safe, lock-free; never blocks or waits for the consumer.
  template <class OnDrop>
  Claim push_user(Envelope* e, OnDrop&& on_drop) noexcept {
    if (bounded_ == nullptr) [[likely]] {
      user_.push(e);
    } else if (!push_bounded(e, on_drop)) {
      return Claim::none;
    }
    return try_claim();
  }

  /// True once the actor has stopped. Thread-safe; may be stale by the time
  /// the caller acts (the status protocol covers that race).
  bool is_dead() const noexcept {
    // relaxed: an early-out hint only; correctness comes from try_claim.
    auto s = status_.load(std::memory_order_relaxed);
    return s == MailboxStatus::dead || s == MailboxStatus::draining;
  }

  MailboxStatus status() const noexcept { return status_.load(std::memory_order_seq_cst); }

  // -- owner: the thread that holds the scheduled/running/draining state --------

  void begin_run() noexcept {
    // relaxed: producers only act on `idle`/`dead`; running vs scheduled is
    // information for the owner and for observers.
    status_.store(MailboxStatus::running, std::memory_order_relaxed);
  }

  Envelope* pop_system() noexcept { return system_.try_pop(); }

  /// Oldest user message or null. Hand it back with `done_with_user`.
  Envelope* pop_user() noexcept {
    if (bounded_ == nullptr) [[likely]] return user_.try_pop();
    return bounded_->try_pop();
  }
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

  /// Ends a run. True if the caller must re-queue the mailbox at the back
  /// (status stays scheduled); false if it went idle. Owner only.
  bool finish_run() noexcept {
    if (has_runnable()) {
      // relaxed: still owned by us; the scheduler's queue publishes it.
      status_.store(MailboxStatus::scheduled, std::memory_order_relaxed);
      return true;
    }
    status_.store(MailboxStatus::idle, std::memory_order_seq_cst);
    return maybe_runnable() && try_transition(MailboxStatus::idle, MailboxStatus::scheduled);
  }

  /// Marks the mailbox dead (end of the actor's last run or a drain) and
  /// drains every message that arrives until no producer is mid-push. Each
  /// system message goes to `on_system`, each user message to `on_user`;
  /// both must not free the envelope. Owner only; afterwards nobody owns it.
  template <class OnSystem, class OnUser>
  void finish_dead(OnSystem&& on_system, OnUser&& on_user) noexcept {
    do {
      drain(on_system, on_user);
      status_.store(MailboxStatus::dead, std::memory_order_seq_cst);
    } while ((system_.maybe_nonempty() || user_maybe_nonempty()) &&
             try_transition(MailboxStatus::dead, MailboxStatus::draining));
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
  Claim try_claim() noexcept {
    // seq_cst: the load half of the producer's store→load pair (see top).
    MailboxStatus s = status_.load(std::memory_order_seq_cst);
    if (s == MailboxStatus::idle) {
      return try_transition(s, MailboxStatus::scheduled) ? Claim::schedule : Claim::none;
    }
    if (s == MailboxStatus::dead) {
      return try_transition(s, MailboxStatus::draining) ? Claim::drain : Claim::none;
    }
    return Claim::none;
  }

  bool try_transition(MailboxStatus from, MailboxStatus to) noexcept {
    return status_.compare_exchange_strong(from, to, std::memory_order_seq_cst);
  }

  bool has_runnable() const noexcept {
    if (system_.has_next()) return true;
    if (suspended_) return false;
    return bounded_ == nullptr ? user_.has_next() : bounded_->maybe_nonempty();
  }

  bool maybe_runnable() const noexcept {
    return system_.maybe_nonempty() || (!suspended_ && user_maybe_nonempty());
  }

  bool user_maybe_nonempty() const noexcept {
    return bounded_ == nullptr ? user_.maybe_nonempty() : bounded_->maybe_nonempty();
  }

  template <class OnDrop>
  bool push_bounded(Envelope* e, OnDrop& on_drop) noexcept;

  MpscQueue system_;
  MpscQueue user_;                         // unused when bounded
  std::unique_ptr<BoundedQueue> bounded_;  // null = unbounded
  std::atomic<MailboxStatus> status_{MailboxStatus::idle};
  OverflowPolicy overflow_;
  bool suspended_ = false;  // owner only
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

}  // namespace shoal
