// Helpers every core test may use: sanitizer-aware sizes and deadlines that
// fail loudly (never a sleep). The actor-level helpers are in
// runtime_fixture.hpp.
//
// Nothing here asserts a timing. A deadline only turns a hang into a failure
// with a message; it is generous because ThreadSanitizer runs 20–50× slower.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace shoal::test {

// -- sizes and deadlines -------------------------------------------------------------

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_sanitizer = true;
#else
inline constexpr bool under_sanitizer = false;
#endif

/// `release` in an optimised build, `sanitized` under a sanitizer.
constexpr std::uint64_t scaled(std::uint64_t release, std::uint64_t sanitized) noexcept {
  return under_sanitizer ? sanitized : release;
}

/// How long a test waits for something that should happen at once.
inline constexpr std::chrono::seconds deadline{90};

/// Polls `pred` (yielding, never sleeping) until it holds or `limit` passes.
template <class Pred>
::testing::AssertionResult eventually(Pred&& pred, std::string_view what,
                                      std::chrono::seconds limit = deadline) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) {
      return ::testing::AssertionFailure()
             << "timed out after " << limit.count() << " s waiting for " << what;
    }
    std::this_thread::yield();
  }
  return ::testing::AssertionSuccess();
}

/// Waits for a std::future / std::shared_future to become ready.
template <class Future>
::testing::AssertionResult ready_within(const Future& f, std::string_view what,
                                        std::chrono::seconds limit = deadline) {
  if (f.wait_for(limit) != std::future_status::ready) {
    return ::testing::AssertionFailure()
           << "timed out after " << limit.count() << " s waiting for " << what;
  }
  return ::testing::AssertionSuccess();
}

/// Concatenates anything streamable. (Also avoids g++ 12's false -Wrestrict
/// on `"literal" + std::to_string(n)`.)
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

/// A queue test's message: which producer sent it and its sequence number.
struct Item {
  std::uint32_t producer;
  std::uint64_t seq;
};

/// A payload that counts its destructions (moved-from objects do not count).
struct Counted {
  explicit Counted(int* destroyed) : destroyed(destroyed) {}
  Counted(Counted&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
  ~Counted() {
    if (destroyed != nullptr) ++*destroyed;
  }
  int* destroyed;
};

}  // namespace shoal::test
