// ActorCell: the run loop — at most `throughput` user messages per run,
// system messages before queued user messages, stop after the current
// message, an exception stops only the failing actor, and stop is
// idempotent. Behaviour tests run over every runtime configuration.
#include "shoal/detail/actor_cell.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/core/runtime_fixture.hpp"

namespace shoal {
namespace {

using test::DeadLetterLog;
using test::FailureLog;
using test::Gate;
using test::Hold;
using test::Ping;
using test::ping;
using test::Probe;

struct Work {
  std::uint64_t n;
};
struct StopSelf {};
struct Boom {
  std::string what;
};
struct ThrowInt {};
struct StopTwice {
  std::vector<Pid> targets;
};

struct Counter : Handles<Counter, Work, Ping, Hold, StopSelf, Boom, ThrowInt, StopTwice> {
  explicit Counter(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {
    probe_->on_construct();
  }
  ~Counter() override { probe_->on_destroy(); }
  void on(Context&, Work&) { probe_->handled.fetch_add(1); }
  void on(Context&, Ping& p) { p.reply.set_value(probe_->handled.load()); }
  void on(Context&, Hold& h) { h.block(); }
  void on(Context& ctx, StopSelf&) { ctx.stop(); }
  void on(Context&, Boom& b) { throw std::runtime_error(b.what); }
  void on(Context&, ThrowInt&) { throw 42; }
  void on(Context& ctx, StopTwice& s) {
    for (const Pid& p : s.targets) {
      ctx.stop(p);
      ctx.stop(p);
    }
    ctx.stop(Pid());
    ctx.stop();
    ctx.stop();
  }
  std::shared_ptr<Probe> probe_;
};

// -- the batch bound, step by step (deterministic mode) -----------------------------------

TEST(ActorCell, ARunHandlesAtMostThroughputUserMessages) {
  auto probe = std::make_shared<Probe>();
  SystemConfig c;
  c.scheduler.deterministic = true;
  ActorSystem system(c);
  Pid a = system.spawn(Props::of<Counter>(probe).with_throughput(10));
  for (std::uint64_t i = 0; i < 25; ++i) system.send(a, Work{i});
  EXPECT_EQ(probe->handled.load(), 0u) << "nothing runs until the test runs it";
  ASSERT_TRUE(system.run_one());
  EXPECT_EQ(probe->handled.load(), 10u);
  ASSERT_TRUE(system.run_one()) << "mail remained: the mailbox must be re-queued";
  EXPECT_EQ(probe->handled.load(), 20u);
  ASSERT_TRUE(system.run_one());
  EXPECT_EQ(probe->handled.load(), 25u);
  EXPECT_FALSE(system.run_one());
}

TEST(ActorCell, ThroughputDefaultsToTheSystemSetting) {
  auto probe = std::make_shared<Probe>();
  SystemConfig c;
  c.scheduler.deterministic = true;
  c.throughput = 7;
  ActorSystem system(c);
  Pid a = system.spawn<Counter>(probe);
  for (std::uint64_t i = 0; i < 10; ++i) system.send(a, Work{i});
  ASSERT_TRUE(system.run_one());
  EXPECT_EQ(probe->handled.load(), 7u);
  EXPECT_EQ(system.run_until_idle(), 1u);
  EXPECT_EQ(probe->handled.load(), 10u);
}

TEST(ActorCell, ZeroThroughputStillHandlesOneMessagePerRun) {
  auto probe = std::make_shared<Probe>();
  SystemConfig c;
  c.scheduler.deterministic = true;
  c.throughput = 0;
  ActorSystem system(c);
  Pid a = system.spawn<Counter>(probe);
  for (std::uint64_t i = 0; i < 3; ++i) system.send(a, Work{i});
  ASSERT_TRUE(system.run_one());
  EXPECT_EQ(probe->handled.load(), 1u);
  EXPECT_EQ(system.run_until_idle(), 2u);
}

TEST(ActorCell, AStopQueuedBehindAFullBatchStillOvertakesTheRest) {
  // The system queue is re-checked before every user message, not only at
  // the start of a run.
  auto probe = std::make_shared<Probe>();
  SystemConfig c;
  c.scheduler.deterministic = true;
  ActorSystem system(c);
  Pid a = system.spawn(Props::of<Counter>(probe).with_throughput(10));
  for (std::uint64_t i = 0; i < 25; ++i) system.send(a, Work{i});
  ASSERT_TRUE(system.run_one());
  ASSERT_EQ(probe->handled.load(), 10u);
  system.stop(a);
  EXPECT_TRUE(system.run_one());
  EXPECT_EQ(probe->handled.load(), 10u);
  EXPECT_EQ(probe->destroyed.load(), 1u);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::stopped_with_mail), 15u);
  EXPECT_FALSE(system.run_one());
}

// -- behaviour over every configuration ---------------------------------------------------

class ActorCellTest : public test::RuntimeTest {};

TEST_P(ActorCellTest, SystemMessageOvertakesQueuedUserMessages) {
  DeadLetterLog letters;
  auto probe = std::make_shared<Probe>();
  SystemConfig c;
  c.on_dead_letter = letters.observer();
  auto system = make_system(c);
  Pid a = spawn<Counter>(*system, probe);

  // Everything below queues up behind the held actor.
  Gate gate;
  ASSERT_TRUE(hold(*system, a, gate));
  const std::uint64_t n = 1000;
  for (std::uint64_t i = 0; i < n; ++i) system->send(a, Work{i});
  system->stop(a);
  gate.open();

  ASSERT_TRUE(arrive(*system, probe->gone_future, "the actor's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 0; }, "the actor to finish dying"));
  EXPECT_EQ(probe->handled.load(), 0u) << "user messages were handled before the queued stop";
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::stopped_with_mail), n);
  EXPECT_EQ(system->dead_letters().total(), n);
  auto records = letters.records();
  ASSERT_EQ(records.size(), n);
  for (const auto& r : records) {
    EXPECT_EQ(r.reason, DeadLetterReason::stopped_with_mail);
    EXPECT_EQ(r.target_id, a.id());
    EXPECT_EQ(r.type_name, message_type_of<Work>->name);
  }
}

TEST_P(ActorCellTest, StopFromAHandlerTakesEffectAfterTheCurrentMessage) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid a = spawn<Counter>(*system, probe);
  Gate gate;
  ASSERT_TRUE(hold(*system, a, gate));
  for (std::uint64_t i = 0; i < 3; ++i) system->send(a, Work{i});
  system->send(a, StopSelf{});
  for (std::uint64_t i = 0; i < 5; ++i) system->send(a, Work{i});
  gate.open();

  ASSERT_TRUE(arrive(*system, probe->gone_future, "the actor's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 0; }, "the actor to finish dying"));
  EXPECT_EQ(probe->handled.load(), 3u);
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::stopped_with_mail), 5u);
  EXPECT_EQ(system->dead_letters().total(), 5u);
}

// A guardian that never restarts: a failure stops the actor (the Stop
// directive). The default guardian restarts; see supervision_test.cpp.
TEST_P(ActorCellTest, AFailureUnderAStopDirectiveStopsOnlyThatActor) {
  FailureLog failures;
  DeadLetterLog letters;
  auto fragile_probe = std::make_shared<Probe>();
  auto healthy_probe = std::make_shared<Probe>();
  SystemConfig c;
  c.guardian = std::make_shared<OneForOneStrategy>(0, std::chrono::seconds(0));
  c.on_failure = failures.observer();
  c.on_dead_letter = letters.observer();
  auto system = make_system(c);
  Pid fragile = spawn<Counter>(*system, fragile_probe);
  Pid healthy = spawn<Counter>(*system, healthy_probe);

  system->send(fragile, Work{0});
  system->send(fragile, Boom{"boom from the fragile actor"});
  // Queued behind the failing message, or sent after the death: either way
  // a dead letter, and its promise breaks.
  auto after = ping(*system, fragile);
  ASSERT_TRUE(arrive(*system, fragile_probe->gone_future, "the failed actor's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 1; }, "the failed actor to finish dying"));

  EXPECT_EQ(fragile_probe->handled.load(), 1u);
  EXPECT_EQ(fragile_probe->destroyed.load(), 1u);
  EXPECT_EQ(system->failures(), 1u);
  auto fs = failures.failures();
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].what, "boom from the fragile actor");
  EXPECT_EQ(fs[0].actor_id, fragile.id());
  ASSERT_TRUE(test::ready_within(after, "the dead ping's broken promise"));
  EXPECT_THROW(after.get(), std::future_error);

  // Later sends to the stopped actor are dead letters with its id.
  system->send(fragile, Work{1});
  auto late = ping(*system, fragile);
  ASSERT_TRUE(test::ready_within(late, "the late ping's broken promise"));
  EXPECT_THROW(late.get(), std::future_error);
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::target_stopped) +
                system->dead_letters().count(DeadLetterReason::stopped_with_mail),
            3u);
  EXPECT_GE(system->dead_letters().count(DeadLetterReason::target_stopped), 2u);
  for (const auto& r : letters.records()) EXPECT_EQ(r.target_id, fragile.id());

  // The other actor keeps working.
  for (std::uint64_t i = 0; i < 10; ++i) system->send(healthy, Work{i});
  auto answer = ping(*system, healthy);
  ASSERT_TRUE(arrive(*system, answer, "the healthy actor's answer"));
  EXPECT_EQ(answer.get(), 10u);
  EXPECT_EQ(healthy_probe->destroyed.load(), 0u);
  EXPECT_EQ(system->failures(), 1u);
}

TEST_P(ActorCellTest, ANonStandardExceptionIsReportedAsUnknown) {
  FailureLog failures;
  auto probe = std::make_shared<Probe>();
  SystemConfig c;
  c.on_failure = failures.observer();
  auto system = make_system(c);
  Pid a = spawn<Counter>(*system, probe);
  system->send(a, ThrowInt{});
  ASSERT_TRUE(arrive(*system, probe->gone_future, "the failed actor's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->failures() == 1; }, "the failure count"));
  auto fs = failures.failures();
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].what, "unknown exception");
  EXPECT_EQ(fs[0].actor_id, a.id());
}

TEST_P(ActorCellTest, StopIsIdempotent) {
  auto probe = std::make_shared<Probe>();
  auto stopper_probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid a = spawn<Counter>(*system, probe);
  Pid b = spawn<Counter>(*system, std::make_shared<Probe>());
  Pid stopper = spawn<Counter>(*system, stopper_probe);

  // Twice from outside, before and after the death.
  system->stop(a);
  system->stop(a);
  ASSERT_TRUE(arrive(*system, probe->gone_future, "the stopped actor's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 2; }, "the actor to finish dying"));
  system->stop(a);
  // Twice from inside a handler, for a stopped actor, a live one, an empty
  // Pid and the handler's own actor.
  system->send(stopper, StopTwice{{a, b}});
  ASSERT_TRUE(arrive(*system, stopper_probe->gone_future, "the stopper's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 0; }, "every actor to finish dying"));

  EXPECT_EQ(probe->destroyed.load(), 1u);
  EXPECT_EQ(stopper_probe->destroyed.load(), 1u);
  EXPECT_EQ(system->failures(), 0u);
  EXPECT_EQ(system->dead_letters().total(), 0u) << "stopping a stopped actor is not a dead letter";
}

TEST_P(ActorCellTest, StopOfAnEmptyPidIsHarmless) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid a = spawn<Counter>(*system, probe);
  system->stop(Pid());
  system->stop(Pid{});
  system->send(a, Work{0});
  auto answer = ping(*system, a);
  ASSERT_TRUE(arrive(*system, answer, "the actor's answer"));
  EXPECT_EQ(answer.get(), 1u);
  EXPECT_EQ(system->live_actors(), 1u);
  EXPECT_EQ(system->dead_letters().total(), 0u);
  EXPECT_EQ(system->failures(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Configs, ActorCellTest, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);

}  // namespace
}  // namespace shoal
