// MpscQueue: intrusive, unbounded, multi-producer single-consumer FIFO.
//
// Why our own and not moodycamel: moodycamel::ConcurrentQueue is FIFO per
// producer thread only (an actor that migrates between workers could see two
// of its sends reordered) and costs kilobytes per instance; a mailbox needs
// FIFO across all producers and a few words of memory. This is Vyukov's
// node-based MPSC queue, in the variant Pony's runtime uses
// (libponyrt/actor/messageq.c): the node most recently popped stays in the
// queue as its stub, so a pop never has to re-insert a stub.
//
//     producers ──exchange──▶ head_ (newest) … tail_ (stub = last popped) ◀── consumer
//
// push:  n.next = null; prev = head_.exchange(n); prev.next = n
//        One atomic exchange: wait-free. Between the exchange and the store
//        to prev.next the node is in the queue but not yet reachable by the
//        consumer; `try_pop` then reports empty and `maybe_nonempty` reports
//        true, which is what the mailbox's no-lost-wake-up check needs.
//        The two steps are exposed (enter/link) so the mailbox can notify
//        its owner between them.
// pop:   next = tail_.next; if next: free(tail_); tail_ = next; return next
//        The returned node stays the stub until the next pop: the caller may
//        destroy its payload but must not free it; the queue frees it.
//
// Empty mark (Pony's messageq_markempty): the consumer may tag head_'s low
// bit when the queue is empty (`try_mark_empty`). The next producer's
// exchange returns the tagged pointer, so exactly one producer learns that
// it ended an empty stretch; the mailbox uses that to make the sends to a busy
// actor skip its status word entirely.
//
// Linearizable FIFO: producers are ordered by their exchange on head_.
// Does NOT guarantee: that a pushed node is visible to `try_pop` before the
// producer's second store (see above); that `try_pop` is lock-free for the
// consumer (a producer stalled between its two steps blocks the consumer's
// view of everything pushed after it — the price of a one-atomic push).
#pragma once

#include <atomic>
#include <cstdint>

#include "shoal/detail/config.hpp"
#include "shoal/envelope.hpp"

namespace shoal::detail {

class MpscQueue {
 public:
  MpscQueue() noexcept : head_(reinterpret_cast<std::uintptr_t>(&stub_)), tail_(&stub_) {}
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;
  /// Destroys and frees every node still queued. Consumer-only.
  ~MpscQueue() { clear(); }

  // -- producers (any thread) ----------------------------------------------

  /// Appends `n`; takes ownership. True if the queue was marked empty
  /// (see try_mark_empty). Thread-safe, wait-free, does not allocate.
  bool push(Envelope* n) noexcept {
    Entered in = enter(n);
    link(in, n);
    return in.was_marked;
  }

  /// What enter() found at the head: the predecessor to link to, and
  /// whether the consumer had marked the queue empty.
  struct Entered {
    Envelope* prev;
    bool was_marked;
  };

  /// push() in two steps, for a caller that must act in between (the
  /// mailbox notifies its owner there). enter() puts `n` in the queue —
  /// maybe_nonempty() sees it from then on; link() makes it reachable by
  /// try_pop. Call both, in order.
  Entered enter(Envelope* n) noexcept {
    // relaxed: published by the release store into prev->next in link().
    n->next.store(nullptr, std::memory_order_relaxed);
    // acq_rel: acquire orders our later store into prev->next after the
    // previous producer's own writes to prev (or after the consumer's last
    // read of it, via its release CAS in try_mark_empty); release publishes
    // n's fields to the next producer, which stores into n->next.
    auto prev = head_.exchange(reinterpret_cast<std::uintptr_t>(n), std::memory_order_acq_rel);
    return {reinterpret_cast<Envelope*>(prev & ~mark_bit), (prev & mark_bit) != 0};
  }
  /// enter() for a chain ending at `last`, already linked through `next`
  /// by the caller (relaxed stores: link(in, first) publishes them). One
  /// exchange for the whole chain; FIFO within it.
  Entered enter_chain(Envelope* last) noexcept {
    // relaxed: published by the release store into prev->next in link().
    last->next.store(nullptr, std::memory_order_relaxed);
    // acq_rel: as in enter().
    auto prev = head_.exchange(reinterpret_cast<std::uintptr_t>(last), std::memory_order_acq_rel);
    return {reinterpret_cast<Envelope*>(prev & ~mark_bit), (prev & mark_bit) != 0};
  }
  void link(Entered in, Envelope* n) noexcept {
    // release: pairs with the acquire load of `next` in try_pop.
    in.prev->next.store(n, std::memory_order_release);
  }

  // -- consumer (one thread at a time) -------------------------------------

  /// The oldest node, or null if none is reachable yet. The node stays owned
  /// by the queue: destroy its payload when done, never free it.
  /// Consumer-only, does not block; frees the previous stub.
  Envelope* try_pop() noexcept {
    Envelope* stub = tail_;
    // acquire: pairs with the release store of prev->next in push.
    Envelope* next = stub->next.load(std::memory_order_acquire);
    if (next == nullptr) return nullptr;
    tail_ = next;
    release_stub(stub);
    return next;
  }

  /// The node try_pop would return, left in the queue; null if none is
  /// reachable yet. Consumer-only.
  const Envelope* peek() const noexcept {
    // acquire: pairs with the release store of prev->next in push.
    return tail_->next.load(std::memory_order_acquire);
  }

  /// The node pushed last — entered, maybe not linked yet — or, with none
  /// queued, the stub (front()). A snapshot that bounds a consumer's
  /// batch to what was queued when it began. Consumer-only.
  const Envelope* newest() const noexcept {
    // acquire: pairs with the exchange in enter().
    return reinterpret_cast<const Envelope*>(head_.load(std::memory_order_acquire) & ~mark_bit);
  }
  /// The stub: the node popped last (or the initial one). Consumer-only.
  const Envelope* front() const noexcept { return tail_; }

  /// True if a node is reachable by try_pop now. Consumer-only.
  bool has_next() const noexcept {
    // acquire: pairs with the release store of prev->next in push.
    return tail_->next.load(std::memory_order_acquire) != nullptr;
  }

  /// True if a node was pushed and not yet popped, including one whose
  /// producer has entered it but not linked it yet. Consumer-only.
  bool maybe_nonempty() const noexcept {
    // acquire: pairs with the exchange in enter(), so a producer's earlier
    // writes (its notification of the mailbox) are visible after a true.
    return (head_.load(std::memory_order_acquire) & ~mark_bit) !=
           reinterpret_cast<std::uintptr_t>(tail_);
  }

  /// Marks an empty queue so that the next push reports `was_marked`. True
  /// if the queue is empty and now marked (or already was); false if a node
  /// was entered, linked or not. Consumer-only, one CAS, does not block.
  bool try_mark_empty() noexcept {
    auto empty = reinterpret_cast<std::uintptr_t>(tail_);
    // acq_rel: release pairs with the acquire exchange in enter() (our
    // reads of the stub happen before the next producer writes its `next`);
    // acquire on failure is not needed: the caller only learns "not empty".
    if (head_.compare_exchange_strong(empty, empty | mark_bit, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
      return true;
    }
    return empty == (reinterpret_cast<std::uintptr_t>(tail_) | mark_bit);
  }

  /// Destroys and frees every reachable node; returns how many. Consumer-only.
  template <class OnEach>
  std::size_t drain(OnEach&& on_each) noexcept {
    std::size_t n = 0;
    while (Envelope* e = try_pop()) {
      on_each(*e);
      e->destroy_payload();
      ++n;
    }
    return n;
  }

 private:
  void clear() noexcept {
    drain([](Envelope&) {});
    release_stub(tail_);
    tail_ = &stub_;
  }

  void release_stub(Envelope* stub) noexcept {
    if (stub != &stub_) free_node(stub);
  }

  // Producers write head_, the consumer writes tail_. They share a cache line
  // on purpose: a mailbox exists per actor, and padding both to their own
  // lines would triple an idle actor's footprint (DESIGN.md: a few hundred
  // bytes per actor). Hot fan-in receivers pay the false sharing.
  static constexpr std::uintptr_t mark_bit = 1;
  static_assert(alignof(Envelope) >= 2, "the empty mark lives in a node pointer's low bit");

  std::atomic<std::uintptr_t> head_;  // newest node, low bit = empty mark
  Envelope* tail_;
  Envelope stub_;  // the initial stub; never freed
};

}  // namespace shoal::detail
