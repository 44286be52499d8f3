// Timers seen from actors: send_after, send_every, cancel, receive timeouts
// (with messages that do not reset them), and what shutdown does to pending
// timers. The exact-time cases run in the deterministic mode on its virtual
// clock; the threaded ones check that timers fire (never early) from every
// kind of thread, and race cancels against expiry under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/detail/parker.hpp"
#include "core/detail/system_access.hpp"
#include "shoal/actor_system.hpp"
#include "tests/core/runtime_fixture.hpp"

namespace shoal::detail {
namespace {

using namespace std::chrono_literals;
using test::DeadLetterLog;
using test::FailureLog;

struct Tick {
  std::uint64_t n = 0;
};
struct QuietTick : NotInfluenceReceiveTimeout {};
struct Poke {};
struct SetTimeout {
  std::chrono::nanoseconds d;
};
struct Boom {};

/// Records what it receives with the scheduler time it saw it at.
struct Log {
  std::mutex mu;
  std::vector<std::pair<std::string, std::chrono::nanoseconds>> seen;
  std::atomic<std::uint64_t> count{0};
  void add(std::string what, std::chrono::nanoseconds at) {
    std::lock_guard lock(mu);
    seen.emplace_back(std::move(what), at);
    count.fetch_add(1);
  }
  std::vector<std::pair<std::string, std::chrono::nanoseconds>> all() {
    std::lock_guard lock(mu);
    return seen;
  }
};

struct Recorder : Handles<Recorder, Started, Tick, QuietTick, Poke, SetTimeout, ReceiveTimeout, Boom> {
  Recorder(std::shared_ptr<Log> log, std::chrono::nanoseconds timeout = {})
      : log(std::move(log)), timeout(timeout) {}
  void on(Context& ctx, Started&) {
    if (timeout > 0ns) ctx.set_receive_timeout(timeout);
  }
  void on(Context& ctx, Tick& t) { log->add("tick" + std::to_string(t.n), ctx.system().now()); }
  void on(Context& ctx, QuietTick&) { log->add("quiet", ctx.system().now()); }
  void on(Context& ctx, Poke&) { log->add("poke", ctx.system().now()); }
  void on(Context& ctx, SetTimeout& s) { ctx.set_receive_timeout(s.d); }
  void on(Context& ctx, ReceiveTimeout&) {
    log->add("timeout", ctx.system().now());
    EXPECT_GT(ctx.receive_timeout(), 0ns);
  }
  void on(Context&, Boom&) { throw std::runtime_error("boom"); }
  std::shared_ptr<Log> log;
  std::chrono::nanoseconds timeout;
};

std::unique_ptr<ActorSystem> deterministic_system(SystemConfig c = {}) {
  c.scheduler.deterministic = true;
  c.scheduler.seed = 7;
  return std::make_unique<ActorSystem>(std::move(c));
}

// -- send_after / send_every on the virtual clock ------------------------------------------

TEST(SendAfter, DeliversAtTheDelayNeverBefore) {
  auto log = std::make_shared<Log>();
  auto sys = deterministic_system();
  Pid r = sys->spawn<Recorder>(log);
  sys->run_until_idle();
  TimerHandle h = sys->send_after(r, Tick{1}, 10ms);
  EXPECT_TRUE(h.pending());
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*sys).pending_timers(), 1u);
  sys->advance_time(9ms);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 0u);
  sys->advance_time(1ms);
  sys->run_until_idle();
  ASSERT_EQ(log->count.load(), 1u);
  EXPECT_EQ(log->all()[0].second, 10ms);
  EXPECT_FALSE(h.pending());
  EXPECT_FALSE(h.cancel()) << "cancel after the send must say it was too late";
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*sys).pending_timers(), 0u);
}

TEST(SendAfter, DelaysRoundUpToTheTick) {
  auto log = std::make_shared<Log>();
  auto sys = deterministic_system();
  Pid r = sys->spawn<Recorder>(log);
  sys->advance_time(300us);          // now is mid-tick
  sys->send_after(r, Tick{1}, 1us);  // due at 301 µs: fires at the 1 ms tick
  sys->advance_time(699us);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 0u);
  sys->advance_time(1us);
  sys->run_until_idle();
  ASSERT_EQ(log->count.load(), 1u);
  EXPECT_EQ(log->all()[0].second, 1ms);
  sys->send_after(r, Tick{2}, 0ns);  // due now, on a tick: fires at the next look
  sys->advance_time(0ns);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 2u);
}

TEST(SendAfter, CancelledBeforeItsTimeIsNeverSent) {
  auto log = std::make_shared<Log>();
  DeadLetterLog dead;
  auto sys = deterministic_system({.on_dead_letter = dead.observer()});
  Pid r = sys->spawn<Recorder>(log);
  TimerHandle h = sys->send_after(r, Tick{1}, 5ms);
  TimerHandle copy = h;
  EXPECT_TRUE(copy.cancel());
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*sys).pending_timers(), 0u)
      << "a cancelled timer leaves its wheel at once";
  EXPECT_FALSE(h.cancel()) << "a second cancel must report that nothing was left to cancel";
  EXPECT_FALSE(h.pending());
  sys->advance_time(1s);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 0u);
  EXPECT_EQ(dead.size(), 0u) << "a cancelled send is not a dead letter";
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*sys).pending_timers(), 0u);
}

TEST(SendAfter, OrderOfDeadlinesIsKept) {
  auto log = std::make_shared<Log>();
  auto sys = deterministic_system();
  Pid r = sys->spawn<Recorder>(log);
  const std::chrono::milliseconds delays[] = {70ms, 5ms, 4000ms, 64ms, 65ms, 1ms, 300000ms};
  for (std::uint64_t i = 0; i < std::size(delays); ++i) sys->send_after(r, Tick{i}, delays[i]);
  for (int step = 0; step < 400; ++step) {
    sys->advance_time(1s);
    sys->run_until_idle();
  }
  auto seen = log->all();
  ASSERT_EQ(seen.size(), std::size(delays));
  const char* want[] = {"tick5", "tick1", "tick3", "tick4", "tick0", "tick2", "tick6"};
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i].first, want[i]) << i;
}

TEST(SendAfter, ToAStoppedOrEmptyPidIsADeadLetter) {
  auto log = std::make_shared<Log>();
  DeadLetterLog dead;
  auto sys = deterministic_system({.on_dead_letter = dead.observer()});
  Pid r = sys->spawn<Recorder>(log);
  sys->send_after(r, Tick{1}, 10ms);
  sys->stop(r);
  sys->run_until_idle();
  TimerHandle none = sys->send_after(Pid(), Tick{2}, 10ms);
  EXPECT_FALSE(none);
  EXPECT_EQ(dead.count(DeadLetterReason::empty_pid), 1u);
  sys->advance_time(10ms);
  sys->run_until_idle();
  EXPECT_EQ(dead.count(DeadLetterReason::target_stopped), 1u);
  EXPECT_EQ(log->count.load(), 0u);
}

TEST(SendAfter, PendingAtShutdownBecomesADeadLetter) {
  auto log = std::make_shared<Log>();
  DeadLetterLog dead;
  TimerHandle h;
  {
    auto sys = deterministic_system({.on_dead_letter = dead.observer()});
    Pid r = sys->spawn<Recorder>(log);
    h = sys->send_after(r, Tick{1}, 1h);
    sys->send_every(r, Tick{2}, 1h, 1h);
    sys->shutdown();
    EXPECT_EQ(dead.count(DeadLetterReason::stopped_with_mail), 2u);
    EXPECT_FALSE(h.pending());
    // Arming after shutdown: discarded at once, as a dead letter.
    sys->send_after(r, Tick{3}, 1ms);
    EXPECT_EQ(dead.count(DeadLetterReason::stopped_with_mail), 3u);
  }
  EXPECT_FALSE(h.cancel());  // the handle outlives the system harmlessly
}

TEST(SendEvery, RepeatsUntilCancelled) {
  auto log = std::make_shared<Log>();
  auto sys = deterministic_system();
  Pid r = sys->spawn<Recorder>(log);
  TimerHandle h = sys->send_every(r, Tick{9}, 5ms, 10ms);
  for (int i = 0; i < 40; ++i) {
    sys->advance_time(1ms);
    sys->run_until_idle();
  }
  auto seen = log->all();
  ASSERT_EQ(seen.size(), 4u);  // at 5, 15, 25, 35 ms
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].first, "tick9");
    EXPECT_EQ(seen[i].second, 5ms + 10ms * static_cast<long>(i));
  }
  EXPECT_TRUE(h.pending());
  EXPECT_TRUE(h.cancel());
  sys->advance_time(1s);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 4u);
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*sys).pending_timers(), 0u);
  EXPECT_THROW(sys->send_every(r, Tick{}, 1ms, 0ms), std::invalid_argument);
}

// -- receive timeouts ----------------------------------------------------------------------

TEST(ReceiveTimeout, FiresAfterIdlenessAndRepeats) {
  auto log = std::make_shared<Log>();
  auto sys = deterministic_system();
  sys->spawn<Recorder>(log, 100ms);
  sys->run_until_idle();
  sys->advance_time(99ms);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 0u);
  sys->advance_time(1ms);
  sys->run_until_idle();
  ASSERT_EQ(log->count.load(), 1u);
  EXPECT_EQ(log->all()[0], std::make_pair(std::string("timeout"), std::chrono::nanoseconds(100ms)));
  sys->advance_time(100ms);
  sys->run_until_idle();
  ASSERT_EQ(log->count.load(), 2u);
  EXPECT_EQ(log->all()[1].second, 200ms);
}

TEST(ReceiveTimeout, AMessageResetsItAQuietOneDoesNot) {
  auto log = std::make_shared<Log>();
  auto sys = deterministic_system();
  Pid r = sys->spawn<Recorder>(log, 100ms);
  sys->run_until_idle();  // set at t = 0
  sys->advance_time(60ms);
  sys->send(r, Poke{});  // activity at 60 ms: the timeout moves to 160 ms
  sys->run_until_idle();
  sys->advance_time(40ms);  // 100 ms: the first timer looks, finds activity
  sys->send(r, QuietTick{});  // does not count
  sys->run_until_idle();
  EXPECT_EQ(log->all().size(), 2u);
  sys->advance_time(59ms);  // 159 ms
  sys->run_until_idle();
  EXPECT_EQ(log->all().size(), 2u) << "fired before 100 ms of idleness";
  sys->advance_time(1ms);  // 160 ms
  sys->run_until_idle();
  auto seen = log->all();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2], std::make_pair(std::string("timeout"), std::chrono::nanoseconds(160ms)));
}

TEST(ReceiveTimeout, CancelAndSetAnew) {
  auto log = std::make_shared<Log>();
  auto sys = deterministic_system();
  Pid r = sys->spawn<Recorder>(log, 100ms);
  sys->run_until_idle();
  sys->send(r, SetTimeout{0ns});  // cancel
  sys->run_until_idle();
  sys->advance_time(1s);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 0u);
  sys->send(r, SetTimeout{30ms});  // set at 1 s: fires at 1.03 s, not earlier
  sys->run_until_idle();
  sys->advance_time(29ms);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 0u);
  sys->advance_time(1ms);
  sys->run_until_idle();
  ASSERT_EQ(log->count.load(), 1u);
  EXPECT_EQ(log->all()[0].second, 1030ms);
  // A shorter period set while a longer one is pending takes effect at once.
  sys->send(r, SetTimeout{1h});
  sys->run_until_idle();
  sys->send(r, SetTimeout{5ms});
  sys->run_until_idle();
  sys->advance_time(5ms);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 2u);
}

TEST(ReceiveTimeout, RestartCancelsItAndFailuresInTheHandlerAreSupervised) {
  auto log = std::make_shared<Log>();
  FailureLog failures;
  auto sys = deterministic_system({.on_failure = failures.observer()});
  // The fresh instance after a restart sets no timeout (timeout 0 in its args).
  Pid r = sys->spawn<Recorder>(log, 0ns);
  sys->send(r, SetTimeout{10ms});
  sys->run_until_idle();
  sys->send(r, Boom{});  // restart (default strategy): the timeout is gone
  sys->run_until_idle();
  EXPECT_EQ(failures.failures().size(), 1u);
  sys->advance_time(1s);
  sys->run_until_idle();
  EXPECT_EQ(log->count.load(), 0u);
}

struct ThrowsOnTimeout : Handles<ThrowsOnTimeout, Started, ReceiveTimeout> {
  explicit ThrowsOnTimeout(std::shared_ptr<std::atomic<int>> n) : n(std::move(n)) {}
  void on(Context& ctx, Started&) { ctx.set_receive_timeout(10ms); }
  void on(Context&, ReceiveTimeout&) {
    n->fetch_add(1);
    throw std::runtime_error("timeout handler failed");
  }
  std::shared_ptr<std::atomic<int>> n;
};

TEST(ReceiveTimeout, AThrowingHandlerIsAFailureAndTheRestartedActorSetsItsOwn) {
  auto n = std::make_shared<std::atomic<int>>(0);
  FailureLog failures;
  auto sys = deterministic_system({.on_failure = failures.observer()});
  sys->spawn<ThrowsOnTimeout>(n);
  sys->run_until_idle();
  for (int i = 0; i < 3; ++i) {
    sys->advance_time(10ms);
    sys->run_until_idle();
  }
  EXPECT_EQ(n->load(), 3);  // each restart's Started armed a fresh timeout
  EXPECT_EQ(failures.failures().size(), 3u);
}

// -- threads: real clock -----------------------------------------------------------------

struct Counter : Handles<Counter, Tick, ReceiveTimeout, Started> {
  Counter(std::shared_ptr<std::atomic<std::uint64_t>> n, std::shared_ptr<std::promise<void>> done,
          std::uint64_t want, std::chrono::nanoseconds timeout = {})
      : n(std::move(n)), done(std::move(done)), want(want), timeout(timeout) {}
  void on(Context& ctx, Started&) {
    if (timeout > 0ns) ctx.set_receive_timeout(timeout);
  }
  void on(Context&, Tick&) { bump(); }
  void on(Context& ctx, ReceiveTimeout&) {
    ctx.cancel_receive_timeout();
    bump();
  }
  void bump() {
    if (n->fetch_add(1) + 1 == want) done->set_value();
  }
  std::shared_ptr<std::atomic<std::uint64_t>> n;
  std::shared_ptr<std::promise<void>> done;
  std::uint64_t want;
  std::chrono::nanoseconds timeout;
};

TEST(TimersThreaded, AParkedSchedulerWakesForATimerFromAnOutsideThread) {
  for (int round = 0; round < 20; ++round) {
    auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    ActorSystem sys({.scheduler = {.workers = 2}});
    Pid c = sys.spawn<Counter>(n, done, 1);
    ASSERT_TRUE(test::eventually(
        [&] { return shoal::detail::SystemAccess::scheduler(sys).parked_workers() == 2; },
        "both workers to park"));
    const auto start = sys.now();
    sys.send_after(c, Tick{}, 3ms);
    ASSERT_TRUE(test::ready_within(f, "the delayed send"));
    EXPECT_GE(sys.now() - start, 3ms) << "a timer fired early";
  }
}

TEST(TimersThreaded, ReceiveTimeoutFiresOnWorkers) {
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  ActorSystem sys({.scheduler = {.workers = 2}});
  for (int i = 0; i < 50; ++i) sys.spawn<Counter>(n, done, 50, 2ms);
  ASSERT_TRUE(test::ready_within(f, "50 receive timeouts"));
}

// Many threads arm timers (outside threads through the inbox, actors on
// their workers' wheels) while other threads cancel half of them: every
// timer is either sent once or cancelled, never both, never lost.
struct Armer : Handles<Armer, Tick> {
  Armer(Pid target, std::shared_ptr<std::vector<TimerHandle>> handles,
        std::shared_ptr<std::mutex> mu)
      : target(std::move(target)), handles(std::move(handles)), mu(std::move(mu)) {}
  void on(Context& ctx, Tick& t) {
    TimerHandle h = ctx.send_after(target, Tick{t.n}, std::chrono::milliseconds(t.n % 4));
    std::lock_guard lock(*mu);
    handles->push_back(std::move(h));
  }
  Pid target;
  std::shared_ptr<std::vector<TimerHandle>> handles;
  std::shared_ptr<std::mutex> mu;
};

TEST(TimersThreaded, ArmAndCancelRacesLoseNothing) {
  const std::uint64_t per_thread = test::scaled(4000, 500);
  const unsigned threads = 3;
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto never = std::make_shared<std::promise<void>>();
  auto handles = std::make_shared<std::vector<TimerHandle>>();
  auto mu = std::make_shared<std::mutex>();
  std::atomic<std::uint64_t> cancelled{0};
  DeadLetterLog dead;
  {
    ActorSystem sys({.scheduler = {.workers = 2}, .on_dead_letter = dead.observer()});
    Pid counter = sys.spawn<Counter>(n, never, UINT64_MAX);
    Pid armer = sys.spawn<Armer>(counter, handles, mu);
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (std::uint64_t i = 0; i < per_thread; ++i) {
          if (t == 0) {
            sys.send(armer, Tick{i});  // armed on a worker's wheel
            continue;
          }
          TimerHandle h = sys.send_after(counter, Tick{i}, std::chrono::milliseconds(i % 3));
          if (i % 2 == 0 && h.cancel()) cancelled.fetch_add(1);
        }
      });
    }
    for (auto& t : ts) t.join();
    // Cancel what the actor armed, racing its expiry.
    ASSERT_TRUE(test::eventually(
        [&] {
          std::lock_guard lock(*mu);
          return handles->size() == per_thread;
        },
        "the armer's timers"));
    {
      std::lock_guard lock(*mu);
      for (std::size_t i = 0; i < handles->size(); i += 2) {
        if ((*handles)[i].cancel()) cancelled.fetch_add(1);
      }
    }
    const std::uint64_t total = per_thread * threads;
    ASSERT_TRUE(test::eventually([&] { return n->load() + cancelled.load() == total; },
                                 "every timer sent or cancelled"));
    sys.shutdown();
    EXPECT_EQ(n->load() + cancelled.load(), total);
  }
  EXPECT_EQ(dead.size(), 0u);
}

TEST(Parker, TimedParkReturnsOnTimeoutOrWake) {
  detail::Parker p;
  EXPECT_FALSE(p.park_for(1ms));
  p.unpark();
  EXPECT_TRUE(p.park_for(1h));  // the pending wake-up is consumed at once
  std::thread waker([&] { p.unpark(); });
  EXPECT_TRUE(p.park_for(std::chrono::seconds(90)));
  waker.join();
}

}  // namespace
}  // namespace shoal::detail
