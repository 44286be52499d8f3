// BoundedQueue: a fixed-capacity multi-producer multi-consumer FIFO ring of
// envelope pointers, for bounded mailboxes.
//
// Why our own: the bounded mailbox's drop-oldest policy needs a producer that
// finds the ring full to remove the oldest entry itself (a second consumer),
// never to wait for the actor. That needs MPMC; moodycamel's bounded mode is
// FIFO per producer only. This is Vyukov's bounded MPMC queue: each cell
// carries a sequence number that says whether it is ready for the producer or
// for the consumer of a given lap, so producers and consumers each claim a
// position with one CAS and never touch each other's counter.
//
// cell.seq == 2·pos          : free, the producer of position `pos` may fill it
// cell.seq == 2·pos + 1      : full, the consumer of position `pos` may take it
// cell.seq == 2·(pos + cap)  : free again for the next lap
// (Vyukov counts in steps of one, which cannot tell "full at pos" from "free
// for pos + 1" when cap = 1; steps of two can, so a bound of 1 is exact too.)
//
// Any capacity works (index = pos % capacity): a bounded mailbox's bound is
// exact, and one division per operation is cheap next to the CAS.
//
// Does NOT guarantee: progress for a consumer while a producer that claimed
// the position before it is stalled between its CAS and its publish (it then
// reports empty); exact `full` (a producer may see `full` while a consumer is
// between claiming and releasing the oldest cell).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "shoal/detail/config.hpp"
#include "shoal/envelope.hpp"

namespace shoal::detail {

class BoundedQueue {
 public:
  /// Holds exactly `capacity` (≥ 1) envelopes. Allocates once.
  explicit BoundedQueue(std::size_t capacity);
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;
  /// Destroys every envelope still queued. No concurrent access allowed.
  ~BoundedQueue();

  std::size_t capacity() const noexcept { return capacity_; }

  /// Appends `e` unless the ring is full; true if appended (ownership taken).
  /// Thread-safe, lock-free, does not allocate.
  bool try_push(Envelope* e) noexcept {
    // relaxed: a stale position only makes the CAS below fail and retry.
    std::size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& c = cells_[pos % capacity_];
      // acquire: pairs with the release store of seq in try_pop, so the
      // consumer's read of the previous lap's value happened before we write.
      std::size_t seq = c.seq.load(std::memory_order_acquire);
      auto dif = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(2 * pos);
      if (dif == 0) {
        // relaxed: the position claim orders nothing; the cell's seq does.
        if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          c.value = e;
          // release: pairs with the acquire load of seq in try_pop.
          c.seq.store(2 * pos + 1, std::memory_order_release);
          return true;
        }
      } else if (dif < 0) {
        return false;  // full
      } else {
        pos = enqueue_pos_.load(std::memory_order_relaxed);  // relaxed: as above
      }
    }
  }

  /// Removes the oldest envelope, or null if empty. Ownership passes to the
  /// caller. Thread-safe (MPMC), lock-free, does not allocate.
  Envelope* try_pop() noexcept {
    // relaxed: a stale position only makes the CAS below fail and retry.
    std::size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& c = cells_[pos % capacity_];
      // acquire: pairs with the release store of seq in try_push.
      std::size_t seq = c.seq.load(std::memory_order_acquire);
      auto dif = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(2 * pos + 1);
      if (dif == 0) {
        // relaxed: the position claim orders nothing; the cell's seq does.
        if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          Envelope* e = c.value;
          // release: pairs with the acquire load of seq in try_push (next lap).
          c.seq.store(2 * (pos + capacity_), std::memory_order_release);
          return e;
        }
      } else if (dif < 0) {
        return nullptr;  // empty
      } else {
        pos = dequeue_pos_.load(std::memory_order_relaxed);  // relaxed: as above
      }
    }
  }

  /// True if the oldest position holds a published envelope, i.e. try_pop
  /// would succeed now (barring a concurrent consumer). Thread-safe.
  bool has_next() const noexcept {
    // relaxed: a stale position only makes the answer stale.
    std::size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    // acquire: pairs with the release store of seq in try_push.
    return cells_[pos % capacity_].seq.load(std::memory_order_acquire) == 2 * pos + 1;
  }

  /// Envelopes pushed and not yet popped, counting one whose producer has
  /// claimed a position but not published it yet: a reading, exact only when
  /// nobody pushes or pops meanwhile; never above capacity(). Thread-safe,
  /// two loads.
  std::size_t size() const noexcept {
    // relaxed (both): a reading that orders nothing. Two loads of two
    // atomics may see them out of step either way (pops between them, or
    // a weakly ordered machine showing an older enqueue_pos_), hence both
    // clamps.
    const std::size_t out = dequeue_pos_.load(std::memory_order_relaxed);
    const std::size_t in = enqueue_pos_.load(std::memory_order_relaxed);
    return in > out ? std::min(in - out, capacity_) : 0;
  }

  /// True if some envelope was pushed and not yet popped, including one whose
  /// producer has claimed a position but not published it. Thread-safe.
  bool maybe_nonempty() const noexcept {
    return enqueue_pos_.load(std::memory_order_seq_cst) !=
           dequeue_pos_.load(std::memory_order_seq_cst);
  }

 private:
  struct Cell {
    std::atomic<std::size_t> seq;
    Envelope* value;
  };

  std::size_t capacity_;
  std::unique_ptr<Cell[]> cells_;
  // Written by producers / by consumers respectively.
  alignas(detail::cache_line_size) std::atomic<std::size_t> enqueue_pos_{0};
  alignas(detail::cache_line_size) std::atomic<std::size_t> dequeue_pos_{0};
};

}  // namespace shoal::detail
