#include "core/detail/process_fence.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "shoal/log.hpp"

namespace shoal::detail {

namespace {
long membarrier(int cmd) noexcept { return ::syscall(__NR_membarrier, cmd, 0U, 0); }
}  // namespace

bool enable_process_fence() noexcept {
  const long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void process_fence() noexcept {
  // Registered (enable_process_fence), so this cannot fail but for a bug:
  // a fence that silently did nothing would break the owner's protocol.
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
    shoal::log(LogLevel::error, "process fence", std::strerror(errno));
    std::abort();
  }
}

}  // namespace shoal::detail
