// Build-wide constants and small helpers the inline hot paths need.
#pragma once

#include <cstddef>

namespace shoal::detail {

/// The unit of false sharing on the machines we target (x86-64, most arm64).
/// std::hardware_destructive_interference_size is not stable across compiler
/// flags (g++ warns), so the project fixes its own value.
inline constexpr std::size_t cache_line_size = 64;

/// Tells the core that this thread is spinning (x86 `pause`, arm `yield`).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace shoal::detail
