// SpinLock: a test-and-test-and-set lock for critical sections of a few
// instructions (linking a cell into a list).
//
// Why not std::mutex: an uncontended pthread mutex costs two locked
// instructions (lock and unlock); this costs one (unlock is a plain release
// store on x86), and spawn/stop pay it per actor. Contended waiters spin with
// `pause` and yield the CPU after a while, so a holder that was preempted is
// not starved by its waiters.
#pragma once

#include <atomic>
#include <thread>

#include "shoal/detail/config.hpp"

namespace shoal::detail {

class SpinLock {
 public:
  void lock() noexcept {
    // acquire: pairs with the release store in unlock().
    while (locked_.exchange(true, std::memory_order_acquire)) {
      for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {  // relaxed: a hint
        if (spins < 128) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() noexcept {
    // release: pairs with the acquire exchange in lock().
    locked_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace shoal::detail
