// Supervision: directives (resume, restart, stop, escalate), strategies
// (one-for-one, all-for-one, at most N restarts within a window, a parent
// that is its own strategy, the guardian of root actors), the three
// scenarios of the supervision tutorial this design follows, and stress
// runs for the concurrent paths (a restart storm under load, concurrent
// stops, watch/unwatch races).
#include "shoal/supervision.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/lifecycle_kit.hpp"

namespace shoal {
namespace {

using test::cat;
using test::Fail;
using test::Journal;
using test::LifeSpec;
using test::SpawnKids;
using test::StopMe;
using test::UnwatchIt;
using test::WatchIt;
using test::Work;

/// A decider that reads the directive from the failure's message:
/// "resume", "stop", "escalate", anything else restarts.
Directive by_message(const Pid& /*child*/, const std::exception_ptr& error) {
  std::string w = describe(error);
  if (w == "resume") return Directive::resume;
  if (w == "stop") return Directive::stop;
  if (w == "escalate") return Directive::escalate;
  return Directive::restart;
}

std::shared_ptr<const SupervisorStrategy> one_for_one(
    std::uint32_t max = 100, std::chrono::seconds within = std::chrono::seconds(60)) {
  return std::make_shared<OneForOneStrategy>(max, within, by_message);
}

class SupervisionTest : public test::JournalTest {
 protected:
  std::string report(ActorSystem& system, const Pid& pid) const {
    auto r = test::report(system, pid);
    if (!arrive(system, r, "a report")) return "no report";
    return r.get();
  }
};

TEST(Directive, EachHasItsName) {
  EXPECT_EQ(to_string(Directive::resume), "resume");
  EXPECT_EQ(to_string(Directive::restart), "restart");
  EXPECT_EQ(to_string(Directive::stop), "stop");
  EXPECT_EQ(to_string(Directive::escalate), "escalate");
}

TEST_P(SupervisionTest, TheDefaultGuardianRestartsARootActorWithoutTheFailedMessage) {
  test::FailureLog failures;
  SystemConfig c;
  c.on_failure = failures.observer();
  auto system = make_system(c);
  Pid a = system->spawn(life("a"));
  system->send(a, Work{1});
  system->send(a, Fail{"boom"});
  system->send(a, Work{2});
  ASSERT_TRUE(logged(*system, "a:work:2"));
  EXPECT_EQ(journal->of("a"), (std::vector<std::string>{"started#1", "work:1", "fail:boom",
                                                        "restarting#1", "started#2", "work:2"}));
  EXPECT_EQ(report(*system, a), "parent=0 children=0 work=1") << "a fresh instance";
  EXPECT_EQ(system->failures(), 1u);
  ASSERT_EQ(failures.failures().size(), 1u);
  EXPECT_EQ(failures.failures()[0].what, "boom");
  EXPECT_EQ(failures.failures()[0].actor_id, a.id());
}

// Tutorial scenario 1: a parent sees Terminated when its child stops itself.
TEST_P(SupervisionTest, TutorialAParentSeesTerminatedWhenItsChildStopsItself) {
  auto system = make_system();
  Pid p = system->spawn(life("p"));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  Pid c = child(*system, p, "c");
  system->send(c, StopMe{});
  ASSERT_TRUE(logged(*system, cat("p:terminated:#", c.id(), ":stopped")));
  EXPECT_EQ(report(*system, p), "parent=0 children=0 work=0");
}

// Tutorial scenario 2: a child that throws on one message is restarted
// (Restarting seen) while its sibling goes on.
TEST_P(SupervisionTest, TutorialAFailingChildIsRestartedWhileItsSiblingGoesOn) {
  auto system = make_system();
  Pid p = system->spawn(life("p"));
  system->send(p, SpawnKids{{"c1", "c2"}, /*named=*/true});
  Pid c1 = child(*system, p, "c1");
  Pid c2 = child(*system, p, "c2");
  system->send(c2, Work{1});
  system->send(c1, Fail{"boom"});
  system->send(c2, Work{2});
  ASSERT_TRUE(logged(*system, "c1:started#2"));
  ASSERT_TRUE(logged(*system, "c2:work:2"));
  EXPECT_EQ(journal->of("c1"),
            (std::vector<std::string>{"started#1", "fail:boom", "restarting#1", "started#2"}));
  EXPECT_EQ(journal->of("c2"), (std::vector<std::string>{"started#1", "work:1", "work:2"}));
  EXPECT_EQ(journal->of("p"),
            (std::vector<std::string>{"started#1", "spawned:c1:ok", "spawned:c2:ok"}))
      << "a restart is not a termination: the parent sees no Terminated";
}

// Tutorial scenario 3: a named child that throws on one message handles the
// next one after the restart, and a second spawn_named with its name fails.
TEST_P(SupervisionTest, TutorialANamedChildGoesOnAfterItsRestartAndKeepsItsName) {
  auto system = make_system();
  Pid p = system->spawn(life("p"));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  Pid c = child(*system, p, "c");
  system->send(c, Fail{"boom"});
  system->send(c, Work{5});
  ASSERT_TRUE(logged(*system, "c:work:5"));
  EXPECT_EQ(journal->of("c"), (std::vector<std::string>{"started#1", "fail:boom", "restarting#1",
                                                        "started#2", "work:5"}));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  ASSERT_TRUE(logged(*system, "p:spawned:c:taken"));
  EXPECT_EQ(system->lookup(cat("$", p.id(), "/c")), c) << "the same actor keeps its name";
}

TEST_P(SupervisionTest, ResumeKeepsTheInstanceAndItsState) {
  auto system = make_system();
  Pid p = system->spawn(life("p", one_for_one()));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  Pid c = child(*system, p, "c");
  system->send(c, Work{1});
  system->send(c, Fail{"resume"});
  system->send(c, Work{2});
  ASSERT_TRUE(logged(*system, "c:work:2"));
  EXPECT_EQ(journal->of("c"),
            (std::vector<std::string>{"started#1", "work:1", "fail:resume", "work:2"}));
  EXPECT_EQ(report(*system, c), cat("parent=", p.id(), " children=0 work=2"));
}

TEST_P(SupervisionTest, StopStopsTheChildAndItsParentHearsTerminated) {
  test::DeadLetterLog letters;
  SystemConfig cfg;
  cfg.on_dead_letter = letters.observer();
  auto system = make_system(cfg);
  Pid p = system->spawn(life("p", one_for_one()));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  Pid c = child(*system, p, "c");
  system->send(c, Fail{"stop"});
  system->send(c, Work{1});  // queued behind the failure: never handled
  ASSERT_TRUE(logged(*system, cat("p:terminated:#", c.id(), ":stopped")));
  EXPECT_EQ(journal->of("c"),
            (std::vector<std::string>{"started#1", "fail:stop", "stopping", "stopped"}));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 1; }, "the child to finish"));
  EXPECT_EQ(letters.size(), 1u);
}

TEST_P(SupervisionTest, EscalateRestartsTheMiddleActorWhichStopsItsChildrenFirst) {
  // p restarts c whatever the error; c escalates every failure of its
  // children; g fails once.
  auto escalate_all = std::make_shared<OneForOneStrategy>(
      10, std::chrono::seconds(60),
      [](const Pid&, const std::exception_ptr&) { return Directive::escalate; });
  auto system = make_system();
  Pid p =
      system->spawn(life("p", std::make_shared<OneForOneStrategy>(10, std::chrono::seconds(60))));
  system->send(p, SpawnKids{{"c"}, /*named=*/true, escalate_all});
  Pid c = child(*system, p, "c");
  system->send(c, SpawnKids{{"g"}, /*named=*/true});
  Pid g = child(*system, c, "g");
  system->send(g, Fail{"deep"});
  ASSERT_TRUE(logged(*system, "c:started#2"));
  ASSERT_TRUE(logged(*system, "g:stopped"));
  EXPECT_EQ(journal->of("g"),
            (std::vector<std::string>{"started#1", "fail:deep", "stopping", "stopped"}))
      << "g is stopped with its parent's restart, not restarted itself";
  const long restarting = journal->index("c:restarting#1");
  const long g_stopped = journal->index("g:stopped");
  const long c_started2 = journal->index("c:started#2");
  EXPECT_LT(restarting, g_stopped) << journal->dump();
  EXPECT_LT(g_stopped, c_started2) << "a restart stops the children first\n" << journal->dump();
  EXPECT_EQ(system->failures(), 1u) << "an escalation is the same failure, reported once";
  EXPECT_EQ(report(*system, c), cat("parent=", p.id(), " children=0 work=0"));
}

TEST_P(SupervisionTest, AllForOneRestartsEverySibling) {
  auto system = make_system();
  auto all = std::make_shared<AllForOneStrategy>(10, std::chrono::seconds(60), by_message);
  Pid p = system->spawn(life("p", all));
  system->send(p, SpawnKids{{"c1", "c2", "c3"}, /*named=*/true});
  Pid c2 = child(*system, p, "c2");
  system->send(c2, Fail{"boom"});
  for (const char* c : {"c1", "c2", "c3"}) {
    ASSERT_TRUE(logged(*system, cat(c, ":started#2")));
    EXPECT_EQ(journal->count(cat(c, ":restarting#1")), 1u) << c << "\n" << journal->dump();
  }
}

TEST_P(SupervisionTest, AtMostNRestartsWithinTheWindowThenStop) {
  auto system = make_system();
  Pid p = system->spawn(life("p", one_for_one(/*max=*/2)));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  Pid c = child(*system, p, "c");
  for (int i = 0; i < 3; ++i) system->send(c, Fail{cat("f", i)});
  ASSERT_TRUE(logged(*system, cat("p:terminated:#", c.id(), ":stopped")));
  EXPECT_EQ(journal->of("c"), (std::vector<std::string>{
                                  "started#1", "fail:f0", "restarting#1", "started#2", "fail:f1",
                                  "restarting#2", "started#3", "fail:f2", "stopping", "stopped"}));
}

TEST_P(SupervisionTest, ZeroRestartsMeansStopAtTheFirstFailure) {
  auto system = make_system();
  Pid p = system->spawn(life("p", one_for_one(/*max=*/0)));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  Pid c = child(*system, p, "c");
  system->send(c, Fail{"once"});
  ASSERT_TRUE(logged(*system, cat("p:terminated:#", c.id(), ":stopped")));
  EXPECT_FALSE(journal->has("c:restarting#1"));
}

TEST_P(SupervisionTest, AParentActorCanBeItsOwnStrategy) {
  // Resumes its children and counts the failures it saw.
  struct Boss : Handles<Boss, SpawnKids>, SupervisorStrategy {
    Boss(std::shared_ptr<Journal> j, MailboxConfig m) : j_(std::move(j)), m_(m) {}
    void on(Context& ctx, SpawnKids& k) {
      LifeSpec s{.tag = k.tags.at(0), .journal = j_};
      ctx.spawn_named(test::life(s).with_mailbox(m_), s.tag);
    }
    const SupervisorStrategy* supervisor_strategy() const noexcept override { return this; }
    void handle_failure(Supervisor& sup, const Pid& child, RestartStats& stats,
                        const std::exception_ptr& error) const override {
      j_->add(cat("boss:decides:", describe(error), ":children=", sup.children().size()));
      stats.record(sup.now(), std::chrono::seconds(0));
      const Pid one[] = {child};
      sup.resume_children(one);
    }
    std::shared_ptr<Journal> j_;
    MailboxConfig m_;
  };
  auto system = make_system();
  Pid boss = system->spawn(Props::of<Boss>(journal, mailbox()));
  system->send(boss, SpawnKids{{"c"}});
  Pid c = child(*system, boss, "c");
  system->send(c, Work{1});
  system->send(c, Fail{"oops"});
  system->send(c, Work{2});
  ASSERT_TRUE(logged(*system, "c:work:2"));
  EXPECT_TRUE(journal->has("boss:decides:oops:children=1")) << journal->dump();
  EXPECT_EQ(report(*system, c), cat("parent=", boss.id(), " children=0 work=2"));
}

TEST_P(SupervisionTest, AFailureInStartedIsSupervisedLikeAnyOther) {
  auto system = make_system();
  LifeSpec s{.tag = "a", .journal = journal};
  s.fail_started_in = {1};
  Pid a = system->spawn(test::life(s).with_mailbox(mailbox()));
  system->send(a, Work{1});
  ASSERT_TRUE(logged(*system, "a:work:1"));
  EXPECT_EQ(journal->of("a"),
            (std::vector<std::string>{"started#1", "restarting#1", "started#2", "work:1"}))
      << "the message queued during the failed start waits for the fresh instance";
}

TEST_P(SupervisionTest, AGuardianRestartLoopDoesNotRecurse) {
  // Started fails in the first 2000 instances; the guardian allows it. Its
  // directives are messages the run loop handles one after another, so the
  // stack does not grow with each restart.
  SystemConfig c;
  c.guardian = std::make_shared<OneForOneStrategy>(1'000'000, std::chrono::seconds(0));
  c.on_failure = [](const Failure&) {};
  auto system = make_system(c);
  LifeSpec s{.tag = "a", .journal = journal};
  for (std::uint32_t i = 1; i <= 2000; ++i) s.fail_started_in.push_back(i);
  Pid a = system->spawn(test::life(s).with_mailbox(mailbox()));
  system->send(a, Work{1});
  ASSERT_TRUE(logged(*system, "a:work:1"));
  EXPECT_TRUE(journal->has("a:started#2001"));
  EXPECT_EQ(system->failures(), 2000u);
}

// -- exponential backoff ----------------------------------------------------------------

using namespace std::chrono_literals;

ExponentialBackoffStrategy::Options backoff(double jitter = 0.0) {
  ExponentialBackoffStrategy::Options o;
  o.initial = 100ms;
  o.max = 1s;
  o.multiplier = 2.0;
  o.jitter = jitter;
  o.reset_after = 10s;
  return o;
}

TEST(BackoffStrategy, DelaysGrowExponentiallyUpToTheCap) {
  ExponentialBackoffStrategy s(backoff());
  const std::chrono::nanoseconds want[] = {100ms, 200ms, 400ms, 800ms, 1s, 1s, 1s};
  for (std::size_t n = 1; n <= std::size(want); ++n) {
    EXPECT_EQ(s.base_delay(n), want[n - 1]) << "failure " << n;
    EXPECT_EQ(s.delay(42, n), want[n - 1]) << "no jitter asked for";
  }
  EXPECT_EQ(s.base_delay(100000), 1s) << "no overflow far past the cap";
}

TEST(BackoffStrategy, JitterStaysWithinItsShareAndSpreadsChildren) {
  ExponentialBackoffStrategy s(backoff(/*jitter=*/0.5));
  std::set<std::int64_t> distinct;
  for (std::uint64_t child = 1; child <= 200; ++child) {
    for (std::size_t n = 1; n <= 6; ++n) {
      const auto d = s.delay(child, n);
      const auto base = s.base_delay(n);
      EXPECT_LE(d, base) << "jitter must never exceed the (capped) delay";
      EXPECT_GE(d, base / 2) << "jitter of 0.5 takes at most half";
      EXPECT_EQ(d, s.delay(child, n)) << "reproducible for (child, n)";
      if (n == 6) distinct.insert(d.count());
    }
  }
  EXPECT_GT(distinct.size(), 150u) << "children failing together must not come back in step";
}

TEST(BackoffStrategy, RejectsOptionsThatMakeNoSense) {
  auto bad = [](auto tweak) {
    auto o = backoff();
    tweak(o);
    return o;
  };
  using O = ExponentialBackoffStrategy::Options;
  EXPECT_THROW(ExponentialBackoffStrategy(bad([](O& o) { o.initial = 0ns; })), std::invalid_argument);
  EXPECT_THROW(ExponentialBackoffStrategy(bad([](O& o) { o.max = 1ms; })), std::invalid_argument);
  EXPECT_THROW(ExponentialBackoffStrategy(bad([](O& o) { o.multiplier = 0.5; })),
               std::invalid_argument);
  EXPECT_THROW(ExponentialBackoffStrategy(bad([](O& o) { o.jitter = 1.5; })), std::invalid_argument);
  EXPECT_THROW(ExponentialBackoffStrategy(bad([](O& o) { o.reset_after = 0ns; })),
               std::invalid_argument);
}

// On the virtual clock: the child stays suspended (its mail queued) for
// exactly the backoff, then restarts and handles that mail; the next
// failure waits twice as long; after reset_after of calm it starts over.
TEST(BackoffStrategy, RestartsAfterTheDelayWithTheMailKept) {
  auto journal = std::make_shared<test::Journal>();
  test::FailureLog failures;
  ActorSystem system({.scheduler = {.deterministic = true, .seed = 3},
                      .on_failure = failures.observer()});
  auto strategy = std::make_shared<ExponentialBackoffStrategy>(backoff());
  Pid p = system.spawn(test::life({.tag = "p", .journal = journal, .child_strategy = strategy}));
  system.send(p, test::SpawnKids{{"c"}, /*named=*/true});
  system.run_until_idle();
  Pid c = system.lookup(test::cat("$", p.id(), "/c"));
  ASSERT_FALSE(c.empty());
  auto restarted_after = [&](std::chrono::milliseconds want, int incarnation) {
    const std::string started = test::cat("c:started#", incarnation);
    system.run_until_idle();
    system.advance_time(want - 1ms);
    system.run_until_idle();
    EXPECT_FALSE(journal->has(started)) << "restarted before " << want.count() << " ms";
    system.advance_time(1ms);
    system.run_until_idle();
    EXPECT_TRUE(journal->has(started)) << "not restarted after " << want.count() << " ms\n"
                                       << journal->dump();
  };
  system.send(c, test::Fail{"f1"});
  system.send(c, test::Work{1});  // queued while c waits
  restarted_after(100ms, 2);
  EXPECT_TRUE(journal->has("c:work:1"));
  EXPECT_LT(journal->index("c:started#2"), journal->index("c:work:1"));
  system.send(c, test::Fail{"f2"});
  restarted_after(200ms, 3);
  system.send(c, test::Fail{"f3"});
  restarted_after(400ms, 4);
  system.advance_time(11s);  // calm for longer than reset_after
  system.send(c, test::Fail{"f4"});
  restarted_after(100ms, 5);
  EXPECT_EQ(failures.failures().size(), 4u);
}

TEST(BackoffStrategy, MaxRestartsWithinResetAfterThenStop) {
  auto journal = std::make_shared<test::Journal>();
  ActorSystem system({.scheduler = {.deterministic = true, .seed = 5},
                      .on_failure = [](const Failure&) {}});
  auto o = backoff();
  o.max_restarts = 2;
  auto strategy = std::make_shared<ExponentialBackoffStrategy>(o);
  Pid p = system.spawn(test::life({.tag = "p", .journal = journal, .child_strategy = strategy}));
  system.send(p, test::SpawnKids{{"c"}, /*named=*/true});
  system.run_until_idle();
  Pid c = system.lookup(test::cat("$", p.id(), "/c"));
  for (int i = 0; i < 3; ++i) {
    system.send(c, test::Fail{test::cat("f", i)});
    system.run_until_idle();
    system.advance_time(1s);
    system.run_until_idle();
  }
  EXPECT_EQ(journal->of("c"),
            (std::vector<std::string>{"started#1", "fail:f0", "restarting#1", "started#2", "fail:f1",
                                      "restarting#2", "started#3", "fail:f2", "stopping",
                                      "stopped"}));
  EXPECT_TRUE(journal->has(test::cat("p:terminated:#", c.id(), ":stopped")));
}

TEST(BackoffStrategy, AsTheGuardianOfRootActorsAndThreaded) {
  // Real clock, two workers: the root actor restarts after its backoff and
  // handles the mail that waited.
  auto journal = std::make_shared<test::Journal>();
  auto o = backoff();
  o.initial = 2ms;
  o.max = 8ms;
  ActorSystem system({.scheduler = {.workers = 2},
                      .on_failure = [](const Failure&) {},
                      .guardian = std::make_shared<ExponentialBackoffStrategy>(o)});
  Pid a = system.spawn(test::life({.tag = "a", .journal = journal}));
  for (int i = 0; i < 5; ++i) system.send(a, test::Fail{test::cat("f", i)});
  system.send(a, test::Work{7});
  ASSERT_TRUE(test::eventually([&] { return journal->has("a:work:7"); }, "work after 5 restarts"));
  EXPECT_TRUE(journal->has("a:started#6")) << journal->dump();
}

// Needs two workers: one is held inside the parent.
class SupervisionTwoWorkersTest : public SupervisionTest {};

TEST_P(SupervisionTwoWorkersTest, AFailedActorStillStopsWhenAskedWhileWaitingForItsDirective) {
  // A parent that is held cannot decide; the failed child must still stop.
  auto system = make_system();
  Pid p = system->spawn(life("p", one_for_one()));
  system->send(p, SpawnKids{{"c"}, /*named=*/true});
  Pid c = child(*system, p, "c");
  // c's first run (Started) was scheduled on p's worker; let it happen
  // before that worker is held (a worker's LIFO slot is not stealable).
  ASSERT_TRUE(logged(*system, "c:started#1"));
  test::Gate gate;
  ASSERT_TRUE(hold(*system, p, gate));
  system->send(c, Fail{"boom"});
  ASSERT_TRUE(logged(*system, "c:fail:boom"));
  system->stop(c);
  ASSERT_TRUE(logged(*system, "c:stopped"));
  gate.open();
  ASSERT_TRUE(logged(*system, cat("p:terminated:#", c.id(), ":stopped")));
  EXPECT_FALSE(journal->has("c:restarting#1")) << "the late directive finds it gone";
}

INSTANTIATE_TEST_SUITE_P(Configs, SupervisionTest, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);
INSTANTIATE_TEST_SUITE_P(Configs, SupervisionTwoWorkersTest,
                         ::testing::ValuesIn(test::threaded_configs({2, 4})), test::config_name);

// -- stress (threads; run under ThreadSanitizer in CI) -----------------------------------------

struct Tally {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> order_errors{0};
  std::vector<std::atomic<std::int64_t>> last;
  explicit Tally(std::size_t producers) : last(producers) {
    for (auto& l : last) l.store(-1);
  }
};

struct Seq {
  std::uint32_t producer;
  std::int64_t n;
};

/// Fails on every `every`-th message it receives (counted across restarts).
struct Fragile : Handles<Fragile, Seq> {
  Fragile(std::shared_ptr<Tally> t, std::uint64_t every) : t_(std::move(t)), every_(every) {}
  void on(Context&, Seq& s) {
    auto& last = t_->last[s.producer];
    if (s.n <= last.load(std::memory_order_relaxed)) t_->order_errors.fetch_add(1);
    last.store(s.n, std::memory_order_relaxed);
    std::uint64_t seen = t_->handled.load() + t_->failed.load() + 1;
    if (seen % every_ == 0) {
      t_->failed.fetch_add(1);
      throw std::runtime_error("storm");
    }
    t_->handled.fetch_add(1);
  }
  std::shared_ptr<Tally> t_;
  std::uint64_t every_;
};

TEST(SupervisionStress, ARestartStormUnderLoadLosesNoMessage) {
  const std::size_t producers = 4;
  const std::int64_t per_producer = static_cast<std::int64_t>(test::scaled(20'000, 2'000));
  auto tally = std::make_shared<Tally>(producers);
  SystemConfig c;
  c.scheduler.workers = 2;
  c.guardian = std::make_shared<OneForOneStrategy>(1'000'000'000, std::chrono::seconds(0));
  c.on_failure = [](const Failure&) {};
  ActorSystem system(c);
  Pid fragile = system.spawn<Fragile>(tally, 97);
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (std::int64_t i = 0; i < per_producer; ++i) {
        system.send(fragile, Seq{static_cast<std::uint32_t>(p), i});
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::uint64_t total = producers * static_cast<std::uint64_t>(per_producer);
  ASSERT_TRUE(test::eventually([&] { return tally->handled + tally->failed == total; },
                               "every message handled or failed"));
  EXPECT_EQ(tally->order_errors.load(), 0u);
  EXPECT_EQ(tally->failed.load(), total / 97);
  EXPECT_EQ(system.failures(), tally->failed.load());
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(SupervisionStress, ConcurrentStopsAndPoisonsStopOnce) {
  for (int round = 0; round < static_cast<int>(test::scaled(200, 20)); ++round) {
    auto journal = std::make_shared<Journal>();
    SystemConfig c;
    c.scheduler.workers = 2;
    ActorSystem system(c);
    LifeSpec s{.tag = "a", .journal = journal};
    s.kids_at_start = {"k"};
    Pid a = system.spawn(test::life(s));
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 3; ++i) {
          if ((t + i) % 2 == 0) {
            system.stop(a);
          } else {
            system.poison(a);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_TRUE(test::eventually([&] { return system.live_actors() == 0; }, "a and k to stop"));
    EXPECT_EQ(journal->count("a:stopped"), 1u) << journal->dump();
    EXPECT_EQ(journal->count("a:stopping"), 1u) << journal->dump();
  }
}

// Each watcher watches and unwatches the target a few times while the target
// stops. What must hold, per watcher, reading its journal in order: a
// Terminated arrives only while watching (never after unwatch); a watch
// period gets at most one (after it the watcher no longer watches, as in
// Akka); and the last period, if it ended watching, got its Terminated.
TEST(SupervisionStress, WatchUnwatchRacesGiveExactlyOneTerminatedPerWatch) {
  const int watchers = 16;
  for (int round = 0; round < static_cast<int>(test::scaled(50, 10)); ++round) {
    auto journal = std::make_shared<Journal>();
    SystemConfig c;
    c.scheduler.workers = 2;
    ActorSystem system(c);
    LifeSpec ts{.tag = "t", .journal = journal};
    Pid target = system.spawn(test::life(ts));
    std::vector<Pid> ws;
    std::mt19937 rng(static_cast<std::uint32_t>(round));
    for (int w = 0; w < watchers; ++w) {
      LifeSpec s{.tag = cat("w", w), .journal = journal};
      ws.push_back(system.spawn(test::life(s)));
    }
    std::thread stopper([&] { system.stop(target); });  // races with what follows
    for (int w = 0; w < watchers; ++w) {
      int flips = static_cast<int>(rng() % 4) + 1;  // watch, unwatch, watch, ...
      for (int f = 0; f < flips; ++f) {
        if (f % 2 == 0) {
          system.send(ws[static_cast<std::size_t>(w)], WatchIt{target, true});
        } else {
          system.send(ws[static_cast<std::size_t>(w)], UnwatchIt{target, true});
        }
      }
    }
    stopper.join();
    ASSERT_TRUE(
        test::eventually([&] { return system.live_actors() == watchers; }, "the target to stop"));
    // Every watch period still open must be closed by a Terminated.
    auto closed = [&](int w) {
      bool watching = false;
      for (const auto& e : journal->of(cat("w", w))) {
        if (e == "watch") watching = true;
        if (e == "unwatch" || e.rfind("terminated:", 0) == 0) watching = false;
      }
      return !watching;
    };
    for (int w = 0; w < watchers; ++w) {
      ASSERT_TRUE(test::eventually([&] { return closed(w); }, "each open watch's Terminated"))
          << journal->dump();
    }
    system.shutdown();
    for (int w = 0; w < watchers; ++w) {
      bool watching = false;
      int in_period = 0;
      for (const auto& e : journal->of(cat("w", w))) {
        if (e == "watch") {
          if (!watching) in_period = 0;
          watching = true;
        } else if (e == "unwatch") {
          watching = false;
        } else if (e.rfind("terminated:", 0) == 0) {
          EXPECT_TRUE(watching) << "watcher " << w << " got " << e << " while not watching\n"
                                << journal->dump();
          EXPECT_EQ(++in_period, 1) << "watcher " << w << ": two in one watch\n" << journal->dump();
          watching = false;
        }
      }
    }
  }
}

}  // namespace
}  // namespace shoal
