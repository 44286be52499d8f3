// The monitor (core/monitor.hpp): a worker inside one long run gives up its
// LIFO slot and held mailbox, so what its handler woke runs on another
// worker meanwhile — a handler that waits for such an actor's effect no
// longer deadlocks. And the give-up races the owner's own use of the slot
// without a cell ever running twice or being lost (worker.hpp).
#include "core/monitor.hpp"
#include "core/detail/system_access.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/test_support.hpp"

namespace shoal::detail {
namespace {

using namespace std::chrono_literals;

std::uint64_t stalls_given_up(const ActorSystem& system) {
  std::uint64_t n = 0;
  for (const WorkerStats& w : system.stats().workers) n += w.stalls_given_up;
  return n;
}

/// What a waiting handler waits for: set by the actor it woke.
struct Signal {
  std::promise<void> done;
};

struct Answer {};
struct Wake {
  Pid who;
  std::shared_ptr<Signal> signal;
};

/// Sets the signal when it hears an Answer.
struct Answerer : Handles<Answerer, Answer, Wake> {
  explicit Answerer(std::shared_ptr<Signal> s) : signal(std::move(s)) {}
  void on(Context&, Answer&) { signal->done.set_value(); }
  // Wakes `who`, then ends its run drained: with the LIFO slot full, the
  // worker holds this actor (worker.cpp, "holding a drained mailbox").
  void on(Context& ctx, Wake& w) { ctx.send(w.who, Wake{ctx.self(), w.signal}); }
  std::shared_ptr<Signal> signal;
};

struct Later {
  Pid who;
  std::shared_ptr<Signal> signal;
};

/// Wakes the actor (Wake: at once; Later: by a timer armed on its own
/// worker's wheel) and then waits in its handler, without returning, for
/// the effect of that actor's run.
struct Waiter : Handles<Waiter, Wake, Later> {
  Waiter(std::shared_ptr<std::atomic<bool>> r, std::shared_ptr<std::promise<void>> f)
      : result(std::move(r)), finished(std::move(f)) {}
  void on(Context& ctx, Wake& w) {
    ctx.send(w.who, Answer{});
    wait(*w.signal);
  }
  void on(Context& ctx, Later& l) {
    ctx.send_after(l.who, Answer{}, 20ms);
    wait(*l.signal);
  }
  void wait(Signal& signal) {
    const bool ok = signal.done.get_future().wait_for(test::deadline) == std::future_status::ready;
    // relaxed: read by the test after the future below, which orders it.
    result->store(ok, std::memory_order_relaxed);
    finished->set_value();
  }
  std::shared_ptr<std::atomic<bool>> result;
  std::shared_ptr<std::promise<void>> finished;
};

/// Where the scenario's first message goes.
enum class First { waiter, answerer, waiter_by_timer };

/// A waiter wakes an answerer and waits, inside its handler, for the
/// answerer's effect. Sent to the waiter first, the answerer goes into the
/// waiting worker's LIFO slot; sent to the answerer first, the answerer
/// wakes the waiter (into the slot) and its run ends drained, so the
/// worker holds it while the waiter runs, and the waiter's Answer finds it
/// held. Either way only the monitor's give-up lets the answerer run. By
/// timer, the Answer waits in the waiting worker's wheel: only the
/// monitor's firing of it lets the answerer hear it.
::testing::AssertionResult answered_while_waiting(ActorSystem& system, First first) {
  auto signal = std::make_shared<Signal>();
  auto result = std::make_shared<std::atomic<bool>>(false);
  auto finished = std::make_shared<std::promise<void>>();
  auto done = finished->get_future();
  Pid answerer = system.spawn<Answerer>(signal);
  Pid waiter = system.spawn<Waiter>(result, finished);
  if (first == First::waiter) {
    system.send(waiter, Wake{answerer, signal});
  } else if (first == First::answerer) {
    system.send(answerer, Wake{waiter, signal});
  } else {
    system.send(waiter, Later{answerer, signal});
  }
  if (auto r = test::ready_within(done, "the waiting handler to return"); !r) return r;
  // relaxed: ordered by the future above.
  if (!result->load(std::memory_order_relaxed)) {
    return ::testing::AssertionFailure()
           << "the actor it waited for never ran while the handler waited";
  }
  return ::testing::AssertionSuccess();
}

TEST(Monitor, AnActorWokenByALongHandlerRunsOnTheOtherWorkerMeanwhile) {
  ActorSystem system({.scheduler = {.workers = 2}});
  EXPECT_TRUE(answered_while_waiting(system, First::waiter));
  EXPECT_GE(stalls_given_up(system), 1u);
}

TEST(Monitor, EagerLooksGiveItUpToo) {
  ActorSystem system({.scheduler = {.workers = 2, .eager_stall_looks = true}});
  EXPECT_TRUE(answered_while_waiting(system, First::waiter));
  EXPECT_TRUE(answered_while_waiting(system, First::answerer));
  EXPECT_GE(stalls_given_up(system), 2u);
}

TEST(Monitor, AHeldActorIsGivenUpToo) {
  ActorSystem system({.scheduler = {.workers = 2}});
  EXPECT_TRUE(answered_while_waiting(system, First::answerer));
  EXPECT_GE(stalls_given_up(system), 1u);
}

TEST(Monitor, SleepsWhileEveryWorkerIsIdleAndWakesWhenOneIsNot) {
  ActorSystem system({.scheduler = {.workers = 2}});
  const Monitor* monitor = shoal::detail::SystemAccess::scheduler(system).monitor();
  ASSERT_NE(monitor, nullptr) << "a stall bound and membarrier: a monitor runs";
  ASSERT_TRUE(test::eventually([&] { return monitor->asleep(); },
                               "the monitor to sleep while nothing runs"));
  EXPECT_TRUE(answered_while_waiting(system, First::waiter));  // begun while it slept
}

TEST(Monitor, RunsWithOneWorkerForItsTimersAndNotWithoutABound) {
  ActorSystem one({.scheduler = {.workers = 1}});
  EXPECT_NE(shoal::detail::SystemAccess::scheduler(one).monitor(), nullptr)
      << "one worker: the monitor still fires its timers";
  ActorSystem off({.scheduler = {.workers = 2,
                                 .stall_after = std::chrono::nanoseconds::zero(),
                                 .long_handler = std::chrono::nanoseconds::zero()}});
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(off).monitor(), nullptr)
      << "no bound of either kind";
}

// -- timers of a stalled worker -----------------------------------------------------

TEST(Monitor, ATimerArmedByALongHandlerFiresWhileItRuns) {
  ActorSystem system({.scheduler = {.workers = 2}});
  EXPECT_TRUE(answered_while_waiting(system, First::waiter_by_timer));
}

struct Block {};
struct Query {};
/// Blocks its worker in one handler until the test opens the gate.
struct Blocker : Handles<Blocker, Block> {
  Blocker(std::shared_future<void> gate, std::shared_ptr<std::promise<void>> entered)
      : gate(std::move(gate)), entered(std::move(entered)) {}
  void on(Context&, Block&) {
    entered->set_value();
    (void)gate.wait_for(test::deadline);
  }
  std::shared_future<void> gate;
  std::shared_ptr<std::promise<void>> entered;
};
/// Takes queries and never answers.
struct Silent : Handles<Silent, Query> {
  void on(Context&, Query&) {}
};

class MonitorTimers : public ::testing::TestWithParam<unsigned> {};

TEST_P(MonitorTimers, RequestTimeoutsFireWhileAWorkerHoldingThemIsInALongHandler) {
  // Futures made from this thread post their timers to the workers in turn:
  // some land on the blocked one (with one worker, all of them).
  ActorSystem system({.scheduler = {.workers = GetParam()}});
  std::promise<void> open;
  auto entered = std::make_shared<std::promise<void>>();
  auto in_handler = entered->get_future();
  Pid blocker = system.spawn<Blocker>(open.get_future().share(), entered);
  system.send(blocker, Block{});
  ASSERT_TRUE(test::ready_within(in_handler, "the blocking handler to begin"));
  struct Opener {
    std::promise<void>& p;
    ~Opener() { p.set_value(); }  // lets the handler end, whatever the test found
  } opener{open};
  Pid silent = system.spawn<Silent>();
  std::vector<Future<Answer>> futures;
  for (int i = 0; i < 8; ++i)
    futures.push_back(system.request_future<Answer>(silent, Query{}, 50ms));
  EXPECT_TRUE(test::eventually(
      [&] {
        for (auto& f : futures) {
          if (!f.ready()) return false;
        }
        return true;
      },
      "every request future to time out while one worker is blocked"));
  for (auto& f : futures) {
    if (!f.ready()) continue;
    auto r = f.result();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), RequestErrc::timeout) << r.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, MonitorTimers, ::testing::Values(1u, 2u),
                         [](const ::testing::TestParamInfo<unsigned>& info) {
                           return std::to_string(info.param) + "Workers";
                         });

// -- the give-up racing the owner -------------------------------------------------

struct Hit {};
/// Counts its messages without atomics: two runs of one cell at once would
/// be a data race (ThreadSanitizer) and could lose a count.
struct Tally : Handles<Tally, Hit> {
  explicit Tally(std::shared_ptr<std::atomic<std::uint64_t>> total) : total(std::move(total)) {}
  void on(Context&, Hit&) {
    ++n;
    // relaxed: a sum read after every sender is done (ordered by the futures).
    total->fetch_add(1, std::memory_order_relaxed);
  }
  ~Tally() { EXPECT_LE(n, 1'000'000u); }
  std::uint64_t n = 0;
  std::shared_ptr<std::atomic<std::uint64_t>> total;
};

struct Storm {
  std::vector<Pid> targets;
  ActorSystem* system;
  std::shared_ptr<std::promise<std::uint64_t>> sent;
};
/// Keeps waking the targets from one handler until the monitor has taken
/// from its worker a few times: the owner's slot operations race the takes.
struct Stormer : Handles<Stormer, Storm> {
  void on(Context& ctx, Storm& s) {
    const std::uint64_t before = stalls_given_up(*s.system);
    const auto end = std::chrono::steady_clock::now() + test::deadline;
    std::uint64_t n = 0;
    while (stalls_given_up(*s.system) < before + 3 && std::chrono::steady_clock::now() < end) {
      for (int k = 0; k < 64; ++k) ctx.send(s.targets[n++ % s.targets.size()], Hit{});
    }
    s.sent->set_value(n);
  }
};

TEST(Monitor, TakingRacesTheOwnersSlotWithoutRunningACellTwiceOrLosingOne) {
  ActorSystem system({.scheduler = {.workers = 2, .stall_after = 1us}});
  auto total = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::vector<Pid> targets;
  for (int i = 0; i < 16; ++i) targets.push_back(system.spawn<Tally>(total));
  std::uint64_t sent = 0;
  const int rounds = static_cast<int>(test::scaled(20, 4));
  const std::uint64_t gave_before = stalls_given_up(system);
  for (int round = 0; round < rounds; ++round) {
    auto promise = std::make_shared<std::promise<std::uint64_t>>();
    auto f = promise->get_future();
    system.send(system.spawn<Stormer>(), Storm{targets, &system, promise});
    ASSERT_TRUE(test::ready_within(f, "a storming handler to see the monitor take"));
    sent += f.get();
  }
  EXPECT_GE(stalls_given_up(system), gave_before + 3u * rounds);
  ASSERT_TRUE(test::eventually([&] { return total->load(std::memory_order_relaxed) == sent; },
                               "every message sent during the takes to be handled exactly once"));
  system.shutdown();
  EXPECT_EQ(total->load(std::memory_order_relaxed), sent);
}

}  // namespace
}  // namespace shoal::detail
