// Statistics: the workers' counters add up to the messages sent (threaded
// and deterministic), batch sizes respect the throughput bound, idle workers
// count their parks, and an instrumented actor reports exact depth, queue
// wait, handler time and oldest-message age; the snapshot renders as a
// table and as JSON that parses.
#include "shoal/stats.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/runtime_fixture.hpp"

namespace shoal {
namespace {

using test::eventually;
using test::scaled;

struct Work {
  std::uint64_t n = 0;
};
/// Forwards Work to `next` `hops` times; counts what it handles.
struct Relay {
  Pid next;
  std::uint32_t hops;
};
struct Spin {
  std::uint32_t iterations;
};

struct Sink : Handles<Sink, Work, Relay, Spin> {
  explicit Sink(std::shared_ptr<std::atomic<std::uint64_t>> n) : n_(std::move(n)) {}
  void on(Context&, Work&) { n_->fetch_add(1); }
  void on(Context& ctx, Relay& r) {
    n_->fetch_add(1);
    if (r.hops > 1) ctx.send(r.next, Relay{ctx.self(), r.hops - 1});
  }
  void on(Context&, Spin& s) {
    volatile std::uint32_t x = 0;
    for (std::uint32_t i = 0; i < s.iterations; ++i) x = x + i;
    n_->fetch_add(1);
  }
  std::shared_ptr<std::atomic<std::uint64_t>> n_;
};

std::shared_ptr<std::atomic<std::uint64_t>> counter() {
  return std::make_shared<std::atomic<std::uint64_t>>(0);
}

// -- worker counters -------------------------------------------------------------------

class WorkerCountersTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(WorkerCountersTest, MessagesCountedByWorkersEqualMessagesSent) {
  SystemConfig cfg;
  cfg.scheduler.workers = GetParam();
  cfg.throughput = 16;
  ActorSystem sys(cfg);
  auto handled = counter();
  constexpr int actors = 8;
  const std::uint64_t per_actor = scaled(20'000, 2'000);
  const std::uint32_t hops = 50;
  std::vector<Pid> pids;
  for (int i = 0; i < actors; ++i) pids.push_back(sys.spawn<Sink>(handled));
  // Sends from outside, and chains of sends between actors.
  std::vector<std::thread> senders;
  for (int t = 0; t < 2; ++t) {
    senders.emplace_back([&] {
      for (std::uint64_t k = 0; k < per_actor; ++k) {
        for (const Pid& p : pids) sys.send(p, Work{k});
      }
    });
  }
  for (int i = 0; i < actors; ++i) sys.send(pids[i], Relay{pids[(i + 1) % actors], hops});
  for (auto& t : senders) t.join();
  const std::uint64_t expected = 2 * per_actor * actors + std::uint64_t{hops} * actors;
  ASSERT_TRUE(eventually([&] { return handled->load() == expected; }, "every message handled"));
  // A worker counts a run when it returns: wait for the last ones.
  ASSERT_TRUE(eventually([&] { return sys.stats().messages() >= expected; },
                         "the workers' counts to catch up"));
  const SystemStats s = sys.stats();
  EXPECT_EQ(s.messages(), expected);
  ASSERT_EQ(s.workers.size(), GetParam());
  const HistogramSnapshot batches = s.batch_sizes();
  EXPECT_EQ(batches.sum(), expected);
  EXPECT_LE(batches.max(), 16u) << "a run handled more than the throughput bound";
  EXPECT_GE(batches.count(), expected / 16);
  std::uint64_t runs = 0;
  for (const auto& w : s.workers) {
    runs += w.runs;
    EXPECT_LE(w.steals_won, w.steals_tried);
    EXPECT_LE(w.wakeups, w.parks);
    EXPECT_GE(w.busy_ns + w.idle_ns, 0.0);
  }
  EXPECT_EQ(runs, batches.count());
  EXPECT_EQ(s.dead_letters, 0u);
}

TEST_P(WorkerCountersTest, IdleWorkersCountParksAndIdleTime) {
  SystemConfig cfg;
  cfg.scheduler.workers = GetParam();
  ActorSystem sys(cfg);
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& w : sys.stats().workers) {
          if (w.parks == 0 || w.idle_ns <= 0) return false;
        }
        return true;
      },
      "every idle worker to park"));
  // A message from outside wakes one: it is counted as a wake-up.
  auto handled = counter();
  Pid p = sys.spawn<Sink>(handled);
  sys.send(p, Work{});
  ASSERT_TRUE(eventually([&] { return handled->load() == 1; }, "the message"));
  ASSERT_TRUE(eventually(
      [&] {
        std::uint64_t wakeups = 0;
        for (const auto& w : sys.stats().workers) wakeups += w.wakeups;
        return wakeups > 0;
      },
      "a wake-up to be counted"));
}

INSTANTIATE_TEST_SUITE_P(Workers, WorkerCountersTest, ::testing::Values(1u, 2u, 4u),
                         [](const auto& info) { return test::cat("w", info.param); });

TEST(WorkerCounters, DeterministicModeCountsExactly) {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  cfg.throughput = 4;
  ActorSystem sys(cfg);
  auto handled = counter();
  Pid a = sys.spawn<Sink>(handled);
  Pid b = sys.spawn<Sink>(handled);
  sys.run_until_idle();
  for (int i = 0; i < 10; ++i) sys.send(a, Work{});
  sys.send(b, Relay{a, 5});  // b, a, b, a, b
  sys.run_until_idle();
  const SystemStats s = sys.stats();
  ASSERT_EQ(s.workers.size(), 1u);
  EXPECT_EQ(s.messages(), 15u);
  EXPECT_EQ(handled->load(), 15u);
  EXPECT_LE(s.batch_sizes().max(), 4u);
}

// -- per-actor statistics ---------------------------------------------------------------------

SystemConfig deterministic() {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  return cfg;
}

class ActorStatsTest : public ::testing::TestWithParam<bool> {  // bounded mailbox?
 protected:
  Props props(std::shared_ptr<std::atomic<std::uint64_t>> n) const {
    Props p = Props::of<Sink>(std::move(n)).with_stats();
    if (GetParam()) p.with_mailbox(MailboxConfig::bounded(64));
    return p;
  }
};

TEST_P(ActorStatsTest, DepthWaitHandlerAndOldestAgeOfQueuedMessages) {
  ActorSystem sys(deterministic());
  auto handled = counter();
  Pid p = sys.spawn(props(handled));
  sys.run_until_idle();  // Started
  for (int i = 0; i < 10; ++i) sys.send(p, Spin{1000});
  {
    const SystemStats before = sys.stats();
    ASSERT_EQ(before.actors.size(), 1u);
    const ActorStatsSnapshot& a = before.actors[0];
    EXPECT_EQ(a.id, p.id());
    EXPECT_EQ(a.depth, 10u);
    EXPECT_EQ(a.messages, 0u);
    EXPECT_GT(a.oldest_message_age_ns, 0.0) << "ten messages wait";
  }
  sys.run_until_idle();
  const SystemStats after = sys.stats();
  ASSERT_EQ(after.actors.size(), 1u);
  const ActorStatsSnapshot& a = after.actors[0];
  EXPECT_EQ(a.messages, 10u);
  EXPECT_EQ(a.depth, 0u);
  EXPECT_EQ(a.depth_high_water, 10u);
  EXPECT_EQ(a.oldest_message_age_ns, 0.0) << "nothing waits any more";
  EXPECT_EQ(a.queue_wait_ns.count, 10u);
  EXPECT_EQ(a.handler_ns.count, 10u);
  EXPECT_GT(a.queue_wait_ns.max, 0.0);
  EXPECT_GT(a.handler_ns.p50, 0.0);
  EXPECT_LE(a.queue_wait_ns.p50, a.queue_wait_ns.p99);
  EXPECT_LE(a.queue_wait_ns.p99, a.queue_wait_ns.max);
  // The first message waited longest: the others were queued after it.
  EXPECT_GE(a.queue_wait_ns.max, a.queue_wait_ns.min);
}

TEST_P(ActorStatsTest, OldestAgeFollowsTheQueueAsItDrains) {
  SystemConfig cfg = deterministic();
  cfg.throughput = 1;  // one message per run: look between them
  ActorSystem sys(cfg);
  auto handled = counter();
  Pid p = sys.spawn(props(handled));
  sys.run_until_idle();
  sys.send(p, Work{});
  sys.send(p, Work{});
  ASSERT_TRUE(sys.run_one());
  const SystemStats mid = sys.stats();
  EXPECT_EQ(mid.actors.at(0).depth, 1u);
  EXPECT_GT(mid.actors.at(0).oldest_message_age_ns, 0.0) << "one still waits";
  sys.run_until_idle();
  EXPECT_EQ(sys.stats().actors.at(0).oldest_message_age_ns, 0.0);
  // A message arriving at an empty queue is seen at once.
  sys.send(p, Work{});
  EXPECT_GT(sys.stats().actors.at(0).oldest_message_age_ns, 0.0);
  sys.run_until_idle();
}

INSTANTIATE_TEST_SUITE_P(Mailboxes, ActorStatsTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "bounded" : "unbounded"; });

TEST(ActorStats, OnlyInstrumentedActorsAreListed) {
  ActorSystem sys(deterministic());
  auto handled = counter();
  Pid plain = sys.spawn<Sink>(handled);
  Pid watched = sys.spawn_named(Props::of<Sink>(handled).with_stats(), "watched").pid;
  sys.send(plain, Work{});
  sys.send(watched, Work{});
  sys.run_until_idle();
  const SystemStats s = sys.stats();
  ASSERT_EQ(s.actors.size(), 1u);
  EXPECT_EQ(s.actors[0].id, watched.id());
  EXPECT_EQ(s.actors[0].name, "watched");
  EXPECT_EQ(s.actors[0].messages, 1u);
}

TEST(ActorStats, SystemSwitchInstrumentsEveryActor) {
  SystemConfig cfg = deterministic();
  cfg.actor_stats = true;
  ActorSystem sys(cfg);
  auto handled = counter();
  Pid a = sys.spawn<Sink>(handled);                 // inline cell
  Pid b = sys.spawn(Props::of<Sink>(handled));      // Props cell
  sys.send(a, Relay{b, 4});
  sys.run_until_idle();
  const SystemStats s = sys.stats();
  ASSERT_EQ(s.actors.size(), 2u);
  EXPECT_EQ(s.actors[0].messages + s.actors[1].messages, 4u);
  EXPECT_EQ(s.actors[0].queue_wait_ns.count + s.actors[1].queue_wait_ns.count, 4u);
}

TEST(ActorStats, ThreadedSendersCountExactly) {
  SystemConfig cfg;
  cfg.scheduler.workers = 2;
  ActorSystem sys(cfg);
  auto handled = counter();
  Pid p = sys.spawn(Props::of<Sink>(handled).with_stats());
  const std::uint64_t n = scaled(100'000, 10'000);
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&] {
      for (std::uint64_t i = 0; i < n; ++i) sys.send(p, Work{i});
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(eventually([&] { return handled->load() == 3 * n; }, "every message"));
  const SystemStats s = sys.stats();
  ASSERT_EQ(s.actors.size(), 1u);
  EXPECT_EQ(s.actors[0].messages, 3 * n);
  EXPECT_EQ(s.actors[0].depth, 0u);
  EXPECT_GE(s.actors[0].depth_high_water, 1u);
  EXPECT_LE(s.actors[0].depth_high_water, 3 * n);
  EXPECT_EQ(s.actors[0].queue_wait_ns.count, 3 * n);
}

// -- rendering ------------------------------------------------------------------------------

TEST(SystemStats, RendersAsTextAndAsJsonThatParses) {
  SystemConfig cfg = deterministic();
  ActorSystem sys(cfg);
  auto handled = counter();
  Pid p = sys.spawn_named(Props::of<Sink>(handled).with_stats(), "sink").pid;
  for (int i = 0; i < 5; ++i) sys.send(p, Work{});
  sys.run_until_idle();
  const SystemStats s = sys.stats();
  const std::string text = s.to_text();
  EXPECT_NE(text.find("worker"), std::string::npos) << text;
  EXPECT_NE(text.find("sink"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(s.to_json());
  EXPECT_EQ(j.at("messages").get<std::uint64_t>(), 5u);
  ASSERT_EQ(j.at("workers").size(), 1u);
  EXPECT_EQ(j.at("workers")[0].at("batch_size").at("count").get<std::uint64_t>(),
            s.workers[0].runs);
  ASSERT_EQ(j.at("actors").size(), 1u);
  const auto& a = j.at("actors")[0];
  EXPECT_EQ(a.at("name"), "sink");
  EXPECT_EQ(a.at("messages").get<std::uint64_t>(), 5u);
  for (const char* k : {"count", "min", "mean", "p50", "p90", "p99", "p999", "max"}) {
    EXPECT_TRUE(a.at("queue_wait_ns").contains(k)) << k;
    EXPECT_TRUE(a.at("handler_ns").contains(k)) << k;
  }
}

}  // namespace
}  // namespace shoal
