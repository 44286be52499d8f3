// The outbox (core/detail/outbox.hpp): a handler's burst to one actor is
// pushed as one chain. What a receiver may observe must not change: every
// message arrives, in order, before anything the handler sent afterwards to
// another actor can cause; a burst leaves when the handler returns or
// throws, when it holds Outbox::max_held messages, or before a send through
// ActorSystem; a burst to a dead actor is counted as dead letters. Every
// case runs over every runtime configuration (bounded mailboxes take no
// chains: the same guarantees, one push each).
#include "shoal/detail/outbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/runtime_fixture.hpp"

namespace shoal {
namespace {

using test::Probe;

struct Seq {
  std::uint64_t n;
};
/// Sends `count` Seq{first…} to `to`, then what the fields say.
struct Burst {
  Pid to{};
  std::uint64_t first = 0;
  std::uint64_t count = 0;
  Pid then_to{};                // if set: a Relay{to} goes here after the burst
  bool through_system = false;  // if set: one more Seq through ActorSystem::send
  bool then_throw = false;
};
/// Makes its receiver send a Seq{marker} to `to`.
struct Relay {
  Pid to;
};
constexpr std::uint64_t marker = 1'000'000'000;

/// Logs every Seq it gets, in order.
struct Receiver : Handles<Receiver, Seq> {
  explicit Receiver(std::shared_ptr<Probe> probe) : probe(std::move(probe)) {}
  void on(Context&, Seq& s) { probe->note(s.n); }
  std::shared_ptr<Probe> probe;
};

struct Burster : Handles<Burster, Burst, Relay> {
  void on(Context& ctx, Burst& b) {
    for (std::uint64_t i = 0; i < b.count; ++i) ctx.send(b.to, Seq{b.first + i});
    if (b.through_system) ctx.system().send(b.to, Seq{b.first + b.count});
    if (b.then_to) ctx.send(b.then_to, Relay{b.to});
    if (b.then_throw) throw std::runtime_error("after the burst");
  }
  void on(Context& ctx, Relay& r) { ctx.send(r.to, Seq{marker}); }
};

std::vector<std::uint64_t> iota(std::uint64_t first, std::uint64_t count) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = 0; i < count; ++i) v.push_back(first + i);
  return v;
}

class OutboxTest : public test::RuntimeTest {};

TEST_P(OutboxTest, ABurstArrivesWholeAndInOrder) {
  constexpr std::uint64_t n = 3 * detail::Outbox::max_held + 7;  // full chains and a rest
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid rx = system->spawn(Props::of<Receiver>(probe).with_mailbox(mailbox(n)));
  Pid tx = spawn<Burster>(*system);
  system->send(tx, Burst{.to = rx, .count = n});
  ASSERT_TRUE(settle(
      *system, [&] { return probe->handled.load() == n; }, "the whole burst"));
  EXPECT_EQ(probe->seen(), iota(0, n));
  EXPECT_EQ(system->dead_letters().total(), 0u);
}

TEST_P(OutboxTest, WhatTheBurstCausesElsewhereComesAfterIt) {
  // tx sends a burst to rx, then a Relay to `relay`, which sends rx a
  // marker: the marker is caused by something sent after the burst, so rx
  // must see the whole burst first. Many rounds, to give a held chain every
  // chance to be overtaken.
  constexpr std::uint64_t rounds = test::scaled(200, 50), per_round = 10;
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid rx = system->spawn(Props::of<Receiver>(probe).with_mailbox(mailbox(rounds * 11)));
  Pid tx = spawn<Burster>(*system);
  Pid relay = spawn<Burster>(*system);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    system->send(tx, Burst{.to = rx, .first = r * per_round, .count = per_round, .then_to = relay});
  }
  ASSERT_TRUE(settle(
      *system, [&] { return probe->handled.load() == rounds * (per_round + 1); },
      "every burst and every marker"));
  // Per round: the marker comes after that round's ten (the next round's
  // burst may overtake the marker: it was sent after the relay).
  std::vector<std::uint64_t> seen = probe->seen();
  std::uint64_t bursts_seen = 0, markers = 0;
  for (std::uint64_t v : seen) {
    if (v == marker) {
      ++markers;
      EXPECT_GE(bursts_seen, markers * per_round)
          << "marker " << markers << " overtook its round's burst";
    } else {
      EXPECT_EQ(v, bursts_seen) << "the bursts' order";
      ++bursts_seen;
    }
  }
  EXPECT_EQ(markers, rounds);
}

TEST_P(OutboxTest, ASendThroughTheSystemComesAfterTheHeldBurst) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid rx = spawn<Receiver>(*system, probe);
  Pid tx = spawn<Burster>(*system);
  system->send(tx, Burst{.to = rx, .count = 5, .through_system = true});
  ASSERT_TRUE(settle(
      *system, [&] { return probe->handled.load() == 6; }, "six messages"));
  EXPECT_EQ(probe->seen(), iota(0, 6));
}

TEST_P(OutboxTest, ABurstLeavesEvenIfTheHandlerThrows) {
  test::FailureLog failures;
  SystemConfig config;
  config.on_failure = failures.observer();
  auto probe = std::make_shared<Probe>();
  auto system = make_system(std::move(config));
  Pid rx = spawn<Receiver>(*system, probe);
  Pid tx = spawn<Burster>(*system);
  system->send(tx, Burst{.to = rx, .count = 100, .then_throw = true});
  ASSERT_TRUE(settle(
      *system, [&] { return probe->handled.load() == 100; }, "the burst"));
  EXPECT_EQ(probe->seen(), iota(0, 100));
  ASSERT_TRUE(settle(
      *system, [&] { return failures.failures().size() == 1; }, "the failure reported"));
}

TEST_P(OutboxTest, ABurstToADeadActorIsCountedInDeadLetters) {
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid rx = spawn<Receiver>(*system, probe);
  auto gone = system->stop_future(rx, std::chrono::nanoseconds::zero());
  ASSERT_TRUE(settle(
      *system, [&] { return gone.ready(); }, "the receiver to stop"));
  ASSERT_TRUE(gone.result().ok()) << "stopped, not timed out";
  const std::uint64_t before = system->dead_letters().total();
  Pid tx = spawn<Burster>(*system);
  system->send(tx, Burst{.to = rx, .count = 150});
  ASSERT_TRUE(settle(
      *system, [&] { return system->dead_letters().total() == before + 150; }, "150 dead letters"));
  EXPECT_EQ(probe->handled.load(), 0u);
}

TEST_P(OutboxTest, ABurstToItselfIsHandledInOrderAfterTheHandler) {
  auto probe = std::make_shared<Probe>();
  struct Self : Handles<Self, Burst, Seq> {
    explicit Self(std::shared_ptr<Probe> p) : probe(std::move(p)) {}
    void on(Context& ctx, Burst& b) {
      for (std::uint64_t i = 0; i < b.count; ++i) ctx.send(ctx.self(), Seq{i});
    }
    void on(Context&, Seq& s) { probe->note(s.n); }
    std::shared_ptr<Probe> probe;
  };
  auto system = make_system();
  Pid a = spawn<Self>(*system, probe);
  system->send(a, Burst{.count = 100});
  ASSERT_TRUE(settle(
      *system, [&] { return probe->handled.load() == 100; }, "100 to itself"));
  EXPECT_EQ(probe->seen(), iota(0, 100));
}

TEST_P(OutboxTest, AHandlerHoldsFewerThanMaxHeld) {
  // White-box: what the outbox holds after each send of a long burst. A
  // consumer must not wait for the end of a flooding handler, so a chain
  // goes out as soon as it holds max_held; an unbounded target is held
  // (that is the point), a bounded one never is.
  constexpr std::uint64_t n = 5 * detail::Outbox::max_held;
  struct Held {
    std::vector<std::uint32_t> after_send;
    std::atomic<bool> done{false};
  };
  struct Watched : Handles<Watched, Burst> {
    explicit Watched(std::shared_ptr<Held> held) : held(std::move(held)) {}
    void on(Context& ctx, Burst& b) {
      for (std::uint64_t i = 0; i < b.count; ++i) {
        ctx.send(b.to, Seq{i});
        held->after_send.push_back(detail::outbox.count);
      }
      held->done.store(true, std::memory_order_release);  // pairs: the test's acquire load
    }
    std::shared_ptr<Held> held;
  };
  auto probe = std::make_shared<Probe>();
  auto held = std::make_shared<Held>();
  auto system = make_system();
  Pid rx = system->spawn(Props::of<Receiver>(probe).with_mailbox(mailbox(n)));
  Pid tx = spawn<Watched>(*system, held);
  system->send(tx, Burst{.to = rx, .count = n});
  ASSERT_TRUE(settle(
      *system, [&] { return probe->handled.load() == n; }, "the burst"));
  EXPECT_EQ(probe->seen(), iota(0, n));
  ASSERT_TRUE(settle(
      *system, [&] { return held->done.load(std::memory_order_acquire); }, "the handler's end"));
  ASSERT_EQ(held->after_send.size(), n);
  const bool chains = GetParam().mailbox == test::MailboxKind::unbounded;
  for (std::uint64_t i = 0; i < n; ++i) {
    // The first goes at once; then 1, 2, … max_held - 1 held, and the
    // max_held-th pushes the chain: 0 again.
    const std::uint32_t want =
        chains ? static_cast<std::uint32_t>(i % detail::Outbox::max_held) : 0;
    ASSERT_EQ(held->after_send[i], want) << "after send " << i;
  }
}

TEST_P(OutboxTest, ManySendersBurstingToOneLoseNothingAndKeepEachOrder) {
  // P senders, each many bursts of mixed length to one receiver: exact
  // counts, per-sender order (run under TSan in CI).
  constexpr std::uint64_t senders = 8, bursts = test::scaled(200, 20);
  struct Tagged {
    std::uint64_t from, n;
  };
  struct Go {
    Pid to;
    std::uint64_t from, next_burst, bursts;
  };
  struct Sender : Handles<Sender, Go> {
    void on(Context& ctx, Go& g) {
      // Burst lengths 1…150: single sends, partial and full chains.
      for (std::uint64_t b = g.next_burst; b < g.bursts; ++b) {
        const std::uint64_t len = 1 + (b * 37) % 150;
        for (std::uint64_t i = 0; i < len; ++i) ctx.send(g.to, Tagged{g.from, sent++});
        if (b + 1 < g.bursts && b % 8 == 7) {
          // Re-queue now and then so the sender can change worker.
          ctx.send(ctx.self(), Go{g.to, g.from, b + 1, g.bursts});
          return;
        }
      }
      ctx.send(g.to, Tagged{g.from, ~std::uint64_t{0}});  // done
    }
    std::uint64_t sent = 0;
  };
  struct Checker : Handles<Checker, Tagged> {
    explicit Checker(std::shared_ptr<Probe> p) : probe(std::move(p)), next(senders, 0) {}
    void on(Context&, Tagged& t) {
      if (t.n == ~std::uint64_t{0}) {
        // One note per finished sender: its count (0 once any order broke).
        probe->note(errors == 0 ? next[t.from] : 0);
        return;
      }
      if (t.n != next[t.from]) ++errors;
      next[t.from] = t.n + 1;
    }
    std::shared_ptr<Probe> probe;
    std::vector<std::uint64_t> next;
    std::uint64_t errors = 0;
  };
  std::uint64_t expected_each = 0;
  for (std::uint64_t b = 0; b < bursts; ++b) expected_each += 1 + (b * 37) % 150;
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  Pid rx =
      system->spawn(Props::of<Checker>(probe).with_mailbox(mailbox(senders * (expected_each + 1))));
  for (std::uint64_t s = 0; s < senders; ++s) {
    Pid tx = spawn<Sender>(*system);
    system->send(tx, Go{rx, s, 0, bursts});
  }
  ASSERT_TRUE(settle(
      *system, [&] { return probe->handled.load() == senders; }, "every sender's last message"));
  for (std::uint64_t count : probe->seen()) {
    EXPECT_EQ(count, expected_each) << "a sender's messages arrived short or out of order";
  }
  EXPECT_EQ(system->dead_letters().total(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Configs, OutboxTest, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);

}  // namespace
}  // namespace shoal
