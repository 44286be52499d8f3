// Mailbox: the status protocol (idle → scheduled → running → idle, or back
// to scheduled when mail remains), system before user, suspension, bounded
// overflow policies, death and post-mortem draining — first step by step on
// one thread, then as a model of the scheduler with concurrent producers,
// where a lost wake-up strands messages and a double schedule is caught.
#include "shoal/detail/mailbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/test_support.hpp"

namespace shoal::detail {

// Readable gtest output for the mailbox's enums (found by ADL).
void PrintTo(MailboxStatus s, std::ostream* os) {
  constexpr const char* names[] = {"idle", "scheduled", "running", "dead", "draining"};
  *os << names[static_cast<int>(s)];
}
void PrintTo(Claim c, std::ostream* os) {
  constexpr const char* names[] = {"none", "schedule", "drain"};
  *os << names[static_cast<int>(c)];
}

namespace {

using test::deadline;
using test::scaled;

struct User {
  std::uint32_t producer;
  std::uint64_t seq;
};
struct Sys {
  std::uint64_t seq;
};

Envelope* user(std::uint64_t seq, std::uint32_t producer = 0) {
  return make_envelope(User{producer, seq});
}
Envelope* sys(std::uint64_t seq) { return make_envelope(Sys{seq}); }

/// A drop callback that must never be called.
auto no_drop = [](Envelope* e, bool) {
  ADD_FAILURE() << "unexpected drop";
  destroy_envelope(e);
};

/// Pops one user message, returns its sequence number (-1 if none).
std::int64_t pop_user_seq(Mailbox& m) {
  Envelope* e = m.pop_user();
  if (e == nullptr) return -1;
  auto seq = static_cast<std::int64_t>(e->get<User>()->seq);
  m.done_with_user(e);
  return seq;
}

std::int64_t pop_system_seq(Mailbox& m) {
  Envelope* e = m.pop_system();
  if (e == nullptr) return -1;
  auto seq = static_cast<std::int64_t>(e->get<Sys>()->seq);
  m.done_with_system(e);
  return seq;
}

// The step-by-step tests run over both mailbox kinds.
class MailboxKinds : public ::testing::TestWithParam<MailboxConfig> {};

TEST_P(MailboxKinds, StartsIdleAndOnlyTheFirstPushClaimsTheSchedule) {
  Mailbox m(GetParam());
  EXPECT_EQ(m.status(), MailboxStatus::idle);
  EXPECT_EQ(m.push_user(user(0), no_drop), Claim::schedule);
  EXPECT_EQ(m.status(), MailboxStatus::scheduled);
  EXPECT_EQ(m.push_user(user(1), no_drop), Claim::none);
  EXPECT_EQ(m.push_system(sys(0)), Claim::none);
  EXPECT_EQ(m.status(), MailboxStatus::scheduled);
}

TEST_P(MailboxKinds, ASystemPushClaimsAnIdleMailboxToo) {
  Mailbox m(GetParam());
  EXPECT_EQ(m.push_system(sys(0)), Claim::schedule);
  EXPECT_EQ(m.status(), MailboxStatus::scheduled);
}

TEST_P(MailboxKinds, FinishRunGoesIdleWhenNoMailRemains) {
  Mailbox m(GetParam());
  ASSERT_EQ(m.push_user(user(0), no_drop), Claim::schedule);
  m.begin_run();
  EXPECT_EQ(m.status(), MailboxStatus::running);
  EXPECT_EQ(pop_user_seq(m), 0);
  EXPECT_FALSE(m.finish_run());
  EXPECT_EQ(m.status(), MailboxStatus::idle);
  // Idle again: the next push claims the schedule again.
  EXPECT_EQ(m.push_user(user(1), no_drop), Claim::schedule);
}

TEST_P(MailboxKinds, FinishRunReportsUserMailThatRemains) {
  Mailbox m(GetParam());
  ASSERT_EQ(m.push_user(user(0), no_drop), Claim::schedule);
  m.push_user(user(1), no_drop);
  m.begin_run();
  EXPECT_EQ(pop_user_seq(m), 0);
  EXPECT_TRUE(m.finish_run()) << "a message is left: the owner must re-queue the mailbox";
  EXPECT_EQ(m.status(), MailboxStatus::scheduled);
  m.begin_run();
  EXPECT_EQ(pop_user_seq(m), 1);
  EXPECT_FALSE(m.finish_run());
}

TEST_P(MailboxKinds, MailPushedDuringARunIsNotClaimedButKeepsTheMailboxScheduled) {
  Mailbox m(GetParam());
  ASSERT_EQ(m.push_user(user(0), no_drop), Claim::schedule);
  m.begin_run();
  EXPECT_EQ(pop_user_seq(m), 0);
  EXPECT_EQ(m.push_user(user(1), no_drop), Claim::none)
      << "the running owner re-checks, not the producer";
  EXPECT_EQ(m.push_system(sys(0)), Claim::none);
  EXPECT_TRUE(m.finish_run());
  EXPECT_EQ(m.status(), MailboxStatus::scheduled);
}

TEST_P(MailboxKinds, FinishRunReportsASystemMessageThatRemains) {
  Mailbox m(GetParam());
  ASSERT_EQ(m.push_system(sys(0)), Claim::schedule);
  m.begin_run();
  EXPECT_TRUE(m.finish_run());
  m.begin_run();
  EXPECT_EQ(pop_system_seq(m), 0);
  EXPECT_FALSE(m.finish_run());
}

TEST_P(MailboxKinds, SystemMessageIsPoppedBeforeQueuedUserMessages) {
  Mailbox m(GetParam());
  for (std::uint64_t i = 0; i < 3; ++i) m.push_user(user(i), no_drop);
  m.push_system(sys(7));
  m.begin_run();
  // drain takes everything in the run loop's order: system first, then user
  // messages in FIFO order.
  std::vector<std::string> order;
  m.drain([&](Envelope& e) { order.push_back(test::cat("sys", e.get<Sys>()->seq)); },
          [&](Envelope& e) { order.push_back(test::cat("user", e.get<User>()->seq)); });
  EXPECT_EQ(order, (std::vector<std::string>{"sys7", "user0", "user1", "user2"}));
  EXPECT_FALSE(m.finish_run());
}

TEST_P(MailboxKinds, SuspendedMailboxRunsSystemMessagesOnly) {
  Mailbox m(GetParam());
  ASSERT_EQ(m.push_user(user(0), no_drop), Claim::schedule);
  m.begin_run();
  m.set_suspended(true);
  EXPECT_TRUE(m.suspended());
  // User mail does not make a suspended mailbox runnable...
  EXPECT_FALSE(m.finish_run());
  EXPECT_EQ(m.status(), MailboxStatus::idle);
  // ...system mail does.
  ASSERT_EQ(m.push_system(sys(0)), Claim::schedule);
  m.begin_run();
  m.push_system(sys(1));
  EXPECT_EQ(pop_system_seq(m), 0);
  EXPECT_TRUE(m.finish_run()) << "a system message remains";
  m.begin_run();
  EXPECT_EQ(pop_system_seq(m), 1);
  EXPECT_FALSE(m.finish_run()) << "only user mail remains while suspended";
  // Resumed, the user message that waited is runnable again.
  ASSERT_EQ(m.push_system(sys(2)), Claim::schedule);
  m.begin_run();
  EXPECT_EQ(pop_system_seq(m), 2);
  m.set_suspended(false);
  EXPECT_TRUE(m.finish_run());
  m.begin_run();
  EXPECT_EQ(pop_user_seq(m), 0);
  EXPECT_FALSE(m.finish_run());
}

TEST_P(MailboxKinds, FinishDeadDrainsEverythingAndLeavesTheMailboxDead) {
  Mailbox m(GetParam());
  m.push_system(sys(0));
  m.push_system(sys(1));
  for (std::uint64_t i = 0; i < 3; ++i) m.push_user(user(i), no_drop);
  m.begin_run();
  std::vector<std::uint64_t> systems, users;
  m.finish_dead([&](Envelope& e) { systems.push_back(e.get<Sys>()->seq); },
                [&](Envelope& e) { users.push_back(e.get<User>()->seq); });
  EXPECT_EQ(systems, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(users, (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(m.status(), MailboxStatus::dead);
  EXPECT_TRUE(m.is_dead());
  EXPECT_EQ(m.pop_user(), nullptr);
  EXPECT_EQ(m.pop_system(), nullptr);
}

TEST_P(MailboxKinds, PushToADeadMailboxClaimsTheDrainOnce) {
  Mailbox m(GetParam());
  ASSERT_EQ(m.push_user(user(0), no_drop), Claim::schedule);
  m.begin_run();
  std::vector<std::uint64_t> users;
  auto on_user = [&](Envelope& e) { users.push_back(e.get<User>()->seq); };
  m.finish_dead([](Envelope&) {}, on_user);
  ASSERT_EQ(users, (std::vector<std::uint64_t>{0}));

  EXPECT_EQ(m.push_user(user(1), no_drop), Claim::drain);
  EXPECT_EQ(m.status(), MailboxStatus::draining);
  EXPECT_TRUE(m.is_dead());
  EXPECT_EQ(m.push_user(user(2), no_drop), Claim::none) << "someone already drains";
  EXPECT_EQ(m.push_system(sys(0)), Claim::none);
  int systems = 0;
  m.finish_dead([&](Envelope&) { ++systems; }, on_user);
  EXPECT_EQ(users, (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(systems, 1);
  EXPECT_EQ(m.status(), MailboxStatus::dead);
  EXPECT_EQ(m.push_system(sys(1)), Claim::drain);
  m.finish_dead([&](Envelope&) { ++systems; }, on_user);
  EXPECT_EQ(systems, 2);
}

TEST_P(MailboxKinds, DestructorFreesQueuedMessages) {
  // ASan reports a leak if the mailbox forgets any of them.
  Mailbox m(GetParam());
  m.push_system(sys(0));
  for (std::uint64_t i = 0; i < 3; ++i) m.push_user(user(i), no_drop);
  m.begin_run();
  EXPECT_EQ(pop_user_seq(m), 0);
}

INSTANTIATE_TEST_SUITE_P(Kinds, MailboxKinds,
                         ::testing::Values(MailboxConfig::unbounded(),
                                           MailboxConfig::bounded(1000)),
                         [](const auto& info) {
                           return info.param.capacity == 0 ? std::string("unbounded")
                                                           : std::string("bounded");
                         });

// -- bounded overflow ----------------------------------------------------------------------

/// Records what a bounded mailbox hands to its drop callback.
struct Drops {
  std::vector<std::pair<std::uint64_t, bool>> seen;  // (seq, is_new)
  auto callback() {
    return [this](Envelope* e, bool is_new) {
      seen.emplace_back(e->get<User>()->seq, is_new);
      destroy_envelope(e);
    };
  }
};

TEST(Mailbox, BoundedCapacityIsExact) {
  Drops drops;
  Mailbox m(MailboxConfig::bounded(3));
  for (std::uint64_t i = 0; i < 3; ++i) m.push_user(user(i), drops.callback());
  EXPECT_TRUE(drops.seen.empty());
  m.push_user(user(3), drops.callback());
  EXPECT_EQ(drops.seen.size(), 1u);
}

TEST(Mailbox, BoundedDropNewestRefusesTheNewMessage) {
  Drops drops;
  Mailbox m(MailboxConfig::bounded(2, OverflowPolicy::drop_newest));
  EXPECT_EQ(m.push_user(user(0), drops.callback()), Claim::schedule);
  EXPECT_EQ(m.push_user(user(1), drops.callback()), Claim::none);
  EXPECT_EQ(m.push_user(user(2), drops.callback()), Claim::none);
  ASSERT_EQ(drops.seen.size(), 1u);
  EXPECT_EQ(drops.seen[0], std::make_pair(std::uint64_t{2}, true)) << "the newcomer loses";
  m.begin_run();
  EXPECT_EQ(pop_user_seq(m), 0);
  EXPECT_EQ(pop_user_seq(m), 1);
  EXPECT_EQ(pop_user_seq(m), -1);
}

TEST(Mailbox, BoundedDropOldestEvictsTheOldestMessage) {
  Drops drops;
  Mailbox m(MailboxConfig::bounded(2, OverflowPolicy::drop_oldest));
  EXPECT_EQ(m.push_user(user(0), drops.callback()), Claim::schedule);
  m.push_user(user(1), drops.callback());
  m.push_user(user(2), drops.callback());
  m.push_user(user(3), drops.callback());
  ASSERT_EQ(drops.seen.size(), 2u);
  EXPECT_EQ(drops.seen[0], std::make_pair(std::uint64_t{0}, false)) << "the oldest loses";
  EXPECT_EQ(drops.seen[1], std::make_pair(std::uint64_t{1}, false));
  m.begin_run();
  EXPECT_EQ(pop_user_seq(m), 2);
  EXPECT_EQ(pop_user_seq(m), 3);
  EXPECT_EQ(pop_user_seq(m), -1);
}

/// A bounded mailbox of capacity 1 (what bounded(0) and bounded(1) make)
/// holds one message; the second push loses under either policy. If the ring
/// takes both, it has overwritten one and its pop (so also the mailbox's
/// destructor) spins forever: the mailbox is leaked on purpose so the failure
/// is reported instead of hanging the test binary (see BoundedQueue's tests).
void expect_bound_of_one(std::size_t requested, OverflowPolicy policy) {
  EXPECT_EQ(MailboxConfig::bounded(requested, policy).capacity, 1u);
  Drops drops;
  auto* m = new Mailbox(MailboxConfig::bounded(requested, policy));
  m->push_user(user(0), drops.callback());
  m->push_user(user(1), drops.callback());
  if (drops.seen.size() != 1) {
    ADD_FAILURE() << "bounded(" << requested << ") mailbox took 2 messages without a drop; "
                  << "leaking the corrupt mailbox";
    return;
  }
  const bool newest = policy == OverflowPolicy::drop_newest;
  EXPECT_EQ(drops.seen[0], std::make_pair(std::uint64_t{newest ? 1u : 0u}, newest));
  m->begin_run();
  EXPECT_EQ(pop_user_seq(*m), newest ? 0 : 1);
  EXPECT_EQ(pop_user_seq(*m), -1);
  delete m;
}

TEST(Mailbox, ZeroBoundMeansOneAndTheSecondMessageIsRefused) {
  expect_bound_of_one(0, OverflowPolicy::drop_newest);
}

TEST(Mailbox, BoundOfOneEvictsTheQueuedMessageUnderDropOldest) {
  expect_bound_of_one(1, OverflowPolicy::drop_oldest);
}

// -- concurrency: a model of the scheduler around one mailbox ---------------------------------

class MailboxProtocol : public ::testing::TestWithParam<MailboxConfig> {};

/// Shared by the model's producers and its single owner thread.
struct Model {
  explicit Model(const MailboxConfig& c) : mailbox(c) {}
  Mailbox mailbox;
  // How many threads currently hold the mailbox "in a run queue or
  // running": the status protocol allows at most one.
  std::atomic<int> holders{0};
  std::atomic<std::uint64_t> double_schedules{0};
  std::atomic<std::uint64_t> handled{0}, dropped{0}, drained{0}, order_errors{0};

  void take_hold() {
    if (holders.fetch_add(1) != 0) double_schedules.fetch_add(1);
  }
};

TEST_P(MailboxProtocol, EveryPushIsRunOnceAndNoWakeUpIsLost) {
  const unsigned producers = 4;
  const std::uint64_t per_producer = scaled(100'000, 10'000);
  const std::uint64_t total = producers * per_producer;
  Model model(GetParam());

  std::latch start(producers + 1);
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        // One in 64 is a system message, which must also wake the owner.
        Envelope* e = i % 64 == 63 ? sys(i) : user(i, p);
        Claim c = e->is<Sys>() ? model.mailbox.push_system(e)
                               : model.mailbox.push_user(e, [&](Envelope* lost, bool) {
                                   model.dropped.fetch_add(1);
                                   destroy_envelope(lost);
                                 });
        EXPECT_NE(c, Claim::drain);
        if (c == Claim::schedule) model.take_hold();
      }
    });
  }

  // The owner: runs the mailbox whenever it holds it, in batches of at most
  // 16 user messages, exactly like ActorCell::run. If a wake-up is lost,
  // messages stay queued while nobody holds the mailbox, and the deadline ends
  // the test with the count of stranded messages.
  std::vector<std::int64_t> last(producers, -1);
  auto run_once = [&] {
    model.mailbox.begin_run();
    for (int budget = 16;;) {
      if (Envelope* s = model.mailbox.pop_system()) {
        model.mailbox.done_with_system(s);
        model.handled.fetch_add(1);
        continue;
      }
      if (budget-- == 0) break;
      Envelope* u = model.mailbox.pop_user();
      if (u == nullptr) break;
      const User m = *u->get<User>();
      if (static_cast<std::int64_t>(m.seq) <= last[m.producer]) model.order_errors.fetch_add(1);
      last[m.producer] = static_cast<std::int64_t>(m.seq);
      model.mailbox.done_with_user(u);
      model.handled.fetch_add(1);
    }
    // Give up the hold before finish_run: once the mailbox is idle a producer
    // may claim it at once. If it stays scheduled, we hold it again.
    model.holders.fetch_sub(1);
    if (model.mailbox.finish_run()) model.take_hold();
  };
  auto accounted = [&] { return model.handled.load() + model.dropped.load(); };
  start.arrive_and_wait();
  const auto end = std::chrono::steady_clock::now() + deadline;
  bool timed_out = false;
  while (accounted() < total) {
    if (model.holders.load() != 0) {
      run_once();
    } else if (std::chrono::steady_clock::now() >= end) {
      timed_out = true;
      break;
    } else {
      std::this_thread::yield();
    }
  }
  for (auto& t : threads) t.join();
  // A producer whose message was handled before it looked at the status may
  // still have claimed an empty mailbox: that run finds nothing and ends idle.
  if (!timed_out && model.holders.load() == 1) run_once();

  ASSERT_FALSE(timed_out) << "lost wake-up: " << total - accounted()
                          << " messages stranded in an idle mailbox (status "
                          << static_cast<int>(model.mailbox.status()) << ")";
  EXPECT_EQ(model.double_schedules.load(), 0u) << "two threads held the mailbox at once";
  EXPECT_EQ(model.order_errors.load(), 0u) << "a producer's messages were reordered";
  EXPECT_EQ(accounted(), total);
  EXPECT_EQ(model.holders.load(), 0);
  EXPECT_EQ(model.mailbox.status(), MailboxStatus::idle);
  if (GetParam().capacity == 0) {
    EXPECT_EQ(model.dropped.load(), 0u);
  }
}

TEST_P(MailboxProtocol, EveryMessageSentAroundDeathIsDrainedExactlyOnce) {
  // Producers keep pushing while the owner runs a while and then dies. Every
  // message must end up exactly once: handled before death, drained by the
  // owner's finish_dead, drained by a producer that won the dead→draining
  // claim, or dropped by a bounded mailbox.
  const unsigned producers = 4;
  const std::uint64_t per_producer = scaled(50'000, 5'000);
  const std::uint64_t total = producers * per_producer;
  Model model(GetParam());
  auto on_user = [&](Envelope&) { model.drained.fetch_add(1); };
  auto on_system = [&](Envelope&) { model.drained.fetch_add(1); };

  std::latch start(producers + 1);
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        Envelope* e = i % 64 == 63 ? sys(i) : user(i, p);
        Claim c = e->is<Sys>() ? model.mailbox.push_system(e)
                               : model.mailbox.push_user(e, [&](Envelope* lost, bool) {
                                   model.dropped.fetch_add(1);
                                   destroy_envelope(lost);
                                 });
        if (c == Claim::schedule) model.take_hold();
        if (c == Claim::drain) model.mailbox.finish_dead(on_system, on_user);
      }
    });
  }

  start.arrive_and_wait();
  // Run until a quarter of the messages were handled, then stop: like
  // ActorSystem::stop, queue one more system message (it claims the mailbox
  // if it is idle), and die on the run that follows.
  const auto end = std::chrono::steady_clock::now() + deadline;
  bool stop_sent = false, timed_out = false;
  for (;;) {
    if (model.holders.load() == 0) {
      if (std::chrono::steady_clock::now() >= end) {
        timed_out = true;
        break;
      }
      std::this_thread::yield();
      continue;
    }
    model.mailbox.begin_run();
    if (stop_sent) {
      model.mailbox.finish_dead(on_system, on_user);
      break;
    }
    while (Envelope* s = model.mailbox.pop_system()) {
      model.mailbox.done_with_system(s);
      model.handled.fetch_add(1);
    }
    for (int budget = 16; budget > 0; --budget) {
      Envelope* u = model.mailbox.pop_user();
      if (u == nullptr) break;
      model.mailbox.done_with_user(u);
      model.handled.fetch_add(1);
    }
    model.holders.fetch_sub(1);
    if (model.mailbox.finish_run()) model.take_hold();
    if (!stop_sent && model.handled.load() + model.dropped.load() >= total / 4) {
      stop_sent = true;
      if (model.mailbox.push_system(sys(0)) == Claim::schedule) model.take_hold();
    }
  }
  for (auto& t : threads) t.join();

  ASSERT_FALSE(timed_out) << "the owner was never woken";
  EXPECT_EQ(model.double_schedules.load(), 0u);
  EXPECT_EQ(model.mailbox.status(), MailboxStatus::dead);
  // total + 1: the stop message itself.
  EXPECT_EQ(model.handled.load() + model.drained.load() + model.dropped.load(), total + 1)
      << "handled " << model.handled.load() << ", drained " << model.drained.load() << ", dropped "
      << model.dropped.load();
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, MailboxProtocol,
    ::testing::Values(MailboxConfig::unbounded(), MailboxConfig::bounded(1 << 20),
                      MailboxConfig::bounded(64, OverflowPolicy::drop_newest),
                      MailboxConfig::bounded(64, OverflowPolicy::drop_oldest),
                      MailboxConfig::bounded(3, OverflowPolicy::drop_oldest),
                      MailboxConfig::bounded(1, OverflowPolicy::drop_oldest)),
    [](const auto& info) {
      const MailboxConfig& c = info.param;
      if (c.capacity == 0) return std::string("unbounded");
      return test::cat("bounded", c.capacity,
                       c.overflow == OverflowPolicy::drop_newest ? "_drop_newest" : "_drop_oldest");
    });

}  // namespace
}  // namespace shoal::detail
