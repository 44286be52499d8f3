#include "core/detail/parker.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace shoal::detail {

namespace {

long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val,
           const timespec* timeout = nullptr) noexcept {
  // std::atomic<uint32_t> is layout-compatible with uint32_t on Linux targets.
  // FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC).
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op | FUTEX_PRIVATE_FLAG, val,
                 timeout, nullptr, 0);
}

}  // namespace

void Parker::park() noexcept {
  // acquire: pairs with the release exchange in unpark(), so what the waker
  // did before waking us (e.g. queueing work) is visible after we return.
  while (token_.exchange(0, std::memory_order_acquire) == 0) {
    // Sleeps only if the token is still 0: an unpark between the exchange
    // and here changes it to 1 and the kernel returns EAGAIN at once.
    futex(&token_, FUTEX_WAIT, 0);
  }
}

bool Parker::park_for(std::chrono::nanoseconds timeout) noexcept {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  // acquire: pairs with the release exchange in unpark(), as in park().
  while (token_.exchange(0, std::memory_order_acquire) == 0) {
    const auto left = deadline - clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return false;
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
    const timespec ts{static_cast<time_t>(secs.count()),
                      static_cast<long>((left - secs).count())};
    futex(&token_, FUTEX_WAIT, 0, &ts);  // woken, timed out, EAGAIN or EINTR: look again
  }
  return true;
}

void Parker::unpark() noexcept {
  // release: pairs with the acquire exchange in park().
  if (token_.exchange(1, std::memory_order_release) == 0) {
    futex(&token_, FUTEX_WAKE, 1);
  }
}

}  // namespace shoal::detail
