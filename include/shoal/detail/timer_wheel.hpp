// TimerWheel: the hierarchical hashed timing wheel each worker owns.
//
// Timers (receive timeouts, request timeouts, send_after, delayed restarts)
// are intrusive nodes linked into one of `levels` wheels of 64 slots. Level
// L's slots each span 64^L ticks, so six levels cover 64^6 ticks (about 2.2
// years at the scheduler's 1 ms tick). A timer goes to the lowest level
// whose slot span separates its deadline from the current tick: insert and
// remove are O(1) (a doubly linked list per slot), and advancing moves the
// timers of a higher-level slot down a level when its span begins, so each
// timer is touched at most `levels` times before it fires. A 64-bit
// occupancy word per level finds the next non-empty slot with one rotate and
// one count of trailing zeros: the next expiry costs O(levels), which is
// what a parking worker needs to set its sleep (Varghese & Lauck 1987; the
// occupancy words as in Tokio's wheel and the Linux kernel's timer wheel).
//
// Why our own: Debian ships no C++ timer wheel, and a heap would make a
// worker's cancel O(log n) with tombstones; the wheel is single-threaded
// (owner only), so it is short.
//
// Owner thread only (a worker's wheel: its thread, or the monitor while the
// worker is stalled, as worker.hpp describes): other threads hand timers
// over through the scheduler (Scheduler::add_timer). Deadlines are in
// ticks since the scheduler began. A timer never fires before its
// deadline; it fires at the first advance() whose `now` reaches it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::detail {

class TimerWheel;

/// One pending timer: a node the wheel links. Subclasses say what expiry
/// does. The wheel does not own the memory; expire() and discard() are the
/// subclass's chance to free it.
class Timer {
 public:
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// The deadline, in scheduler ticks.
  std::uint64_t deadline() const noexcept { return deadline_; }
  /// Set before the timer is handed to a wheel (or to the scheduler).
  void set_deadline(std::uint64_t tick) noexcept { deadline_ = tick; }
  /// True while linked in a wheel. Owner thread of that wheel only.
  bool linked() const noexcept { return wheel_ != nullptr; }

  /// The deadline has passed: the wheel has unlinked the timer. Runs on the
  /// wheel's owner thread, or on the scheduler's monitor while that owner
  /// is stalled in a long run (Worker::expire_for_stalled); may insert
  /// timers into the same wheel (through Scheduler::add_timer).
  virtual void expire() noexcept = 0;
  /// The wheel is shutting down with the timer pending (it will never fire).
  virtual void discard() noexcept = 0;
  /// Cancellable timers (Scheduler::cancel_timer): gives back one reference
  /// the wheel or a cancel request held, without firing.
  virtual void drop() noexcept {}
  /// Cancellable timers: true once cancelled, so that an arm still on its way
  /// to the owner's wheel is dropped instead of linked.
  virtual bool is_cancelled() const noexcept { return false; }

  /// The worker whose wheel holds (or will hold) the timer; set by the
  /// scheduler before any other thread can see the timer.
  std::uint32_t owner() const noexcept { return owner_; }
  void set_owner(std::uint32_t w) noexcept { owner_ = w; }

 protected:
  ~Timer() = default;

 private:
  friend class TimerWheel;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  std::uint64_t deadline_ = 0;
  TimerWheel* wheel_ = nullptr;
  std::uint32_t owner_ = 0;
  std::uint8_t level_ = 0;  // where it is filed (or TimerWheel::due_level / firing_level)
  std::uint8_t slot_ = 0;
};

class TimerWheel {
 public:
  static constexpr unsigned levels = 6;
  static constexpr unsigned slot_bits = 6;
  static constexpr unsigned slots = 1u << slot_bits;
  /// Ticks the levels span. A deadline further away is filed in the top
  /// level's slot that comes round last and re-filed from there (it still
  /// fires on time).
  static constexpr std::uint64_t span = std::uint64_t{1} << (levels * slot_bits);
  static constexpr std::uint64_t never = UINT64_MAX;

  explicit TimerWheel(std::uint64_t now = 0) noexcept : now_(now) {}
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  /// Discards the timers still pending (discard_all).
  ~TimerWheel() { discard_all(); }

  /// The tick up to which every due timer has fired.
  std::uint64_t now() const noexcept { return now_; }
  /// Timers linked.
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Links `t` to fire at its deadline(); a deadline not after now() fires at
  /// the next advance(). `t` must not be linked.
  void insert(Timer* t) noexcept;
  /// Unlinks `t` if it is linked in this wheel; it will not fire.
  void remove(Timer* t) noexcept;
  /// Fires every timer whose deadline is at or before `now` (earlier
  /// deadlines first, across slots); returns how many fired. Timers inserted
  /// by an expire() with a deadline not after `now` fire at the next call.
  std::size_t advance(std::uint64_t now) noexcept;
  /// A tick at or before the earliest pending deadline (exact when that
  /// timer sits in level 0), or `never` when empty. O(levels).
  std::uint64_t next_expiry() const noexcept;
  /// Unlinks every pending timer and calls its discard().
  void discard_all() noexcept;

 private:
  static constexpr std::uint8_t due_level = 0xff;     // in due_
  static constexpr std::uint8_t firing_level = 0xfe;  // in firing_ (advance)
  /// Files a timer relative to now_: the due list, or (level, slot).
  void place(Timer* t) noexcept;
  void push(Timer*& head, Timer* t) noexcept;
  void unlink(Timer* t) noexcept;
  /// The start tick of the next non-empty slot of `level` (after now_), or
  /// `never`; `slot` receives its index.
  std::uint64_t level_next(unsigned level, unsigned& slot) const noexcept;

  // Invariant: a timer filed at (L, s) has a slot start after now_, in the
  // same level-(L+1) span as now_ or (filed far away) the next one; so the
  // first non-empty level holds the earliest deadlines.
  std::uint64_t now_;
  std::size_t size_ = 0;
  Timer* due_ = nullptr;     // deadlines already reached when inserted
  Timer* firing_ = nullptr;  // due_ as advance() took it
  std::uint64_t occupied_[levels] = {};
  Timer* wheel_[levels][slots] = {};
};

}  // namespace shoal::detail
