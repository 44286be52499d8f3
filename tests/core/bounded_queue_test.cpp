// BoundedQueue: an exact, non-power-of-two capacity; FIFO across many laps of
// the ring; and MPMC stress where every item moves exactly once.
#include "shoal/detail/bounded_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/test_support.hpp"

namespace shoal::detail {
namespace {

using test::Counted;
using test::Item;

using test::deadline;
using test::scaled;

/// Pops one envelope, returns its sequence number and frees it (-1 if empty).
std::int64_t pop_seq(BoundedQueue& q) {
  Envelope* e = q.try_pop();
  if (e == nullptr) return -1;
  auto seq = static_cast<std::int64_t>(e->get<Item>()->seq);
  destroy_envelope(e);
  return seq;
}

/// Pushes an Item; frees it and returns false if the queue refused it.
bool push_seq(BoundedQueue& q, std::uint64_t seq) {
  Envelope* e = make_envelope(Item{0, seq});
  if (q.try_push(e)) return true;
  destroy_envelope(e);
  return false;
}

TEST(BoundedQueue, HoldsExactlyItsNonPowerOfTwoCapacity) {
  for (std::size_t cap : {3u, 5u, 6u, 7u, 100u}) {
    BoundedQueue q(cap);
    EXPECT_EQ(q.capacity(), cap);
    for (std::size_t i = 0; i < cap; ++i)
      EXPECT_TRUE(push_seq(q, i)) << "cap " << cap << " at " << i;
    EXPECT_FALSE(push_seq(q, cap)) << "cap " << cap << ": one more than the capacity fit";
    EXPECT_EQ(pop_seq(q), 0);
    EXPECT_TRUE(push_seq(q, cap)) << "cap " << cap << ": a pop must free exactly one cell";
    EXPECT_FALSE(push_seq(q, cap + 1)) << "cap " << cap;
  }
}

TEST(BoundedQueue, SizeCountsWhatWasPushedAndNotPoppedAcrossLaps) {
  BoundedQueue q(3);
  EXPECT_EQ(q.size(), 0u);
  for (std::uint64_t lap = 0; lap < 5; ++lap) {
    for (std::uint64_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(push_seq(q, i));
      EXPECT_EQ(q.size(), i + 1) << "lap " << lap;
    }
    EXPECT_FALSE(push_seq(q, 3));
    EXPECT_EQ(q.size(), 3u) << "a refused push is not counted";
    for (std::uint64_t i = 0; i < 3; ++i) {
      ASSERT_EQ(pop_seq(q), static_cast<std::int64_t>(i));
      EXPECT_EQ(q.size(), 2 - i) << "lap " << lap;
    }
  }
}

/// Checks that a ring of capacity 1 holds exactly one envelope. A ring that
/// took a second one has overwritten the first, and its try_pop (so also its
/// destructor) then spins forever on the corrupted sequence numbers: it is
/// leaked on purpose, so the failure is reported instead of hanging the
/// whole test binary.
void expect_holds_exactly_one(std::size_t requested) {
  auto* q = new BoundedQueue(requested);
  EXPECT_EQ(q->capacity(), 1u);
  ASSERT_TRUE(push_seq(*q, 0));
  Envelope* second = make_envelope(Item{0, 1});
  if (q->try_push(second)) {
    ADD_FAILURE() << "BoundedQueue(" << requested << ") accepted a second envelope: the first "
                  << "was overwritten (lost) and the ring is corrupt; leaking it";
    return;
  }
  destroy_envelope(second);
  EXPECT_EQ(pop_seq(*q), 0);
  EXPECT_EQ(pop_seq(*q), -1);
  EXPECT_TRUE(push_seq(*q, 2));
  EXPECT_EQ(pop_seq(*q), 2);
  delete q;
}

TEST(BoundedQueue, CapacityOneHoldsExactlyOne) { expect_holds_exactly_one(1); }

TEST(BoundedQueue, ZeroCapacityMeansOne) { expect_holds_exactly_one(0); }

TEST(BoundedQueue, PopsInPushOrder) {
  BoundedQueue q(10);
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(push_seq(q, i));
  for (std::int64_t i = 0; i < 10; ++i) EXPECT_EQ(pop_seq(q), i);
  EXPECT_EQ(pop_seq(q), -1);
}

TEST(BoundedQueue, WrapsAroundForManyLapsInOrder) {
  for (std::size_t cap : {1u, 2u, 3u, 7u}) {
    BoundedQueue q(cap);
    std::uint64_t pushed = 0;
    std::int64_t popped = 0;
    // Vary the fill level so that head and tail meet every cell in every
    // state; 5000 rounds are far more than enough laps for these rings.
    for (int round = 0; round < 5000; ++round) {
      std::size_t fill = 1 + static_cast<std::size_t>(round) % cap;
      for (std::size_t k = 0; k < fill; ++k) {
        if (!push_seq(q, pushed)) break;
        ++pushed;
      }
      std::size_t drain = 1 + static_cast<std::size_t>(round * 7) % cap;
      for (std::size_t k = 0; k < drain; ++k) {
        std::int64_t s = pop_seq(q);
        if (s < 0) break;
        ASSERT_EQ(s, popped) << "cap " << cap << " round " << round;
        ++popped;
      }
    }
    while (true) {
      std::int64_t s = pop_seq(q);
      if (s < 0) break;
      ASSERT_EQ(s, popped++);
    }
    EXPECT_EQ(static_cast<std::uint64_t>(popped), pushed);
    EXPECT_GT(pushed, 20 * cap) << "the test did not lap the ring";
  }
}

TEST(BoundedQueue, MaybeNonemptyTracksPushesAndPops) {
  BoundedQueue q(3);
  EXPECT_FALSE(q.maybe_nonempty());
  ASSERT_TRUE(push_seq(q, 0));
  EXPECT_TRUE(q.maybe_nonempty());
  EXPECT_EQ(pop_seq(q), 0);
  EXPECT_FALSE(q.maybe_nonempty());
}

TEST(BoundedQueue, DestructorDestroysQueuedEnvelopes) {
  int destroyed = 0;
  {
    BoundedQueue q(4);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.try_push(make_envelope(Counted{&destroyed})));
  }
  EXPECT_EQ(destroyed, 3);
}

// -- concurrency ---------------------------------------------------------------------------

struct StressShape {
  unsigned producers;
  unsigned consumers;
  std::size_t capacity;
};

class BoundedQueueStress : public ::testing::TestWithParam<StressShape> {};

TEST_P(BoundedQueueStress, EveryItemMovesExactlyOnceAndEachConsumerSeesProducerOrder) {
  const auto [producers, consumers, capacity] = GetParam();
  const std::uint64_t per_producer = scaled(100'000, 10'000);
  const std::uint64_t total = producers * per_producer;

  BoundedQueue q(capacity);
  // seen[p * per_producer + i] counts how often item (p, i) was popped.
  std::unique_ptr<std::atomic<std::uint8_t>[]> seen(new std::atomic<std::uint8_t>[total]);
  for (std::uint64_t i = 0; i < total; ++i) seen[i].store(0, std::memory_order_relaxed);
  std::atomic<std::uint64_t> popped{0};
  std::atomic<std::uint64_t> order_errors{0};
  std::atomic<bool> timed_out{false};
  const auto end = std::chrono::steady_clock::now() + deadline;
  auto past_deadline = [&] {
    if (std::chrono::steady_clock::now() < end) return false;
    timed_out = true;
    return true;
  };

  std::latch start(producers + consumers);
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer && !timed_out; ++i) {
        Envelope* e = make_envelope(Item{p, i});
        while (!q.try_push(e)) {
          if (past_deadline()) {
            destroy_envelope(e);
            return;
          }
          std::this_thread::yield();
        }
      }
    });
  }
  for (unsigned c = 0; c < consumers; ++c) {
    threads.emplace_back([&] {
      // A linearizable FIFO shows each consumer every producer's items in
      // increasing order (with gaps where other consumers took some).
      std::vector<std::int64_t> last(producers, -1);
      start.arrive_and_wait();
      while (popped.load() < total && !timed_out) {
        Envelope* e = q.try_pop();
        if (e == nullptr) {
          if (past_deadline()) return;
          std::this_thread::yield();
          continue;
        }
        const Item it = *e->get<Item>();
        destroy_envelope(e);
        seen[it.producer * per_producer + it.seq].fetch_add(1);
        if (static_cast<std::int64_t>(it.seq) <= last[it.producer]) order_errors.fetch_add(1);
        last[it.producer] = static_cast<std::int64_t>(it.seq);
        popped.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();

  ASSERT_FALSE(timed_out.load()) << "moved " << popped.load() << " of " << total
                                 << " items before the deadline";
  EXPECT_EQ(popped.load(), total);
  EXPECT_EQ(order_errors.load(), 0u) << "a consumer saw a producer's items out of order";
  std::uint64_t missing = 0, duplicated = 0;
  for (std::uint64_t i = 0; i < total; ++i) {
    auto n = seen[i].load();
    missing += n == 0 ? 1 : 0;
    duplicated += n > 1 ? 1 : 0;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(q.try_pop(), nullptr);
  EXPECT_FALSE(q.maybe_nonempty());
}

INSTANTIATE_TEST_SUITE_P(Shapes, BoundedQueueStress,
                         ::testing::Values(StressShape{1, 1, 1}, StressShape{2, 2, 1},
                                           StressShape{1, 1, 2}, StressShape{2, 2, 3},
                                           StressShape{4, 2, 7}, StressShape{2, 4, 100},
                                           StressShape{4, 4, 1000}),
                         [](const auto& info) {
                           const StressShape& s = info.param;
                           return test::cat("p", s.producers, "_c", s.consumers, "_cap",
                                            s.capacity);
                         });

}  // namespace
}  // namespace shoal::detail
