// TimerWheel: every timer fires exactly once, never before its deadline and
// at the first advance that reaches it; removal, re-entrant expiry and
// deadlines beyond the wheel's span. Checked against a plain model with
// random workloads.
#include "shoal/detail/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace shoal::detail {
namespace {

struct TestTimer final : Timer {
  std::uint64_t id = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>>* log = nullptr;  // (id, wheel now)
  const TimerWheel* wheel = nullptr;
  std::function<void(TestTimer&)> on_expire;
  int expired = 0;
  int discarded = 0;
  void expire() noexcept override {
    ++expired;
    if (log != nullptr) log->emplace_back(id, wheel->now());
    if (on_expire) on_expire(*this);
  }
  void discard() noexcept override { ++discarded; }
};

TEST(TimerWheel, EmptyWheelHasNoExpiry) {
  TimerWheel w(5);
  EXPECT_EQ(w.next_expiry(), TimerWheel::never);
  EXPECT_EQ(w.advance(1'000'000), 0u);
  EXPECT_EQ(w.now(), 1'000'000u);
}

TEST(TimerWheel, FiresAtDeadlineNotBefore) {
  TimerWheel w(0);
  TestTimer t;
  t.set_deadline(100);
  w.insert(&t);
  EXPECT_TRUE(t.linked());
  EXPECT_LE(w.next_expiry(), 100u);
  EXPECT_EQ(w.advance(99), 0u);
  EXPECT_EQ(t.expired, 0);
  EXPECT_EQ(w.advance(100), 1u);
  EXPECT_EQ(t.expired, 1);
  EXPECT_FALSE(t.linked());
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.advance(10'000), 0u);
  EXPECT_EQ(t.expired, 1);
}

TEST(TimerWheel, PastDeadlineFiresAtNextAdvance) {
  TimerWheel w(1000);
  TestTimer t;
  t.set_deadline(3);
  w.insert(&t);
  EXPECT_EQ(w.next_expiry(), 1000u);
  EXPECT_EQ(w.advance(1000), 1u);
  EXPECT_EQ(t.expired, 1);
}

TEST(TimerWheel, RemovedTimerNeverFires) {
  TimerWheel w(0);
  TestTimer a, b;
  a.set_deadline(70);
  b.set_deadline(70);
  w.insert(&a);
  w.insert(&b);
  w.remove(&a);
  w.remove(&a);  // harmless when not linked
  EXPECT_FALSE(a.linked());
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.advance(1000), 1u);
  EXPECT_EQ(a.expired, 0);
  EXPECT_EQ(b.expired, 1);
}

TEST(TimerWheel, NextExpiryIsALowerBoundAndExactOnLevelZero) {
  TimerWheel w(10);
  TestTimer near, far;
  near.set_deadline(40);  // same 64-tick span: level 0, exact
  w.insert(&near);
  EXPECT_EQ(w.next_expiry(), 40u);
  w.remove(&near);
  far.set_deadline(5000);
  w.insert(&far);
  std::uint64_t e = w.next_expiry();
  EXPECT_LE(e, 5000u);
  EXPECT_GT(e, 10u);
  // Advancing to each reported expiry converges on the deadline without
  // firing early.
  for (int i = 0; i < 10 && far.expired == 0; ++i) {
    e = w.next_expiry();
    ASSERT_LE(e, 5000u) << "next_expiry overshot the deadline";
    w.advance(e);
  }
  EXPECT_EQ(far.expired, 1);
  EXPECT_EQ(w.now(), 5000u);
}

TEST(TimerWheel, DeadlinesBeyondTheSpanStillFireOnTime) {
  TimerWheel w(12345);
  TestTimer t;
  const std::uint64_t d = 12345 + 3 * TimerWheel::span + 777;
  t.set_deadline(d);
  w.insert(&t);
  std::uint64_t steps = 0;
  while (t.expired == 0) {
    std::uint64_t e = w.next_expiry();
    ASSERT_NE(e, TimerWheel::never);
    ASSERT_LE(e, d);
    w.advance(e);
    ASSERT_LT(++steps, 100u) << "no progress towards a far deadline";
  }
  EXPECT_EQ(w.now(), d);
}

TEST(TimerWheel, ExpireMayInsertAndRemove) {
  TimerWheel w(0);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> log;
  TestTimer a, b, c, again;
  for (TestTimer* t : {&a, &b, &c, &again}) {
    t->log = &log;
    t->wheel = &w;
  }
  a.id = 1;
  b.id = 2;
  c.id = 3;
  again.id = 4;
  a.set_deadline(10);
  b.set_deadline(10);  // same slot as a: whichever fires first removes the other
  c.set_deadline(20);
  auto cancel_other = [&](TestTimer& self) {
    w.remove(&self == &a ? &b : &a);
    again.set_deadline(w.now());  // due now: fires at the next advance, not this one
    w.insert(&again);
  };
  a.on_expire = cancel_other;
  b.on_expire = cancel_other;
  w.insert(&a);
  w.insert(&b);
  w.insert(&c);
  EXPECT_EQ(w.advance(15), 1u);
  EXPECT_EQ(a.expired + b.expired, 1);
  EXPECT_EQ(again.expired, 0);
  EXPECT_EQ(w.advance(15), 1u);
  EXPECT_EQ(again.expired, 1);
  EXPECT_EQ(w.advance(100), 1u);
  EXPECT_EQ(c.expired, 1);
}

TEST(TimerWheel, DiscardAllAtDestruction) {
  TestTimer a, b;
  {
    TimerWheel w(0);
    a.set_deadline(0);
    b.set_deadline(1'000'000'000);
    w.insert(&a);
    w.insert(&b);
  }
  EXPECT_EQ(a.discarded, 1);
  EXPECT_EQ(b.discarded, 1);
  EXPECT_EQ(a.expired + b.expired, 0);
}

// Random inserts, removes and advances of every size, against a model: each
// live timer fires exactly once, in the advance whose `now` first reaches
// its deadline, and in deadline order within it.
TEST(TimerWheel, MatchesAModelOnRandomWorkloads) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    const std::uint64_t start = rng() % (TimerWheel::span * 2);
    TimerWheel w(start);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> log;
    std::vector<std::unique_ptr<TestTimer>> timers;
    std::map<std::uint64_t, std::uint64_t> live;  // id → deadline
    std::uint64_t now = start;
    auto delay = [&]() -> std::uint64_t {
      switch (rng() % 5) {
        case 0: return rng() % 64;
        case 1: return rng() % 4096;
        case 2: return rng() % (1u << 20);
        case 3: return rng() % (TimerWheel::span + 5000);
        default: return rng() % 3;
      }
    };
    for (int step = 0; step < 3000; ++step) {
      unsigned op = rng() % 10;
      if (op < 5) {
        auto t = std::make_unique<TestTimer>();
        t->id = timers.size();
        t->log = &log;
        t->wheel = &w;
        std::uint64_t d = now + delay();
        if (rng() % 20 == 0) d = now - std::min<std::uint64_t>(now, rng() % 100);  // past
        t->set_deadline(d);
        w.insert(t.get());
        live[t->id] = d;
        timers.push_back(std::move(t));
      } else if (op < 7 && !live.empty()) {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        w.remove(timers[it->first].get());
        live.erase(it);
      } else {
        const std::uint64_t to = now + delay();
        log.clear();
        w.advance(to);
        // Exactly the live timers with deadline <= to fired, each once.
        std::vector<std::uint64_t> want;
        for (auto& [id, d] : live) {
          if (d <= to) want.push_back(id);
        }
        std::vector<std::uint64_t> got;
        std::uint64_t last_deadline = 0;
        for (auto [id, at] : log) {
          got.push_back(id);
          const std::uint64_t d = live.at(id);
          ASSERT_GE(std::max(at, now), d) << "seed " << seed << ": fired before its deadline";
          ASSERT_GE(std::max(d, now), last_deadline) << "seed " << seed << ": out of order";
          last_deadline = std::max(d, now);
        }
        std::sort(got.begin(), got.end());
        ASSERT_EQ(got, want) << "seed " << seed << " step " << step;
        for (std::uint64_t id : want) live.erase(id);
        ASSERT_EQ(w.size(), live.size());
        ASSERT_EQ(w.now(), to);
        now = to;
        // The reported next expiry never passes a live deadline.
        if (!live.empty()) {
          std::uint64_t earliest = UINT64_MAX;
          for (auto& [id, d] : live) earliest = std::min(earliest, d);
          ASSERT_LE(w.next_expiry(), std::max(earliest, now)) << "seed " << seed;
        } else {
          ASSERT_EQ(w.next_expiry(), TimerWheel::never);
        }
      }
    }
    for (auto& t : timers) w.remove(t.get());
  }
}

}  // namespace
}  // namespace shoal::detail
