// An asymmetric fence: a cheap side (compiler-only ordering, on every
// operation) paired with an expensive side (membarrier, rarely) that makes
// every thread of the process execute a full barrier.
//
// The Worker's LIFO slot and held mailbox use it (worker.hpp, "giving up a
// stalled worker's cells"): the owner does plain loads and stores on every
// hop and looks at a flag after them; the monitor, once in a while, sets the
// flag and calls process_fence(), after which either the owner's stores are
// visible to it or the owner's next look sees the flag. Dekker's store→load
// pair with the cost moved entirely to the rare side, as in Linux's RCU
// and in userspace-RCU's membarrier flavour.
#pragma once

#include <atomic>

namespace shoal::detail {

/// Registers the process for process_fence() (MEMBARRIER_CMD_REGISTER_
/// PRIVATE_EXPEDITED). False if the kernel lacks it; then process_fence()
/// must not be relied on. Thread-safe; idempotent; a system call.
bool enable_process_fence() noexcept;

/// Every running thread of this process executes a full memory barrier
/// before this returns (membarrier PRIVATE_EXPEDITED; a few µs, an IPI to
/// each CPU running one of our threads). Only after enable_process_fence()
/// returned true. Thread-safe; blocks briefly.
void process_fence() noexcept;

/// The cheap side: keeps the compiler from moving memory accesses across
/// it; the CPU may still (process_fence() covers that).
inline void light_fence() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

}  // namespace shoal::detail
