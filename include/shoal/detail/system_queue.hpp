// SystemQueue: the MPSC queue of a mailbox's system messages (watch, unwatch,
// terminated, failures of children, directives).
//
// Why not MpscQueue (the user queue): system messages are rare, and every
// actor has a system queue, so its size matters more than its push cost. An
// MpscQueue is 32 bytes (head, tail, stub); this is 16 (a producers' stack
// and the consumer's batch). It also has no stub, so a popped node belongs to
// the caller at once — a resident node (a child's Terminated, which holds a
// reference to the child) is released right after it is handled, not at the
// next pop.
//
// push:  a Treiber stack: CAS the node onto `head_` (lock-free, not
//        wait-free: a producer retries only when another one pushed).
// pop:   the consumer takes the whole stack with one exchange, reverses it
//        into `batch_` (oldest first), and pops from the batch; it looks at
//        `head_` again only when the batch is empty.
//
// FIFO across all producers: pushes are ordered by their successful CAS; a
// taken stack holds a contiguous run of that order, reversed back; later
// pushes land in a later take.
#pragma once

#include <atomic>
#include <cstddef>

#include "shoal/envelope.hpp"

namespace shoal::detail {

class SystemQueue {
 public:
  SystemQueue() noexcept = default;
  SystemQueue(const SystemQueue&) = delete;
  SystemQueue& operator=(const SystemQueue&) = delete;
  /// Destroys and frees every node still queued. Consumer-only.
  ~SystemQueue() {
    drain([](Envelope&) {});
  }

  /// Appends `e`; takes ownership. Thread-safe, lock-free, does not allocate.
  void push(Envelope* e) noexcept {
    // relaxed: the CAS below re-reads head_ on failure; nothing is read
    // through the loaded pointer.
    Envelope* h = head_.load(std::memory_order_relaxed);
    do {
      // relaxed: published by the release CAS.
      e->next.store(h, std::memory_order_relaxed);
      // release: pairs with the acquire exchange in try_pop (the node's
      // payload and link are visible to the consumer that takes it).
    } while (
        !head_.compare_exchange_weak(h, e, std::memory_order_release, std::memory_order_relaxed));
  }

  /// The oldest message, or null. The caller owns it (destroy_envelope when
  /// done). Consumer-only; wait-free.
  Envelope* try_pop() noexcept {
    if (batch_ == nullptr) {
      // relaxed: a cheap "anything?" check before the locked exchange; the
      // exchange's acquire is what orders the nodes' contents.
      if (head_.load(std::memory_order_relaxed) == nullptr) return nullptr;
      // acquire: pairs with the release CAS in push.
      Envelope* taken = head_.exchange(nullptr, std::memory_order_acquire);
      Envelope* oldest_first = nullptr;
      while (taken != nullptr) {
        // relaxed (both): the nodes are ours now (single consumer).
        Envelope* newer_to_older = taken->next.load(std::memory_order_relaxed);
        taken->next.store(oldest_first, std::memory_order_relaxed);
        oldest_first = taken;
        taken = newer_to_older;
      }
      batch_ = oldest_first;
      if (batch_ == nullptr) return nullptr;
    }
    Envelope* e = batch_;
    batch_ = e->next.load(std::memory_order_relaxed);  // relaxed: ours, see above
    return e;
  }

  /// True if a message is queued (pushed and not popped). Consumer-only.
  bool maybe_nonempty() const noexcept {
    // acquire: pairs with the release CAS in push, so a producer's writes
    // before its push (and its later notification) are ordered after a true.
    return batch_ != nullptr || head_.load(std::memory_order_acquire) != nullptr;
  }

  /// Pops every message, passes it to `on_each`, destroys and frees it;
  /// returns how many. Consumer-only.
  template <class OnEach>
  std::size_t drain(OnEach&& on_each) noexcept {
    std::size_t n = 0;
    while (Envelope* e = try_pop()) {
      on_each(*e);
      destroy_envelope(e);
      ++n;
    }
    return n;
  }

 private:
  std::atomic<Envelope*> head_{nullptr};  // producers' stack, newest first
  Envelope* batch_ = nullptr;             // consumer only, oldest first
};

}  // namespace shoal::detail
