// RunQueue: a worker's local deque of runnable mailboxes (Chase and Lev,
// "Dynamic circular work-stealing deque", SPAA 2005, with the C11 orderings
// of Lê, Pop, Cohen and Zappa Nardelli, PPoPP 2013). The owner pushes and
// pops at the bottom, newest first; thieves take from the top, oldest first.
//
// Why LIFO for the owner: what a handler wakes runs while what it touched is
// still in cache, and a tree of spawns is walked depth first, so the live
// part of it stays small (skynet, 2 workers: 25 MiB peak RSS instead of
// 52, and a third less time; bench/RESULTS.md, run U). Fairness does not
// come from this deque: a mailbox that used up its batch goes to the global
// queue, behind everything, and a worker takes the oldest entry here
// (steal_one, from the top) every so often (Worker::next_local), so a
// burst of new work cannot starve old.
//
//   buf_:  [ … | top_ → oldest … newest | ← bottom_ | … ]   (indices mod Capacity)
//
// top_ only grows, and only by CAS (a thief's; the owner's for the last
// entry, for a spill in pop_many, or in its own steal_one), so a taker's
// CAS fails if anyone took the entry it read; bottom_ is written by the
// owner only. The fixed ring never grows: a full deque refuses the push
// and the worker spills half of it to the global queue.
//
// Where this departs from Lê et al., each argued at its code: try_pop's
// store of bottom_ is release (C++20 release sequences); a thief takes
// about half, one CAS per entry but one fence per steal (steal_into), and
// never more than its own deque can hold; the owner spills with one CAS
// for a whole range (pop_many) and reads top_ only when its last view of it
// says the ring is full (has_room).
//
// Our own because no dependency we take has one (moodycamel's queues are
// FIFO).
//
// Does NOT guarantee: that a steal succeeds while the owner or another thief
// takes concurrently (it gives up after a bounded number of races); any order
// between stolen entries and entries the owner pushes meanwhile. Capacity is a
// template parameter so tests can force wrap-around with a tiny ring.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "shoal/detail/config.hpp"

namespace shoal::detail {

template <class T, std::size_t Capacity = 256>
class RunQueue {
  static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "power of two");
  static constexpr std::int64_t mask = Capacity - 1;
  static constexpr std::int64_t cap = Capacity;

 public:
  static constexpr std::size_t capacity = Capacity;

  RunQueue() {
    for (auto& s : buf_) s.store(nullptr, std::memory_order_relaxed);  // relaxed: not yet shared
  }

  // -- owner only ------------------------------------------------------------

  /// Appends `v` at the bottom; false if the ring is full. Owner-only, wait-free.
  bool try_push(T* v) noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // relaxed: our own
    if (!has_room(b)) return false;
    buf_[b & mask].store(v, std::memory_order_relaxed);  // relaxed: published by bottom_
    // A thief that sees the entry sees what was written before the push.
    // release: pairs with the bottom_ loads in claim_oldest, steal_into, size.
    bottom_.store(b + 1, std::memory_order_release);
    return true;
  }

  /// Removes the newest entry, or null. Owner-only, lock-free.
  T* try_pop() noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;  // relaxed: our own
    // Not relaxed: a thief may read this value of bottom_ instead of the one
    // try_push stored, and must still see the entries below it (C++20
    // release sequences no longer include a thread's later plain stores).
    // Free on x86; the fence below orders it before our read of top_.
    // release: pairs with the bottom_ loads in claim_oldest, steal_into, size.
    bottom_.store(b, std::memory_order_release);
    // seq_cst fence: the store-load barrier of Chase-Lev. Our new bottom_ is
    // visible before we read top_, and pairs with the fence in claim_oldest
    // (and the seq_cst CAS that stands for it in steal_into):
    // a thief and we cannot both miss each other's claim on the last entry.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_relaxed);  // relaxed: after the fence
    if (t > b) {
      // Empty: undo. top_ > b already, so a thief with an older top_ may
      // read a slot, but its CAS fails.
      // release: pairs with the bottom_ loads in claim_oldest, steal_into, size.
      bottom_.store(b + 1, std::memory_order_release);
      return nullptr;
    }
    T* v = buf_[b & mask].load(std::memory_order_relaxed);  // relaxed: we wrote it
    if (t == b) {
      // The last entry: a thief may be taking it. seq_cst: as the thieves'
      // CAS (claim_oldest, steal_into), which it pairs with.
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {  // relaxed: t unused
        v = nullptr;  // a thief won it
      }
      // top_ is b + 1 now, so a thief with an older top_ may read a slot,
      // but its CAS fails.
      // release: pairs with the bottom_ loads in claim_oldest, steal_into, size.
      bottom_.store(b + 1, std::memory_order_release);
    }
    return v;
  }

  /// Moves up to `n` of the oldest entries out through `out(T*)`, for
  /// spilling to the global queue when the ring is full. Owner-only.
  ///
  /// One CAS for the whole range, which a thief may not do (the owner could
  /// be popping the range's last entry from the bottom without a CAS): the
  /// owner is not popping while it runs this, and only it writes slots, so
  /// once top_ moved past the range nobody else reads or reuses them.
  template <class Out>
  std::size_t pop_many(std::size_t n, Out&& out) noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // relaxed: our own
    // relaxed: we read only slots we wrote, and the CAS decides the claim.
    std::int64_t t = top_.load(std::memory_order_relaxed);
    std::int64_t k = 0;
    do {
      k = std::min<std::int64_t>(static_cast<std::int64_t>(n), b - t);
      if (k <= 0) return 0;
      // seq_cst: a claim on top_ like every other taker's (claim_oldest); on
      // failure t is reloaded (relaxed, as the load above) and the range
      // shrinks to what is left.
    } while (!top_.compare_exchange_weak(t, t + k, std::memory_order_seq_cst,
                                         std::memory_order_relaxed));  // relaxed: as the load of t
    for (std::int64_t i = t; i < t + k; ++i) {
      out(buf_[i & mask].load(std::memory_order_relaxed));  // relaxed: we wrote them
    }
    return static_cast<std::size_t>(k);
  }

  // -- any thread --------------------------------------------------------------

  /// Takes the oldest entry, or null if there is none or another taker won
  /// it in each of a few rounds. Thread-safe; the owner may call it too (it
  /// never pops concurrently with itself). Lock-free.
  T* steal_one() noexcept {
    std::int64_t claimed = 0;
    return claim_oldest(claimed);
  }

  /// Steals about half of this deque, oldest first, into `dst` (owned by
  /// the caller, normally empty) and returns the first stolen entry to run
  /// now, or null. Thread-safe against the owner and other thieves.
  T* steal_into(RunQueue& dst) noexcept {
    const std::size_t n = size();
    std::int64_t t = 0;
    T* first = claim_oldest(t);
    if (first == nullptr) return nullptr;
    // One entry at a time: each claim is the algorithm's single-entry CAS
    // (a range claim would race with the owner's pops from the bottom, which
    // take without a CAS). Nothing may be claimed that dst cannot take, or
    // it would be lost: at most `room`.
    // They go into dst newest first, so that dst's owner, popping newest
    // first, runs them in their order here (oldest first: what was queued
    // longest runs first, and cells made in a row are visited in a row).
    std::array<T*, Capacity / 2> got;
    const std::size_t room = std::min(got.size(), dst.room());
    std::size_t count = 0;
    for (std::size_t i = 1; i < n - n / 2 && count < room; ++i) {
      ++t;  // top_ as our last CAS left it
      // seq_cst, and no fence: our CAS just before is a seq_cst RMW of top_
      // that read t - 1, so it stands for claim_oldest's load of top_ and
      // its fence. A seq_cst load after it sees a bottom_ that the owner
      // stored before its own fence, whenever that fence came before our
      // CAS in the single total order; otherwise the owner's read of top_
      // sees our CAS. That is the pairing of claim_oldest, one fence (the
      // costly part on x86) cheaper per entry. Also acquire for try_push's
      // release: the entry is visible.
      const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
      if (t >= b) break;
      T* v = buf_[t & mask].load(std::memory_order_relaxed);  // relaxed: as in claim_oldest
      std::int64_t expected = t;
      // seq_cst: as in claim_oldest (relaxed on failure: not used). A
      // failure means another taker came: the steal already has its first
      // entry, so leave the rest.
      if (!top_.compare_exchange_strong(expected, t + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {  // relaxed: unused
        break;
      }
      got[count++] = v;
    }
    // Cannot fail: we own dst, so only we push to it, and its room only
    // grows while we steal.
    while (count > 0) {
      [[maybe_unused]] const bool pushed = dst.try_push(got[--count]);
      assert(pushed && "steal_into claimed more than its deque could take");
    }
    return first;
  }

  /// Number of entries, possibly stale. Thread-safe.
  std::size_t size() const noexcept {
    // acquire (both): pair with try_push's release and the takers' CAS;
    // seq_cst is not needed because the idle protocol fences around this
    // read (Scheduler).
    const std::int64_t t = top_.load(std::memory_order_acquire);
    const std::int64_t b = bottom_.load(std::memory_order_acquire);
    // A thief's two loads are not one snapshot: top_ may be read long before
    // bottom_, after the owner pushed past a full ring's worth. Clamp, so a
    // caller sizing a copy (steal_into) or the free room never overshoots.
    if (b <= t) return 0;
    return b - t >= cap ? Capacity : static_cast<std::size_t>(b - t);
  }

 private:
  /// Whether a push at bottom `b` would succeed now. Owner-only. Reads top_
  /// only when the last value seen says the ring is full: top_ only grows,
  /// so an old value errs on the side of "full", and the owner does not pull
  /// the line the thieves' CASes write on every push.
  bool has_room(std::int64_t b) noexcept {
    if (b - top_seen_ < cap) return true;
    // acquire: pairs with the takers' CAS on top_: the slots we may now
    // reuse were read by whoever took their entries, before that CAS.
    top_seen_ = top_.load(std::memory_order_acquire);
    return b - top_seen_ < cap;
  }

  /// How many pushes would succeed now, at least. Owner-only.
  std::size_t room() noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // relaxed: our own
    top_seen_ = top_.load(std::memory_order_acquire);                // acquire: as in has_room
    return static_cast<std::size_t>(cap - (b - top_seen_));
  }

  /// steal_one, also telling which index it took (`claimed`).
  T* claim_oldest(std::int64_t& claimed) noexcept {
    for (int attempt = 0; attempt < 8; ++attempt) {
      // acquire, as in Lê et al.: pairs with the CAS of an earlier taker
      // (a seq_cst RMW), so what it did before is visible. Not what makes
      // the claim safe: the fence and the CAS below do that.
      std::int64_t t = top_.load(std::memory_order_acquire);
      // seq_cst fence: pairs with the one in try_pop (see there).
      std::atomic_thread_fence(std::memory_order_seq_cst);
      // acquire: pairs with try_push's release store: the entry and what the
      // owner wrote before pushing it are visible.
      const std::int64_t b = bottom_.load(std::memory_order_acquire);
      if (t >= b) return nullptr;
      // relaxed: if the slot was refilled since, top_ moved past t and the
      // CAS below fails, so a stale value is never used.
      T* v = buf_[t & mask].load(std::memory_order_relaxed);
      // seq_cst: claims entry t against the owner's last-entry CAS and other
      // thieves (Lê et al.). relaxed on failure: t is reloaded next round.
      if (top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {  // relaxed: t reloaded
        claimed = t;
        return v;
      }
    }
    return nullptr;
  }

  // top_ is written by every taker (CAS only), bottom_ by the owner only;
  // top_seen_ is the owner's, on bottom_'s line, which only it writes.
  alignas(detail::cache_line_size) std::atomic<std::int64_t> top_{0};
  alignas(detail::cache_line_size) std::atomic<std::int64_t> bottom_{0};
  std::int64_t top_seen_ = 0;  // a recent value of top_ (has_room)
  alignas(detail::cache_line_size) std::array<std::atomic<T*>, Capacity> buf_;
};

}  // namespace shoal::detail
