// DeadLetters: counted per reason, published to the observer with their
// fields, exact under concurrent publishers, and immune to a throwing
// observer.
#include "shoal/dead_letters.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/test_support.hpp"

namespace shoal {
namespace {

constexpr DeadLetterReason all_reasons[] = {
    DeadLetterReason::target_stopped, DeadLetterReason::empty_pid,
    DeadLetterReason::unhandled,      DeadLetterReason::mailbox_full,
    DeadLetterReason::dropped_oldest, DeadLetterReason::stopped_with_mail,
    DeadLetterReason::no_sender,      DeadLetterReason::late_response,
    DeadLetterReason::not_serializable, DeadLetterReason::outbound_full,
    DeadLetterReason::connection_lost,  DeadLetterReason::unknown_type,
    DeadLetterReason::malformed,        DeadLetterReason::too_large,
    DeadLetterReason::untrusted,
};
static_assert(std::size(all_reasons) == dead_letter_reason_count);

TEST(DeadLetters, StartsAtZero) {
  DeadLetters d;
  EXPECT_EQ(d.total(), 0u);
  for (auto r : all_reasons) EXPECT_EQ(d.count(r), 0u) << to_string(r);
}

TEST(DeadLetters, CountsEachReasonSeparately) {
  DeadLetters d;
  std::uint64_t expected_total = 0;
  for (std::size_t i = 0; i < std::size(all_reasons); ++i) {
    for (std::size_t k = 0; k <= i; ++k) d.publish({1, "T", all_reasons[i]});
    expected_total += i + 1;
  }
  for (std::size_t i = 0; i < std::size(all_reasons); ++i) {
    EXPECT_EQ(d.count(all_reasons[i]), i + 1) << to_string(all_reasons[i]);
  }
  EXPECT_EQ(d.total(), expected_total);
}

TEST(DeadLetters, ObserverSeesEveryDeadLetterWithItsFields) {
  std::vector<std::tuple<std::uint64_t, std::string, DeadLetterReason>> seen;
  DeadLetters d([&](const DeadLetter& l) {
    seen.emplace_back(l.target_id, std::string(l.type_name), l.reason);
  });
  d.publish({42, "Foo", DeadLetterReason::unhandled});
  d.publish({0, "Bar", DeadLetterReason::empty_pid});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0],
            std::make_tuple(std::uint64_t{42}, std::string("Foo"), DeadLetterReason::unhandled));
  EXPECT_EQ(seen[1],
            std::make_tuple(std::uint64_t{0}, std::string("Bar"), DeadLetterReason::empty_pid));
}

TEST(DeadLetters, AThrowingObserverIsIgnoredAndCountingGoesOn) {
  int calls = 0;
  DeadLetters d([&](const DeadLetter&) {
    ++calls;
    throw std::runtime_error("observer failure");
  });
  d.publish({1, "T", DeadLetterReason::target_stopped});
  d.publish({1, "T", DeadLetterReason::target_stopped});
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(d.count(DeadLetterReason::target_stopped), 2u);
}

TEST(DeadLetters, ReasonsHaveDistinctReadableNames) {
  EXPECT_EQ(to_string(DeadLetterReason::target_stopped), "target_stopped");
  EXPECT_EQ(to_string(DeadLetterReason::empty_pid), "empty_pid");
  EXPECT_EQ(to_string(DeadLetterReason::unhandled), "unhandled");
  EXPECT_EQ(to_string(DeadLetterReason::mailbox_full), "mailbox_full");
  EXPECT_EQ(to_string(DeadLetterReason::dropped_oldest), "dropped_oldest");
  EXPECT_EQ(to_string(DeadLetterReason::stopped_with_mail), "stopped_with_mail");
}

TEST(DeadLetters, ConcurrentPublishersAreCountedExactly) {
  const unsigned threads = 4;
  const std::uint64_t each = test::scaled(100'000, 10'000);
  std::atomic<std::uint64_t> observed{0};
  DeadLetters d([&](const DeadLetter&) { observed.fetch_add(1, std::memory_order_relaxed); });
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < each; ++i) d.publish({t, "T", all_reasons[i % 6]});
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(d.total(), threads * each);
  EXPECT_EQ(observed.load(), threads * each);
}

}  // namespace
}  // namespace shoal
