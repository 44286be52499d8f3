#include "core/detail/parker.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace shoal::detail {

namespace {

long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val) noexcept {
  // std::atomic<uint32_t> is layout-compatible with uint32_t on Linux targets.
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op | FUTEX_PRIVATE_FLAG, val,
                 nullptr, nullptr, 0);
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

void Parker::unpark() noexcept {
  // release: pairs with the acquire exchange in park().
  if (token_.exchange(1, std::memory_order_release) == 0) {
    futex(&token_, FUTEX_WAKE, 1);
  }
}

}  // namespace shoal::detail
