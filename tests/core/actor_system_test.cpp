// ActorSystem: spawning (named and not), delivery under stress from threads
// and from actors (exact counts, no duplicates, per-producer order), dead
// letters counted and observed with their reason, type and target, and
// shutdown with work still queued. Behaviour tests run over every runtime
// configuration; the stress tests over the threaded ones.
#include "shoal/actor_system.hpp"
#include "core/detail/system_access.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/runtime_fixture.hpp"

namespace shoal::detail {
namespace {

using test::DeadLetterLog;
using test::FailureLog;
using test::Gate;
using test::Hold;
using test::Ping;
using test::ping;
using test::Probe;
using test::scaled;

// -- actors -----------------------------------------------------------------------------------

struct Work {
  std::uint64_t n;
};
template <int K>
struct Tagged {};
struct Unknown {};
struct SendWorkTo {
  Pid target;
};
struct SpawnNamedChild {
  std::string name;
  std::shared_ptr<Probe> child_probe;
  std::promise<SpawnErrc> reply;
};
struct SpawnChild {
  std::shared_ptr<Probe> child_probe;
  std::promise<Pid> reply;
};

/// A general-purpose actor: counts Work, notes the order of Tagged<K>,
/// answers Ping, can be held, and spawns or sends on request.
struct Counter : Handles<Counter, Work, Ping, Hold, Tagged<1>, Tagged<2>, Tagged<3>, SendWorkTo,
                         SpawnNamedChild, SpawnChild> {
  explicit Counter(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {
    probe_->on_construct();
  }
  ~Counter() override { probe_->on_destroy(); }

  void on(Context&, Work&) { probe_->handled.fetch_add(1); }
  void on(Context&, Ping& p) { p.reply.set_value(probe_->handled.load()); }
  void on(Context&, Hold& h) { h.block(); }
  void on(Context&, Tagged<1>&) { probe_->note(1); }
  void on(Context&, Tagged<2>&) { probe_->note(2); }
  void on(Context&, Tagged<3>&) { probe_->note(3); }
  void on(Context& ctx, SendWorkTo& m) { ctx.send(m.target, Work{0}); }
  void on(Context& ctx, SpawnNamedChild& m) {
    m.reply.set_value(ctx.spawn_named(Props::of<Counter>(m.child_probe), m.name).error);
  }
  void on(Context& ctx, SpawnChild& m) {
    Pid child = ctx.spawn<Counter>(m.child_probe);
    ctx.send(child, Work{0});
    m.reply.set_value(child);
  }

  std::shared_ptr<Probe> probe_;
};

// -- basic delivery -------------------------------------------------------------------------

class ActorSystemTest : public test::RuntimeTest {};

TEST_P(ActorSystemTest, MessagesSentFromOutsideReachTheActor) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid a = spawn<Counter>(*system, probe);
  EXPECT_NE(a.id(), 0u);
  for (std::uint64_t i = 0; i < 100; ++i) system->send(a, Work{i});
  auto answer = ping(*system, a);
  ASSERT_TRUE(arrive(*system, answer, "the actor's answer"));
  EXPECT_EQ(answer.get(), 100u) << "the Ping was sent after 100 Works from the same thread";
  EXPECT_EQ(system->dead_letters().total(), 0u);
}

TEST_P(ActorSystemTest, DeliverChainHandsAnActorAWholeChainInOrder) {
  // What io/ does with a decoded batch: one exchange for many messages (a
  // bounded mailbox takes them one at a time instead).
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid a = spawn<Counter>(*system, probe);
  std::vector<Envelope*> chain;
  for (int round = 0; round < 20; ++round) {
    chain.push_back(make_envelope(Tagged<1>{}));
    chain.push_back(make_envelope(Tagged<2>{}));
    chain.push_back(make_envelope(Tagged<3>{}));
  }
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    chain[i]->next.store(chain[i + 1], std::memory_order_relaxed);
  }
  shoal::detail::SystemAccess::deliver_chain(*system, a, chain.front(), chain.back());
  auto answer = ping(*system, a);
  ASSERT_TRUE(arrive(*system, answer, "the actor's answer"));
  std::vector<std::uint64_t> want;
  for (int round = 0; round < 20; ++round) want.insert(want.end(), {1, 2, 3});
  EXPECT_EQ(probe->seen(), want);
  EXPECT_EQ(system->dead_letters().total(), 0u);
}

TEST_P(ActorSystemTest, AnActorCanSpawnAChildAndSendToIt) {
  auto probe = std::make_shared<Probe>();
  auto child_probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid parent = spawn<Counter>(*system, probe);
  std::promise<Pid> reply;
  auto child = reply.get_future();
  system->send(parent, SpawnChild{child_probe, std::move(reply)});
  ASSERT_TRUE(arrive(*system, child, "the child's Pid"));
  Pid c = child.get();
  EXPECT_FALSE(c.empty());
  EXPECT_NE(c.id(), parent.id());
  auto answer = ping(*system, c);
  ASSERT_TRUE(arrive(*system, answer, "the child's answer"));
  EXPECT_EQ(answer.get(), 1u) << "the parent's Work reaches the child before our Ping";
  EXPECT_EQ(system->live_actors(), 2u);
}

TEST_P(ActorSystemTest, LiveActorsCountsActorsUntilTheyHaveStopped) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  std::vector<Pid> pids;
  for (int i = 0; i < 10; ++i) pids.push_back(spawn<Counter>(*system, probe));
  EXPECT_EQ(system->live_actors(), 10u);
  for (int i = 0; i < 4; ++i) system->stop(pids[static_cast<std::size_t>(i)]);
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 6; }, "four actors to stop"));
  EXPECT_EQ(probe->destroyed.load(), 4u);
  system->shutdown();
  EXPECT_EQ(system->live_actors(), 0u);
  EXPECT_EQ(probe->destroyed.load(), 10u);
}

/// Spawns a chain: each link spawns the next in Started until `depth` links
/// exist.
struct Link : Handles<Link, Started> {
  Link(std::shared_ptr<Probe> probe, int depth) : probe_(std::move(probe)), depth_(depth) {
    probe_->on_construct();
  }
  ~Link() override { probe_->on_destroy(); }
  void on(Context& ctx, Started&) {
    if (depth_ > 1) ctx.spawn<Link>(probe_, depth_ - 1);
  }
  std::shared_ptr<Probe> probe_;
  int depth_;
};

TEST_P(ActorSystemTest, LiveActorsCountsChildrenSpawnedAndStoppedInsideActors) {
  auto probe = std::make_shared<Probe>();
  auto kids = std::make_shared<Probe>();
  auto system = make_system();
  Pid parent = spawn<Counter>(*system, probe);
  std::vector<Pid> children;
  for (int i = 0; i < 20; ++i) {
    SpawnChild m{kids, {}};
    auto child = m.reply.get_future();
    system->send(parent, std::move(m));
    ASSERT_TRUE(arrive(*system, child, "the child's pid"));
    children.push_back(child.get());
  }
  EXPECT_EQ(system->live_actors(), 21u);
  for (int i = 0; i < 20; i += 2) system->stop(children[static_cast<std::size_t>(i)]);
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 11; }, "ten children to stop"));
  EXPECT_EQ(kids->destroyed.load(), 10u);
  system->stop(parent);  // the other ten go with it
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 0; }, "the parent and its children"));
  EXPECT_EQ(kids->destroyed.load(), 20u);
  EXPECT_EQ(probe->destroyed.load(), 1u);
}

TEST_P(ActorSystemTest, ShutdownStopsADeepChainOfChildrenThroughItsRoot) {
  // Only the root is one the system spawned: shutdown reaches the other 499
  // through their parents, and waits for them.
  auto probe = std::make_shared<Probe>();
  constexpr int depth = 500;
  auto system = make_system();
  spawn<Link>(*system, probe, depth);
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == depth; }, "the chain to be built"));
  system->shutdown();
  EXPECT_EQ(system->live_actors(), 0u);
  EXPECT_EQ(probe->constructed.load(), std::uint64_t{depth});
  EXPECT_EQ(probe->destroyed.load(), std::uint64_t{depth}) << "shutdown returned early";
}

TEST_P(ActorSystemTest, StoppedActorsFreeTheirLiveSlotsForNewOnes) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  const std::size_t n = 100;
  for (int round = 0; round < 3; ++round) {
    std::vector<Pid> pids;
    for (std::size_t i = 0; i < n; ++i) pids.push_back(spawn<Counter>(*system, probe));
    EXPECT_EQ(system->live_actors(), n / 2 * round + n) << "round " << round;
    // Stop every other one: the next round reuses their slots among live ones.
    for (std::size_t i = 0; i < n; i += 2) system->stop(pids[i]);
    ASSERT_TRUE(settle(
        *system, [&] { return system->live_actors() == n / 2 * (round + 1); },
        "half of the round's actors to stop"));
    // The survivors still answer: their slots were not handed to others.
    auto answer = ping(*system, pids[1]);
    ASSERT_TRUE(arrive(*system, answer, "a survivor's answer"));
  }
  system->shutdown();
  EXPECT_EQ(system->live_actors(), 0u);
  EXPECT_EQ(probe->destroyed.load(), 3 * n);
}

// -- spawn_named ----------------------------------------------------------------------------

TEST_P(ActorSystemTest, SpawnNamedRefusesATakenNameAndFreesItWhenTheActorStops) {
  auto probe = std::make_shared<Probe>();
  auto refused_probe = std::make_shared<Probe>();
  auto system = make_system();
  auto props = [&](std::shared_ptr<Probe> p) {
    return Props::of<Counter>(p).with_mailbox(mailbox());
  };

  SpawnResult first = system->spawn_named(props(probe), "alpha");
  ASSERT_TRUE(first);
  EXPECT_EQ(first.error, SpawnErrc::ok);
  EXPECT_FALSE(first.pid.empty());

  SpawnResult second = system->spawn_named(props(refused_probe), "alpha");
  EXPECT_FALSE(second);
  EXPECT_EQ(second.error, SpawnErrc::name_taken);
  EXPECT_TRUE(second.pid.empty());
  EXPECT_EQ(refused_probe->destroyed.load(), refused_probe->constructed.load())
      << "the instance made for a refused spawn must be destroyed";
  EXPECT_EQ(system->live_actors(), 1u);

  EXPECT_EQ(system->lookup("alpha"), first.pid);
  EXPECT_TRUE(system->lookup("beta").empty());
  auto answer = ping(*system, system->lookup("alpha"));
  ASSERT_TRUE(arrive(*system, answer, "the named actor's answer"));

  system->stop(first.pid);
  ASSERT_TRUE(arrive(*system, probe->gone_future, "the named actor's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 0; }, "the named actor to finish dying"));
  EXPECT_TRUE(system->lookup("alpha").empty()) << "a stopped actor's name must be free";

  SpawnResult third = system->spawn_named(props(probe), "alpha");
  ASSERT_TRUE(third) << "the name was freed, so it can be taken again";
  EXPECT_NE(third.pid.id(), first.pid.id());
  EXPECT_EQ(system->lookup("alpha"), third.pid);
}

TEST_P(ActorSystemTest, SpawnNamedFromAnActorNamesTheChildUnderItsParent) {
  auto probe = std::make_shared<Probe>();
  auto child_probe = std::make_shared<Probe>();
  auto system = make_system();
  SpawnResult parent = system->spawn_named(Props::of<Counter>(probe), "parent");
  ASSERT_TRUE(parent);
  Pid anonymous = spawn<Counter>(*system, probe);

  std::promise<SpawnErrc> r1, r2, r3;
  auto first = r1.get_future();
  auto again = r2.get_future();
  auto under_anonymous = r3.get_future();
  system->send(parent.pid, SpawnNamedChild{"child", child_probe, std::move(r1)});
  system->send(parent.pid, SpawnNamedChild{"child", child_probe, std::move(r2)});
  system->send(anonymous, SpawnNamedChild{"child", child_probe, std::move(r3)});
  ASSERT_TRUE(arrive(*system, first, "the first spawn's outcome"));
  ASSERT_TRUE(arrive(*system, again, "the second spawn's outcome"));
  ASSERT_TRUE(arrive(*system, under_anonymous, "the third spawn's outcome"));
  EXPECT_EQ(first.get(), SpawnErrc::ok);
  EXPECT_EQ(again.get(), SpawnErrc::name_taken) << "parent/child is taken";
  EXPECT_EQ(under_anonymous.get(), SpawnErrc::ok) << "a different parent, a different name";

  Pid child = system->lookup("parent/child");
  ASSERT_FALSE(child.empty());
  EXPECT_EQ(system->name_of(child), "parent/child");
  EXPECT_FALSE(system->lookup("$" + std::to_string(anonymous.id()) + "/child").empty());
  EXPECT_TRUE(system->lookup("child").empty()) << "a child's name is not global";
}

// -- dead letters -----------------------------------------------------------------------------

/// A system whose dead letters go to `letters`.
SystemConfig observed(DeadLetterLog& letters) {
  SystemConfig c;
  c.on_dead_letter = letters.observer();
  return c;
}

TEST_P(ActorSystemTest, SendingToAStoppedActorIsATargetStoppedDeadLetter) {
  DeadLetterLog letters;
  auto probe = std::make_shared<Probe>();
  auto system = make_system(observed(letters));
  Pid a = spawn<Counter>(*system, probe);
  system->stop(a);
  ASSERT_TRUE(arrive(*system, probe->gone_future, "the actor's destructor"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 0; }, "the actor to finish dying"));

  system->send(a, Work{1});
  system->send(a, Unknown{});
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::target_stopped), 2u);
  EXPECT_EQ(system->dead_letters().total(), 2u);
  auto records = letters.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].reason, DeadLetterReason::target_stopped);
  EXPECT_EQ(records[0].target_id, a.id());
  EXPECT_EQ(records[0].type_name, message_type_of<Work>->name);
  EXPECT_EQ(records[1].type_name, message_type_of<Unknown>->name);
}

TEST_P(ActorSystemTest, SendingToAnEmptyPidIsAnEmptyPidDeadLetter) {
  DeadLetterLog letters;
  auto probe = std::make_shared<Probe>();
  auto system = make_system(observed(letters));
  system->send(Pid(), Work{1});
  // And from inside an actor.
  Pid a = spawn<Counter>(*system, probe);
  system->send(a, SendWorkTo{Pid()});
  auto answer = ping(*system, a);
  ASSERT_TRUE(arrive(*system, answer, "the actor's answer"));

  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::empty_pid), 2u);
  EXPECT_EQ(system->dead_letters().total(), 2u);
  for (const auto& r : letters.records()) {
    EXPECT_EQ(r.reason, DeadLetterReason::empty_pid);
    EXPECT_EQ(r.target_id, 0u);
    EXPECT_EQ(r.type_name, message_type_of<Work>->name);
  }
}

TEST_P(ActorSystemTest, AnUnlistedMessageTypeIsAnUnhandledDeadLetter) {
  DeadLetterLog letters;
  auto probe = std::make_shared<Probe>();
  auto system = make_system(observed(letters));
  Pid a = spawn<Counter>(*system, probe);
  system->send(a, Unknown{});
  system->send(a, Work{0});
  auto answer = ping(*system, a);
  ASSERT_TRUE(arrive(*system, answer, "the actor's answer"));
  EXPECT_EQ(answer.get(), 1u) << "an unhandled message must not stop the actor";

  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::unhandled), 1u);
  EXPECT_EQ(system->dead_letters().total(), 1u);
  auto records = letters.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].reason, DeadLetterReason::unhandled);
  EXPECT_EQ(records[0].target_id, a.id());
  EXPECT_EQ(records[0].type_name, message_type_of<Unknown>->name);
  EXPECT_EQ(system->failures(), 0u);
}

/// Sends Tagged<1..3> to a bounded(2) mailbox with `policy` while its actor
/// is held, and checks the loser (reason, type, target) and the survivors.
class OverflowTest : public test::RuntimeTest {
 protected:
  void run(OverflowPolicy policy, int loser, DeadLetterReason reason,
           std::vector<std::uint64_t> survivors) {
    DeadLetterLog letters;
    auto probe = std::make_shared<Probe>();
    auto system = make_system(observed(letters));
    Pid a =
        system->spawn(Props::of<Counter>(probe).with_mailbox(MailboxConfig::bounded(2, policy)));
    Gate gate;
    ASSERT_TRUE(hold(*system, a, gate));
    system->send(a, Tagged<1>{});
    system->send(a, Tagged<2>{});
    system->send(a, Tagged<3>{});
    // The loser is reported on the sending thread, before send returns.
    EXPECT_EQ(system->dead_letters().count(reason), 1u);
    EXPECT_EQ(system->dead_letters().total(), 1u);
    auto records = letters.records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].reason, reason);
    EXPECT_EQ(records[0].target_id, a.id());
    const std::string_view names[] = {message_type_of<Tagged<1>>->name,
                                      message_type_of<Tagged<2>>->name,
                                      message_type_of<Tagged<3>>->name};
    EXPECT_EQ(records[0].type_name, names[loser - 1]);

    gate.open();
    ASSERT_TRUE(settle(
        *system, [&] { return probe->handled.load() == 2; }, "the two survivors"));
    EXPECT_EQ(probe->seen(), survivors);
  }
};

TEST_P(OverflowTest, AFullDropNewestMailboxRefusesTheNewMessage) {
  run(OverflowPolicy::drop_newest, 3, DeadLetterReason::mailbox_full, {1, 2});
}

TEST_P(OverflowTest, AFullDropOldestMailboxEvictsTheOldestMessage) {
  run(OverflowPolicy::drop_oldest, 1, DeadLetterReason::dropped_oldest, {2, 3});
}

/// A message try_send gives back: move-only, so giving it back is a move.
struct Parcel {
  std::unique_ptr<int> value;
};

TEST_P(OverflowTest, TrySendSaysFullAndGivesTheMessageBackWithoutADeadLetter) {
  for (OverflowPolicy policy : {OverflowPolicy::drop_newest, OverflowPolicy::drop_oldest}) {
    auto probe = std::make_shared<Probe>();
    auto system = make_system();
    Pid a =
        system->spawn(Props::of<Counter>(probe).with_mailbox(MailboxConfig::bounded(2, policy)));
    Gate gate;
    ASSERT_TRUE(hold(*system, a, gate));
    EXPECT_EQ(system->try_send(a, Tagged<1>{}), SendResult::delivered);
    EXPECT_EQ(system->try_send(a, Tagged<2>{}), SendResult::delivered);
    Parcel p{std::make_unique<int>(7)};
    EXPECT_EQ(system->try_send(a, p), SendResult::full);
    ASSERT_NE(p.value, nullptr) << "a refused message stays with its sender";
    EXPECT_EQ(*p.value, 7);
    EXPECT_EQ(system->try_send(a, Tagged<3>{}), SendResult::full) << "nothing is evicted";
    EXPECT_EQ(system->dead_letters().total(), 0u);
    gate.open();
    ASSERT_TRUE(settle(
        *system, [&] { return probe->handled.load() == 2; }, "the two queued"));
    EXPECT_EQ(probe->seen(), (std::vector<std::uint64_t>{1, 2}));
    // Room again: delivered.
    EXPECT_EQ(system->try_send(a, Tagged<3>{}), SendResult::delivered);
    ASSERT_TRUE(settle(
        *system, [&] { return probe->handled.load() == 3; }, "the third"));
    EXPECT_EQ(system->dead_letters().total(), 0u);
  }
}

TEST_P(OverflowTest, TrySendToAStoppedActorOrAnEmptyPidSaysStoppedWithoutADeadLetter) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid a = system->spawn(Props::of<Counter>(probe).with_mailbox(mailbox()));
  EXPECT_EQ(system->try_send(a, Tagged<1>{}), SendResult::delivered);
  system->stop(a);
  Parcel p{std::make_unique<int>(3)};
  EXPECT_EQ(system->try_send(a, p), SendResult::stopped);
  EXPECT_NE(p.value, nullptr);
  EXPECT_EQ(system->try_send(Pid(), Tagged<1>{}), SendResult::stopped);
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::target_stopped), 0u);
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::empty_pid), 0u);
}

/// Answers with its own mailbox depth, as Context::mailbox_depth reads it.
struct AskDepth {
  std::shared_ptr<std::promise<std::optional<std::size_t>>> reply;
};
struct DepthReader : Handles<DepthReader, Hold, AskDepth, Work> {
  void on(Context&, Hold& h) { h.block(); }
  void on(Context& ctx, AskDepth& m) { m.reply->set_value(ctx.mailbox_depth()); }
  void on(Context&, Work&) {}
};

TEST(MailboxDepth, ABoundedMailboxCountsWhatWaitsBehindTheRunningHandler) {
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid a = system.spawn(Props::of<DepthReader>().with_mailbox(MailboxConfig::bounded(8)));
  EXPECT_EQ(system.mailbox_depth(a), std::optional<std::size_t>(0));
  Gate gate;
  ASSERT_TRUE(gate.hold(system, a));
  EXPECT_EQ(system.mailbox_depth(a), std::optional<std::size_t>(0)) << "the held message is taken";
  auto reply = std::make_shared<std::promise<std::optional<std::size_t>>>();
  auto answer = reply->get_future();
  system.send(a, AskDepth{reply});
  for (int i = 0; i < 3; ++i) system.send(a, Work{0});
  EXPECT_EQ(system.mailbox_depth(a), std::optional<std::size_t>(4));
  gate.open();
  ASSERT_EQ(answer.wait_for(test::deadline), std::future_status::ready) << "no answer";
  EXPECT_EQ(answer.get(), std::optional<std::size_t>(3)) << "the actor sees the three behind it";
  ASSERT_TRUE(system.wait_until_idle(test::deadline)) << "never idle";
  EXPECT_EQ(system.mailbox_depth(a), std::optional<std::size_t>(0));
}

TEST(MailboxDepth, AnInstrumentedUnboundedMailboxCountsAndAPlainOneSaysItDoesNotKnow) {
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid counted = system.spawn(Props::of<DepthReader>().with_stats());
  Pid plain = system.spawn(Props::of<DepthReader>());
  Gate gate;
  ASSERT_TRUE(gate.hold(system, counted));
  for (int i = 0; i < 5; ++i) system.send(counted, Work{0});
  EXPECT_EQ(system.mailbox_depth(counted), std::optional<std::size_t>(5));
  EXPECT_EQ(system.mailbox_depth(plain), std::nullopt) << "an unbounded mailbox keeps no count";
  gate.open();
  ASSERT_TRUE(system.wait_until_idle(test::deadline)) << "never idle";
  EXPECT_EQ(system.mailbox_depth(counted), std::optional<std::size_t>(0));
}

TEST(MailboxDepth, ADeadActorHasNothingWaitingAndNoActorHasNoDepth) {
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid a = system.spawn(Props::of<DepthReader>().with_mailbox(MailboxConfig::bounded(8)));
  Gate gate;
  ASSERT_TRUE(gate.hold(system, a));
  for (int i = 0; i < 3; ++i) system.send(a, Work{0});
  auto gone = system.stop_future(a, test::deadline);
  gate.open();
  ASSERT_TRUE(gone.result().ok()) << "the actor never stopped";
  EXPECT_EQ(system.mailbox_depth(a), std::optional<std::size_t>(0));
  EXPECT_EQ(system.mailbox_depth(Pid()), std::nullopt);
  // A future's Pid is no actor.
  auto pending = system.request_future<int>(a, Work{0}, test::deadline);
  EXPECT_EQ(system.mailbox_depth(pending.pid()), std::nullopt);
}

/// Passes a countdown on to the next in a ring until it runs out.
struct Hop {
  std::uint64_t left;
};
struct ChainLink : Handles<ChainLink, Pid, Hop> {
  explicit ChainLink(std::shared_ptr<std::atomic<std::uint64_t>> hops) : hops(std::move(hops)) {}
  void on(Context&, Pid& n) { next = n; }
  void on(Context& ctx, Hop& h) {
    // relaxed: read by the test after wait_until_idle, which saw this run end.
    hops->fetch_add(1, std::memory_order_relaxed);
    if (h.left > 0) ctx.send(next, Hop{h.left - 1});
  }
  Pid next;
  std::shared_ptr<std::atomic<std::uint64_t>> hops;
};

TEST(ActorSystem, WaitUntilIdleReturnsOnceEveryHopOfAChainHasRun) {
  ActorSystem system({.scheduler = {.workers = 2}});
  auto hops = std::make_shared<std::atomic<std::uint64_t>>(0);
  constexpr int links = 16;
  const std::uint64_t chain = scaled(200'000, 20'000);
  std::vector<Pid> ring;
  for (int i = 0; i < links; ++i) ring.push_back(system.spawn<ChainLink>(hops));
  for (int i = 0; i < links; ++i) system.send(ring[i], ring[(i + 1) % links]);
  // Four chains at once, started from this thread.
  for (int c = 0; c < 4; ++c) system.send(ring[c], Hop{chain - 1});
  ASSERT_TRUE(system.wait_until_idle(test::deadline)) << "never idle";
  // relaxed: wait_until_idle saw every worker idle after the last run.
  EXPECT_EQ(hops->load(std::memory_order_relaxed), 4 * chain);
  // Idle already: at once.
  EXPECT_TRUE(system.wait_until_idle(test::deadline));
}

TEST(ActorSystem, WaitUntilIdleTimesOutWhileAHandlerRunsAndRefusesAWorker) {
  ActorSystem system({.scheduler = {.workers = 1}});
  auto probe = std::make_shared<Probe>();
  Pid a = system.spawn<Counter>(probe);
  Gate gate;
  ASSERT_TRUE(gate.hold(system, a));
  EXPECT_FALSE(system.wait_until_idle(std::chrono::milliseconds(20)));
  gate.open();
  EXPECT_TRUE(system.wait_until_idle(test::deadline));
  // From a worker it would wait for itself.
  std::promise<bool> threw;
  struct Asker : Handles<Asker, Ping> {
    explicit Asker(std::promise<bool>* p) : p(p) {}
    void on(Context& ctx, Ping&) {
      try {
        ctx.system().wait_until_idle(std::chrono::milliseconds(1));
        p->set_value(false);
      } catch (const std::logic_error&) {
        p->set_value(true);
      }
    }
    std::promise<bool>* p;
  };
  system.send(system.spawn<Asker>(&threw), Ping{});
  auto f = threw.get_future();
  ASSERT_TRUE(test::ready_within(f, "the asker"));
  EXPECT_TRUE(f.get());
}

// -- shutdown -----------------------------------------------------------------------------

struct Ball {};
struct Partner {
  Pid pid;
};

/// Bounces a Ball with its partner forever: only a stop ends it.
struct Bouncer : Handles<Bouncer, Partner, Ball> {
  explicit Bouncer(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {
    probe_->on_construct();
  }
  ~Bouncer() override { probe_->on_destroy(); }
  void on(Context&, Partner& p) { partner_ = std::move(p.pid); }
  void on(Context& ctx, Ball&) {
    probe_->handled.fetch_add(1);
    ctx.send(partner_, Ball{});
  }
  std::shared_ptr<Probe> probe_;
  Pid partner_;
};

TEST_P(ActorSystemTest, ShutdownWithQueuedMessagesDoesNotHangAndTurnsThemIntoDeadLetters) {
  DeadLetterLog letters;
  auto probe = std::make_shared<Probe>();
  auto bouncers = std::make_shared<Probe>();
  auto system = make_system(observed(letters));

  const std::uint64_t actors = 8, per_actor = 1000;
  std::vector<Pid> pids;
  for (std::uint64_t i = 0; i < actors; ++i) pids.push_back(spawn<Counter>(*system, probe));
  // Two pairs that never go idle on their own.
  for (int pair = 0; pair < 2; ++pair) {
    Pid a = spawn<Bouncer>(*system, bouncers);
    Pid b = spawn<Bouncer>(*system, bouncers);
    system->send(a, Partner{b});
    system->send(b, Partner{a});
    system->send(a, Ball{});
  }
  for (const Pid& p : pids) {
    for (std::uint64_t i = 0; i < per_actor; ++i) system->send(p, Work{i});
  }

  system->shutdown();  // the test's timeout catches a hang

  EXPECT_EQ(system->live_actors(), 0u);
  EXPECT_EQ(probe->destroyed.load(), actors);
  EXPECT_EQ(bouncers->destroyed.load(), 4u);
  std::uint64_t work_dead = 0;
  for (const auto& r : letters.records()) {
    if (r.type_name != message_type_of<Work>->name) continue;
    EXPECT_EQ(r.reason, DeadLetterReason::stopped_with_mail);
    ++work_dead;
  }
  EXPECT_EQ(probe->handled.load() + work_dead, actors * per_actor)
      << "every queued message is handled or becomes a dead letter, exactly once";
  if (deterministic()) {
    EXPECT_EQ(probe->handled.load(), 0u) << "the stops overtake the queued messages";
  }
}

TEST_P(ActorSystemTest, SpawningAfterShutdownFails) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid before = spawn<Counter>(*system, probe);
  system->shutdown();
  EXPECT_THROW(system->spawn<Counter>(probe), SpawnError);
  EXPECT_THROW(system->spawn(Props::of<Counter>(probe)), SpawnError);
  SpawnResult r = system->spawn_named(Props::of<Counter>(probe), "late");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error, SpawnErrc::shut_down);
  EXPECT_TRUE(r.pid.empty());
  EXPECT_TRUE(system->lookup("late").empty());
  EXPECT_EQ(system->live_actors(), 0u);
  EXPECT_EQ(probe->destroyed.load(), probe->constructed.load())
      << "instances made for refused spawns must be destroyed";
  // Sending to an actor of a shut-down system is a dead letter, not a crash.
  system->send(before, Work{0});
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::target_stopped), 1u);
  system->shutdown();  // idempotent
}

TEST_P(ActorSystemTest, ActorsSpawningDuringShutdownDoNotHangIt) {
  FailureLog failures;
  auto probe = std::make_shared<Probe>();
  auto children = std::make_shared<Probe>();
  SystemConfig c;
  c.on_failure = failures.observer();
  auto system = make_system(c);

  struct SpawnLoop {};
  struct Spawner : Handles<Spawner, SpawnLoop> {
    Spawner(std::shared_ptr<Probe> probe, std::shared_ptr<Probe> children)
        : probe_(std::move(probe)), children_(std::move(children)) {
      probe_->on_construct();
    }
    ~Spawner() override { probe_->on_destroy(); }
    void on(Context& ctx, SpawnLoop&) {
      Pid child = ctx.spawn<Counter>(children_);  // throws SpawnError once shutdown began
      ctx.send(child, Work{0});
      probe_->handled.fetch_add(1);
      ctx.send(ctx.self(), SpawnLoop{});
    }
    std::shared_ptr<Probe> probe_, children_;
  };

  std::vector<Pid> spawners;
  for (int i = 0; i < 4; ++i) spawners.push_back(spawn<Spawner>(*system, probe, children));
  for (const Pid& s : spawners) system->send(s, SpawnLoop{});
  if (!deterministic()) {
    ASSERT_TRUE(
        test::eventually([&] { return probe->handled.load() >= 100; }, "spawning to get going"));
  } else {
    system->run_until_idle(200);
  }
  system->shutdown();

  EXPECT_EQ(system->live_actors(), 0u);
  // A spawner whose spawn threw may have been restarted (the default
  // guardian) before its stop: every instance made is destroyed.
  EXPECT_GE(probe->constructed.load(), 4u);
  EXPECT_EQ(probe->destroyed.load(), probe->constructed.load());
  EXPECT_EQ(children->destroyed.load(), children->constructed.load())
      << "every child made (linked or refused) must be destroyed";
  for (const auto& f : failures.failures()) {
    EXPECT_NE(f.what.find("shutdown"), std::string::npos) << f.what;
  }
}

TEST(ActorSystem, ShutdownFromTwoThreadsAtOnceReturnsInBoth) {
  for (int round = 0; round < 20; ++round) {
    auto probe = std::make_shared<Probe>();
    SystemConfig c;
    c.scheduler.workers = 2;
    ActorSystem system(c);
    for (int i = 0; i < 16; ++i) {
      Pid a = system.spawn<Counter>(probe);
      for (std::uint64_t k = 0; k < 100; ++k) system.send(a, Work{k});
    }
    std::latch start(2);
    auto other = std::async(std::launch::async, [&] {
      start.arrive_and_wait();
      system.shutdown();
    });
    start.arrive_and_wait();
    system.shutdown();
    ASSERT_TRUE(test::ready_within(other, "the other thread's shutdown to return"));
    EXPECT_EQ(system.live_actors(), 0u);
    EXPECT_EQ(probe->destroyed.load(), 16u);
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, ActorSystemTest, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);
INSTANTIATE_TEST_SUITE_P(Configs, OverflowTest, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);

// -- stress: exact counts, no duplicates, per-producer order ---------------------------------

struct Seq {
  std::uint32_t producer;
  std::uint64_t n;
};

struct SinkReport {
  std::uint64_t received = 0;
  std::uint64_t order_errors = 0;
  std::string first_error;
  std::vector<std::uint64_t> per_producer;
};

/// Checks that each producer's sequence numbers arrive strictly increasing
/// (a repeat is a duplicate, a step back a reordering) and answers once
/// `expected` messages arrived. Anything after that is an error too.
struct Sink : Handles<Sink, Seq> {
  Sink(std::uint32_t producers, std::uint64_t expected,
       std::shared_ptr<std::promise<SinkReport>> done)
      : expected_(expected), last_(producers, -1), done_(std::move(done)) {
    report_.per_producer.assign(producers, 0);
  }
  void on(Context&, Seq& m) {
    if (m.producer >= last_.size()) {
      error(test::cat("unknown producer ", m.producer));
    } else {
      if (static_cast<std::int64_t>(m.n) <= last_[m.producer]) {
        error(test::cat("producer ", m.producer, ": ", m.n, " after ", last_[m.producer]));
      }
      last_[m.producer] = static_cast<std::int64_t>(m.n);
      ++report_.per_producer[m.producer];
    }
    if (++report_.received == expected_) done_->set_value(report_);
    if (report_.received == expected_ + 1) {
      ADD_FAILURE() << "a sink received more messages than were sent to it";
    }
  }
  void error(std::string what) {
    if (report_.order_errors++ == 0) report_.first_error = std::move(what);
  }
  std::uint64_t expected_;
  std::vector<std::int64_t> last_;
  std::shared_ptr<std::promise<SinkReport>> done_;
  SinkReport report_;
};

/// An actor that sends `count` Seq messages, bursts of `burst` per turn,
/// round-robin over `sinks` starting at its own index, re-queueing itself
/// between bursts (so it may migrate between workers).
struct Produce {};
struct Producer : Handles<Producer, Produce> {
  Producer(std::uint32_t index, std::vector<Pid> sinks, std::uint64_t count)
      : index_(index), sinks_(std::move(sinks)), count_(count) {}
  void on(Context& ctx, Produce&) {
    for (int k = 0; k < 64 && sent_ < count_; ++k, ++sent_) {
      ctx.send(sinks_[(sent_ + index_) % sinks_.size()], Seq{index_, sent_});
    }
    if (sent_ < count_) ctx.send(ctx.self(), Produce{});
  }
  std::uint32_t index_;
  std::vector<Pid> sinks_;
  std::uint64_t count_, sent_ = 0;
};

class ActorSystemStress : public test::RuntimeTest {
 protected:
  /// How many of producer p's `per_producer` messages land on sink s when
  /// message i goes to sink (i + p) % sinks.
  static std::uint64_t share(std::uint64_t per_producer, std::uint32_t p, std::uint32_t s,
                             std::uint32_t sinks) {
    std::uint64_t first = (s + sinks - p % sinks) % sinks;  // smallest i with (i+p)%sinks == s
    return first >= per_producer ? 0 : (per_producer - first - 1) / sinks + 1;
  }

  struct Sinks {
    std::vector<Pid> pids;
    std::vector<std::future<SinkReport>> reports;
  };

  Sinks spawn_sinks(ActorSystem& system, std::uint32_t sinks, std::uint32_t producers,
                    std::uint64_t per_producer) {
    Sinks out;
    for (std::uint32_t s = 0; s < sinks; ++s) {
      std::uint64_t expected = 0;
      for (std::uint32_t p = 0; p < producers; ++p) expected += share(per_producer, p, s, sinks);
      auto done = std::make_shared<std::promise<SinkReport>>();
      out.reports.push_back(done->get_future());
      // A bounded mailbox large enough for everything sent to it: this
      // suite tests delivery, not overflow.
      out.pids.push_back(
          system.spawn(Props::of<Sink>(producers, expected, done).with_mailbox(mailbox(expected))));
    }
    return out;
  }

  void check(ActorSystem& system, Sinks& sinks, std::uint32_t producers,
             std::uint64_t per_producer) {
    const auto n = static_cast<std::uint32_t>(sinks.pids.size());
    for (std::uint32_t s = 0; s < n; ++s) {
      ASSERT_TRUE(arrive(system, sinks.reports[s], test::cat("sink ", s, " to receive everything")))
          << "dead letters so far: " << system.dead_letters().total();
      SinkReport r = sinks.reports[s].get();
      EXPECT_EQ(r.order_errors, 0u) << "sink " << s << ": " << r.first_error;
      for (std::uint32_t p = 0; p < producers; ++p) {
        EXPECT_EQ(r.per_producer[p], share(per_producer, p, s, n))
            << "sink " << s << ", producer " << p;
      }
    }
    EXPECT_EQ(system.dead_letters().total(), 0u);
  }
};

TEST_P(ActorSystemStress, ManyProducerThreadsToOneActorLoseAndDuplicateNothing) {
  const std::uint32_t producers = 4;
  const std::uint64_t per_producer = scaled(100'000, 10'000);
  auto system = make_system();
  Sinks sinks = spawn_sinks(*system, 1, producers, per_producer);
  std::latch start(producers);
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer; ++i) system->send(sinks.pids[0], Seq{p, i});
    });
  }
  for (auto& t : threads) t.join();
  check(*system, sinks, producers, per_producer);
}

TEST_P(ActorSystemStress, ManyProducerThreadsToManyActorsLoseAndDuplicateNothing) {
  const std::uint32_t producers = 4, sink_count = 16;
  const std::uint64_t per_producer = scaled(100'000, 10'000);
  auto system = make_system();
  Sinks sinks = spawn_sinks(*system, sink_count, producers, per_producer);
  std::latch start(producers);
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        system->send(sinks.pids[(i + p) % sink_count], Seq{p, i});
      }
    });
  }
  for (auto& t : threads) t.join();
  check(*system, sinks, producers, per_producer);
}

TEST_P(ActorSystemStress, ManyProducerActorsToManyActorsLoseAndDuplicateNothing) {
  const std::uint32_t producers = 8, sink_count = 8;
  const std::uint64_t per_producer = scaled(50'000, 5'000);
  auto system = make_system();
  Sinks sinks = spawn_sinks(*system, sink_count, producers, per_producer);
  std::vector<Pid> pids;
  for (std::uint32_t p = 0; p < producers; ++p) {
    pids.push_back(spawn<Producer>(*system, p, sinks.pids, per_producer));
  }
  for (const Pid& p : pids) system->send(p, Produce{});
  check(*system, sinks, producers, per_producer);
}

TEST_P(ActorSystemStress, ProducerThreadsAndActorsSendingToOneActorAtOnceLoseNothing) {
  // Outside threads and workers push into the same mailbox concurrently.
  const std::uint32_t threads_n = 2, actors_n = 2, producers = threads_n + actors_n;
  const std::uint64_t per_producer = scaled(100'000, 10'000);
  auto system = make_system();
  Sinks sinks = spawn_sinks(*system, 1, producers, per_producer);
  std::vector<Pid> pids;
  for (std::uint32_t a = 0; a < actors_n; ++a) {
    pids.push_back(spawn<Producer>(*system, threads_n + a, sinks.pids, per_producer));
  }
  std::latch start(threads_n + 1);
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < threads_n; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer; ++i) system->send(sinks.pids[0], Seq{p, i});
    });
  }
  start.arrive_and_wait();
  for (const Pid& p : pids) system->send(p, Produce{});
  for (auto& t : threads) t.join();
  check(*system, sinks, producers, per_producer);
}

INSTANTIATE_TEST_SUITE_P(Configs, ActorSystemStress, ::testing::ValuesIn(test::threaded_configs()),
                         test::config_name);

TEST(ActorSystem, ConcurrentStopsOfOneActorStopItOnce) {
  // The first stop sets the mailbox's stop flag and notifies; every other
  // one must see the flag and do nothing (a second notification of a dead
  // or idle actor would schedule or drain it twice).
  SystemConfig c;
  c.scheduler.workers = 2;
  ActorSystem system(c);
  const int threads_n = 4;
  const int rounds = static_cast<int>(scaled(300, 50));
  auto probe = std::make_shared<Probe>();
  for (int round = 0; round < rounds; ++round) {
    Pid target = system.spawn<Counter>(probe);
    system.send(target, Work{1});
    std::latch start(threads_n);
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        system.stop(target);
        system.stop(target);
      });
    }
    for (auto& t : threads) t.join();
  }
  ASSERT_TRUE(test::eventually([&] { return system.live_actors() == 0; }, "every actor to stop"))
      << system.live_actors() << " still live";
  EXPECT_EQ(probe->destroyed.load(), static_cast<std::uint64_t>(rounds));
  EXPECT_EQ(system.failures(), 0u);
  system.shutdown();
}

TEST(ActorSystem, ConcurrentSpawnNamedOfOneNameHasExactlyOneWinner) {
  auto probe = std::make_shared<Probe>();
  SystemConfig c;
  c.scheduler.workers = 2;
  ActorSystem system(c);
  const int threads_n = 4;
  const int rounds = static_cast<int>(scaled(200, 50));
  for (int round = 0; round < rounds; ++round) {
    const std::string name = test::cat("contested-", round);
    std::latch start(threads_n);
    std::vector<SpawnResult> results(threads_n);
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        results[static_cast<std::size_t>(t)] = system.spawn_named(Props::of<Counter>(probe), name);
      });
    }
    for (auto& t : threads) t.join();
    int winners = 0;
    for (const auto& r : results) {
      if (r) {
        ++winners;
        EXPECT_EQ(system.lookup(name), r.pid);
      } else {
        EXPECT_EQ(r.error, SpawnErrc::name_taken);
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round;
  }
  EXPECT_EQ(system.live_actors(), static_cast<std::uint64_t>(rounds));
  system.shutdown();
  EXPECT_EQ(probe->destroyed.load(), probe->constructed.load());
}

}  // namespace
}  // namespace shoal::detail
