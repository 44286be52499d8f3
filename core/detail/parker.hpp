// Parker: puts one worker thread to sleep until another thread unparks it.
//
// A futex on a 32-bit token. `unpark` before `park` is not lost: the token
// stays set and the next `park` returns at once. This is the only place in
// core/ that makes a blocking system call; it is Linux-specific on purpose
// (futex is the cheapest sleep/wake the kernel offers, and DESIGN.md measured
// every alternative at the same ~11–38 µs wake-up cost).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shoal::detail {

class Parker {
 public:
  /// Blocks until unpark() has been called since the last park() returned.
  /// Owner thread only. Never allocates.
  void park() noexcept;
  /// Like park(), but returns after `timeout` at the latest. True if it
  /// returned because of an unpark (the wake-up is consumed), false if the
  /// time ran out (a later unpark stays pending for the next park).
  bool park_for(std::chrono::nanoseconds timeout) noexcept;
  /// Wakes the owner if parked, or makes its next park() return at once.
  /// Thread-safe. One futex syscall at most.
  void unpark() noexcept;

 private:
  // 0 = no pending wake-up, 1 = pending. Written by the waker and the owner.
  std::atomic<std::uint32_t> token_{0};
};

}  // namespace shoal::detail
