// RunQueue: newest first for the owner, oldest first for thieves, a tiny
// ring checked against std::deque through many wraps, steal_into's
// "about half, return one" contract, and an owner plus two thieves that
// together run every item exactly once.
#include "core/run_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/test_support.hpp"

namespace shoal::detail {
namespace {

using test::deadline;
using test::scaled;

/// Items are ints whose value is their index; the queue holds pointers.
struct Items {
  explicit Items(std::size_t n) : values(n) {
    for (std::size_t i = 0; i < n; ++i) values[i] = static_cast<int>(i);
  }
  int* operator[](std::size_t i) { return &values[i]; }
  std::vector<int> values;
};

template <class Q>
std::vector<int> drain(Q& q) {
  std::vector<int> out;
  while (int* v = q.try_pop()) out.push_back(*v);
  return out;
}

std::vector<int> range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

std::vector<int> reversed(std::vector<int> v) {
  std::reverse(v.begin(), v.end());
  return v;
}

TEST(RunQueue, OwnerPopsNewestFirst) {
  Items items(8);
  RunQueue<int, 8> q;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(q.try_push(items[i]));
  EXPECT_EQ(q.size(), 8u);
  EXPECT_EQ(drain(q), reversed(range(0, 8)));
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.try_pop(), nullptr);
  EXPECT_EQ(q.steal_one(), nullptr);
}

TEST(RunQueue, StealOneTakesTheOldestWhileTheOwnerTakesTheNewest) {
  Items items(6);
  RunQueue<int, 8> q;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(q.try_push(items[i]));
  EXPECT_EQ(*q.steal_one(), 0);
  EXPECT_EQ(*q.try_pop(), 5);
  EXPECT_EQ(*q.steal_one(), 1);
  EXPECT_EQ(*q.try_pop(), 4);
  EXPECT_EQ(*q.steal_one(), 2);
  EXPECT_EQ(*q.try_pop(), 3);  // the last one, taken with the owner's CAS
  EXPECT_EQ(q.try_pop(), nullptr);
  EXPECT_EQ(q.steal_one(), nullptr);
  ASSERT_TRUE(q.try_push(items[0]));  // and the deque goes on from there
  EXPECT_EQ(*q.steal_one(), 0);
  EXPECT_EQ(q.size(), 0u);
}

TEST(RunQueue, RefusesAPushWhenFull) {
  Items items(5);
  RunQueue<int, 4> q;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.try_push(items[i]));
  EXPECT_FALSE(q.try_push(items[4]));
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(*q.try_pop(), 3);
  EXPECT_TRUE(q.try_push(items[4]));
  EXPECT_FALSE(q.try_push(items[3]));
  EXPECT_EQ(*q.steal_one(), 0);  // a take from the top makes room too
  EXPECT_TRUE(q.try_push(items[3]));
  EXPECT_EQ(drain(q), (std::vector<int>{3, 4, 2, 1}));
}

TEST(RunQueue, MatchesADequeThroughManyWrapsOfCapacityFour) {
  // Pushes, owner pops and steals in a fixed pseudo-random mix, checked
  // against std::deque at every step: the indices lap the 4-slot ring
  // hundreds of times.
  Items items(4000);
  RunQueue<int, 4> q;
  std::deque<int> model;
  std::size_t next = 0;
  std::uint64_t rng = 12345;
  while (next < items.values.size()) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    const unsigned op = static_cast<unsigned>(rng >> 61);  // 0 … 7
    if (op < 4) {
      const bool fits = model.size() < 4;
      ASSERT_EQ(q.try_push(items[next]), fits) << "push " << next;
      if (fits) model.push_back(static_cast<int>(next));
      ++next;
    } else {
      const bool pop = op < 6;  // the owner's pop (newest), else a steal (oldest)
      int* v = pop ? q.try_pop() : q.steal_one();
      if (model.empty()) {
        ASSERT_EQ(v, nullptr) << (pop ? "pop" : "steal");
      } else {
        ASSERT_NE(v, nullptr) << (pop ? "pop" : "steal");
        ASSERT_EQ(*v, pop ? model.back() : model.front()) << (pop ? "pop" : "steal");
        if (pop) {
          model.pop_back();
        } else {
          model.pop_front();
        }
      }
    }
    ASSERT_EQ(q.size(), model.size());
  }
}

TEST(RunQueue, StealIntoTakesAboutHalfAndReturnsTheOldest) {
  for (int n = 1; n <= 16; ++n) {
    Items items(16);
    RunQueue<int, 16> victim, thief;
    for (int i = 0; i < n; ++i) ASSERT_TRUE(victim.try_push(items[i]));
    int* first = victim.steal_into(thief);
    const int taken = n - n / 2;  // the larger half
    ASSERT_NE(first, nullptr) << "n = " << n;
    EXPECT_EQ(*first, 0) << "n = " << n << ": a thief takes the oldest entries";
    EXPECT_EQ(thief.size(), static_cast<std::size_t>(taken - 1)) << "n = " << n;
    EXPECT_EQ(victim.size(), static_cast<std::size_t>(n - taken)) << "n = " << n;
    // The thief's owner pops newest first, and the stolen entries were
    // pushed so that it runs them in their victim's order.
    EXPECT_EQ(drain(thief), range(1, taken)) << "n = " << n;
    EXPECT_EQ(drain(victim), reversed(range(taken, n))) << "n = " << n;
  }
}

TEST(RunQueue, StealIntoStopsAtTheRoomTheDestinationHasAndLosesNothing) {
  // steal_into must never claim an entry its destination cannot take (it
  // would be lost): here the destination has room for one. (Races make this
  // matter even for an empty destination: a thief's two loads of the
  // victim's ends are not one snapshot, and its size can overshoot the ring.)
  Items items(16);
  RunQueue<int, 8> victim, thief;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(victim.try_push(items[i]));
  for (int i = 8; i < 15; ++i) ASSERT_TRUE(thief.try_push(items[i]));
  int* first = victim.steal_into(thief);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(*first, 0);
  EXPECT_EQ(thief.size(), 8u) << "one more entry fitted";
  EXPECT_EQ(victim.size(), 6u) << "the rest stays with the victim";
  EXPECT_EQ(drain(thief), (std::vector<int>{1, 14, 13, 12, 11, 10, 9, 8}));
  EXPECT_EQ(drain(victim), reversed(range(2, 8)));
}

TEST(RunQueue, StealFromAnEmptyQueueReturnsNull) {
  RunQueue<int, 4> victim, thief;
  EXPECT_EQ(victim.steal_into(thief), nullptr);
  EXPECT_EQ(thief.size(), 0u);
}

TEST(RunQueue, StolenEntriesCanBeStolenAgainAndPushedAfter) {
  Items items(12);
  RunQueue<int, 16> a, b, c;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(a.try_push(items[i]));
  ASSERT_EQ(*a.steal_into(b), 0);  // b holds 1, 2, 3, with 1 at its bottom
  ASSERT_EQ(b.size(), 3u);
  ASSERT_EQ(*b.steal_into(c), 3);  // b's oldest is 3; c holds 2
  EXPECT_EQ(c.size(), 1u);
  ASSERT_TRUE(b.try_push(items[8]));  // the owner keeps using its queue
  EXPECT_EQ(drain(b), (std::vector<int>{8, 1}));
  EXPECT_EQ(drain(c), (std::vector<int>{2}));
  EXPECT_EQ(drain(a), reversed(range(4, 8)));
}

TEST(RunQueue, StealsAcrossTheWrapOfBothRings) {
  // Advance both rings' indices past several laps first, so that the stolen
  // entries and the thief's destination both straddle the end of the buffer.
  Items items(64);
  RunQueue<int, 4> victim, thief;
  std::size_t next = 0;
  for (int lap = 0; lap < 3; ++lap) {
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(victim.try_push(items[next++]));
    while (victim.steal_one() != nullptr) {
    }
    ASSERT_TRUE(thief.try_push(items[0]));
    thief.steal_one();
  }
  // victim indices are at 9, thief's at 3: both wrap within the next 4.
  const int base = static_cast<int>(next);
  for (int k = 0; k < 4; ++k) ASSERT_TRUE(victim.try_push(items[next++]));
  int* first = victim.steal_into(thief);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(*first, base);
  EXPECT_EQ(drain(thief), (std::vector<int>{base + 1}));
  EXPECT_EQ(drain(victim), (std::vector<int>{base + 3, base + 2}));
}

TEST(RunQueue, PopManyMovesTheOldestEntries) {
  Items items(6);
  RunQueue<int, 8> q;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(q.try_push(items[i]));
  std::vector<int> out;
  EXPECT_EQ(q.pop_many(4, [&](int* v) { out.push_back(*v); }), 4u);
  EXPECT_EQ(out, range(0, 4));
  EXPECT_EQ(q.pop_many(4, [&](int* v) { out.push_back(*v); }), 2u);
  EXPECT_EQ(out, range(0, 6));
}

// -- concurrency: the owner pushes and pops while two thieves steal ----------------------

template <class Q>
class RunQueueConcurrency : public ::testing::Test {};

using Capacities = ::testing::Types<RunQueue<int, 4>, RunQueue<int, 16>, RunQueue<int, 256>>;
class CapacityName {
 public:
  template <class Q>
  static std::string GetName(int) {
    return test::cat("cap", Q::capacity);
  }
};
TYPED_TEST_SUITE(RunQueueConcurrency, Capacities, CapacityName);

TYPED_TEST(RunQueueConcurrency, EveryItemRunsExactlyOnceWithAnOwnerAndTwoThieves) {
  using Q = TypeParam;
  const std::size_t n = scaled(300'000, 30'000);
  Items items(n);
  std::unique_ptr<std::atomic<std::uint32_t>[]> runs(new std::atomic<std::uint32_t>[n]);
  for (std::size_t i = 0; i < n; ++i) runs[i].store(0, std::memory_order_relaxed);
  std::atomic<std::size_t> ran{0};
  std::atomic<bool> timed_out{false};
  const auto end = std::chrono::steady_clock::now() + deadline;

  auto run = [&](int* v) {
    runs[static_cast<std::size_t>(*v)].fetch_add(1);
    ran.fetch_add(1);
  };
  // Queue 0 is the owner's, 1 and 2 the thieves'. As on real workers, each
  // thread owns one queue, runs its own entries first, steals only into its
  // own empty queue, and is itself a victim of the others.
  Q queues[3];
  auto work_until_all_ran = [&](unsigned self) {
    std::uint64_t spins = 0;
    while (ran.load() < n) {
      if (int* v = queues[self].try_pop()) {
        run(v);
        continue;
      }
      for (unsigned k = 1; k < 3; ++k) {
        if (int* v = queues[(self + k) % 3].steal_into(queues[self])) {
          run(v);
          break;
        }
      }
      if ((++spins & 255) == 0) {
        if (timed_out.load() || std::chrono::steady_clock::now() >= end) {
          timed_out = true;
          return;
        }
        std::this_thread::yield();
      }
    }
  };

  std::latch start(3);
  std::vector<std::thread> thieves;
  for (unsigned t = 1; t <= 2; ++t) {
    thieves.emplace_back([&, t] {
      start.arrive_and_wait();
      work_until_all_ran(t);
    });
  }
  start.arrive_and_wait();
  // The owner pushes everything, popping one of its own every third push and
  // whenever its ring is full (or spilling its older half, as a worker does),
  // so thieves race both ends of a moving ring.
  std::size_t full = 0;
  for (std::size_t i = 0; i < n && !timed_out; ++i) {
    while (!queues[0].try_push(items[i])) {
      if (++full % 2 == 0) {
        queues[0].pop_many(Q::capacity / 2, run);
      } else if (int* v = queues[0].try_pop()) {
        run(v);
      }
    }
    if (i % 3 == 2) {
      if (int* v = queues[0].try_pop()) run(v);
    }
    if (i % 7 == 6) {  // the owner takes its oldest too, as a worker does now and then
      if (int* v = queues[0].steal_one()) run(v);
    }
    if ((i & 1023) == 0 && std::chrono::steady_clock::now() >= end) timed_out = true;
  }
  work_until_all_ran(0);
  for (auto& t : thieves) t.join();

  ASSERT_FALSE(timed_out.load()) << "ran " << ran.load() << " of " << n << " before the deadline";
  std::size_t never = 0, twice = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto r = runs[i].load();
    never += r == 0 ? 1 : 0;
    twice += r > 1 ? 1 : 0;
  }
  EXPECT_EQ(never, 0u) << "items lost";
  EXPECT_EQ(twice, 0u) << "items run more than once";
  EXPECT_EQ(ran.load(), n);
  for (auto& q : queues) EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace shoal::detail
