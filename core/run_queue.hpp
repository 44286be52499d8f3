// RunQueue: a worker's local queue of runnable mailboxes. The owner pushes
// and pops; idle workers steal half of it.
//
// DESIGN.md names a Chase-Lev deque here. We keep what makes Chase-Lev fit
// (owner operations touch no shared line in the common case except the head
// CAS, thieves take from the far end, the buffer is a plain ring) but pop in
// FIFO order, as Tokio's local queue does: a mailbox that used up its batch is
// re-queued "at the back" and must really run after the others, which an
// owner-LIFO deque would not give (it would run the flooded actor again at
// once and starve the rest). LIFO locality comes from the worker's LIFO slot.
//
//   buf_:  [ … | head_ → oldest … newest | ← tail_ | … ]   (indices mod Capacity)
//
// head_ is advanced by CAS by the owner (pop one) and by thieves (take half);
// tail_ is written only by the owner. Indices are 64-bit and never wrap.
// A thief reads the entries it wants, then claims them with a CAS on head_;
// the owner overwrites a slot only after head_ has moved past it, and then the
// thief's CAS fails, so a torn read is never used.
//
// Does NOT guarantee: that a steal succeeds while the owner pops concurrently
// (it retries a bounded number of times); any order between stolen entries
// and entries the owner pushes meanwhile. Capacity is a template parameter so
// tests can force wrap-around with a tiny ring.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/detail/config.hpp"

namespace shoal {

template <class T, std::size_t Capacity = 256>
class RunQueue {
  static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "power of two");
  static constexpr std::uint64_t mask = Capacity - 1;

 public:
  static constexpr std::size_t capacity = Capacity;

  RunQueue() {
    for (auto& s : buf_) s.store(nullptr, std::memory_order_relaxed);  // relaxed: not yet shared
  }

  // -- owner only ------------------------------------------------------------

  /// Appends `v` at the back; false if the ring is full. Owner-only, wait-free.
  bool try_push(T* v) noexcept {
    std::uint64_t t =
        tail_.load(std::memory_order_relaxed);  // relaxed: only the owner writes tail_
    // acquire: pairs with the CAS on head_ in try_pop / steal_into, so the
    // slot we may overwrite has been read by whoever took it.
    std::uint64_t h = head_.load(std::memory_order_acquire);
    if (t - h >= Capacity) return false;
    buf_[t & mask].store(v, std::memory_order_relaxed);  // relaxed: published by the tail_ store
    // release: pairs with the acquire load of tail_ in steal_into / size.
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  /// Removes the oldest entry, or null. Owner-only, lock-free.
  T* try_pop() noexcept {
    // acquire: pairs with the CAS of a thief, see try_push.
    std::uint64_t h = head_.load(std::memory_order_acquire);
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);  // relaxed: owner's own
    while (h != t) {
      T* v = buf_[h & mask].load(std::memory_order_relaxed);  // relaxed: validated by the CAS
      // acq_rel: claims slot h against thieves (pairs with their CAS).
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return v;
      }
    }
    return nullptr;
  }

  /// Moves up to `n` of the oldest entries out through `out(T*)`, for
  /// spilling to the global queue when the ring is full. Owner-only.
  template <class Out>
  std::size_t pop_many(std::size_t n, Out&& out) noexcept {
    std::size_t moved = 0;
    while (moved < n) {
      T* v = try_pop();
      if (v == nullptr) break;
      out(v);
      ++moved;
    }
    return moved;
  }

  // -- any thread --------------------------------------------------------------

  /// Steals about half of this queue into `dst` (which must be empty and owned
  /// by the caller) and returns one stolen entry to run now, or null.
  /// Thread-safe against the owner and other thieves; lock-free.
  T* steal_into(RunQueue& dst) noexcept {
    std::uint64_t dst_tail = dst.tail_.load(std::memory_order_relaxed);  // relaxed: caller owns dst
    for (int attempt = 0; attempt < 8; ++attempt) {
      // acquire (both): pair with the owner's release of tail_ and the CAS on
      // head_, so the slots we read were written before we read them.
      std::uint64_t h = head_.load(std::memory_order_acquire);
      std::uint64_t t = tail_.load(std::memory_order_acquire);
      std::uint64_t n = t - h;
      if (n == 0) return nullptr;
      if (n > Capacity) continue;  // h was stale: the owner moved on; retry
      std::uint64_t take = n - n / 2;
      for (std::uint64_t i = 0; i < take; ++i) {
        T* v = buf_[(h + i) & mask].load(std::memory_order_relaxed);  // relaxed: validated below
        dst.buf_[(dst_tail + i) & mask].store(
            v, std::memory_order_relaxed);  // relaxed: dst unpublished
      }
      // acq_rel: claims [h, h+take) against the owner and other thieves.
      if (head_.compare_exchange_strong(h, h + take, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
        // The first stolen entry is returned; the rest are published in dst.
        T* first = dst.buf_[dst_tail & mask].load(std::memory_order_relaxed);  // relaxed: ours
        if (take > 1) {
          // dst.head_ must move past `first` too: dst is empty and owned by
          // us, so no one else moves its head_; a plain release store is
          // enough for thieves of dst (they pair with it by acquire).
          dst.head_.store(dst_tail + 1, std::memory_order_release);
          // release: pairs with the acquire load of tail_ by dst's thieves.
          dst.tail_.store(dst_tail + take, std::memory_order_release);
        }
        return first;
      }
    }
    return nullptr;
  }

  /// Number of entries, possibly stale. Thread-safe.
  std::size_t size() const noexcept {
    // acquire: pairs with the owner's release of tail_; seq_cst is not needed
    // because the idle protocol fences around this read (Scheduler).
    std::uint64_t h = head_.load(std::memory_order_acquire);
    std::uint64_t t = tail_.load(std::memory_order_acquire);
    return t > h ? static_cast<std::size_t>(t - h) : 0;
  }

 private:
  // head_ is written by the owner and thieves, tail_ by the owner only.
  alignas(detail::cache_line_size) std::atomic<std::uint64_t> head_{0};
  alignas(detail::cache_line_size) std::atomic<std::uint64_t> tail_{0};
  alignas(detail::cache_line_size) std::array<std::atomic<T*>, Capacity> buf_;
};

}  // namespace shoal
