// Build-wide constants and small helpers the inline hot paths need.
#pragma once

#include <cstddef>

/// For the thread-locals the inline paths read (the outbox, the current
/// message, the active trace, the current worker): the initial-exec model,
/// so position-independent code reads each with one %fs-relative load
/// (which the linker turns into a constant offset in an executable)
/// instead of a call to __tls_get_addr. A shared object that uses them,
/// even dlopen()ed, takes their few dozen bytes from glibc's static TLS
/// reserve.
///
/// AddressSanitizer builds keep the default model: there GCC 12's UBSan
/// reports such a thread-local's address as a null pointer (the access
/// itself is fine), and their speed does not matter.
#if defined(__SANITIZE_ADDRESS__)
#define SHOAL_TLS_INITIAL_EXEC
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHOAL_TLS_INITIAL_EXEC
#endif
#endif
#ifndef SHOAL_TLS_INITIAL_EXEC
#define SHOAL_TLS_INITIAL_EXEC [[gnu::tls_model("initial-exec")]]
#endif

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
