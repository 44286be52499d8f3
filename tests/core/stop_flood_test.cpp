// Stopping while senders keep sending: user mail sent after the stop
// request is refused at the sender (a dead letter, target_stopped), so an
// actor's stop, and the system's shutdown, end whatever the senders do
// (Mailbox::request_stop, finish_dead).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "core/detail/system_access.hpp"
#include "shoal/actor_system.hpp"
#include "tests/core/test_support.hpp"

namespace shoal::detail {
namespace {

using namespace std::chrono_literals;

struct Work {
  std::uint64_t n = 0;
};
struct Add {
  long by = 0;
};
struct Burst {
  Pid to;
  int count = 0;
};

struct Sink : Handles<Sink, Work> {
  Sink() = default;
  explicit Sink(std::shared_ptr<std::atomic<std::uint64_t>> handled)
      : handled(std::move(handled)) {}
  void on(Context&, Work&) {
    // relaxed: a count the test polls; the dead letters' counts order nothing either.
    if (handled) handled->fetch_add(1, std::memory_order_relaxed);
  }
  std::shared_ptr<std::atomic<std::uint64_t>> handled;
};

struct Counter : Handles<Counter, Add> {
  void on(Context&, Add& a) { n += a.by; }
  long n = 0;
};

/// Stops `to`, then sends it `count` messages from this handler: a burst
/// begun after the stop, each message refused.
struct StopThenBurst : Handles<StopThenBurst, Burst> {
  void on(Context& ctx, Burst& b) {
    ctx.system().stop(b.to);
    for (int i = 0; i < b.count; ++i) ctx.send(b.to, Work{std::uint64_t(i)});
  }
};

/// Sends `to` `count` messages, stops it, sends `count` more, all in one
/// handler: one burst (the outbox) begun before the stop.
struct BurstAroundStop : Handles<BurstAroundStop, Burst> {
  void on(Context& ctx, Burst& b) {
    for (int i = 0; i < b.count; ++i) ctx.send(b.to, Work{std::uint64_t(i)});
    ctx.system().stop(b.to);
    for (int i = 0; i < b.count; ++i) ctx.send(b.to, Work{std::uint64_t(i)});
  }
};

std::uint64_t count(ActorSystem& s, DeadLetterReason r) { return s.dead_letters().count(r); }

TEST(StopFlood, TheReadmeExampleSendAfterStopIsATargetStoppedDeadLetter) {
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid counter = system.spawn<Counter>();
  system.send(counter, Add{2});  // handled, or left in the mailbox at the stop
  system.stop(counter);
  system.send(counter, Add{1});
  EXPECT_EQ(count(system, DeadLetterReason::target_stopped), 1u);
  system.shutdown();
  // Add{2}: handled, or mail left at the stop; never both, never lost.
  EXPECT_LE(count(system, DeadLetterReason::stopped_with_mail), 1u);
  EXPECT_EQ(count(system, DeadLetterReason::target_stopped), 1u);
}

TEST(StopFlood, EverySendAfterTheStopIsRefusedAtTheSender) {
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid sink = system.spawn<Sink>();
  system.stop(sink);
  for (std::uint64_t i = 0; i < 2000; ++i) system.send(sink, Work{i});
  // Counted on this thread, before the sends returned.
  EXPECT_EQ(count(system, DeadLetterReason::target_stopped), 2000u);
  EXPECT_EQ(count(system, DeadLetterReason::stopped_with_mail), 0u);
}

TEST(StopFlood, ABurstBegunAfterTheStopIsRefusedMessageByMessage) {
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid sink = system.spawn<Sink>();
  Pid burster = system.spawn<StopThenBurst>();
  system.send(burster, Burst{sink, 100});
  EXPECT_TRUE(
      test::eventually([&] { return count(system, DeadLetterReason::target_stopped) == 100; },
                       "the 100 messages sent after the stop to be target_stopped dead letters"));
  system.shutdown();
  EXPECT_EQ(count(system, DeadLetterReason::target_stopped), 100u);
  EXPECT_EQ(count(system, DeadLetterReason::stopped_with_mail), 0u);
}

TEST(StopFlood, AChainDeliveredAfterTheStopIsRefusedMessageByMessage) {
  // What a node's io thread does with a peer's batch: one chain per target
  // (ActorSystem::deliver_chain). Queued whole after the stop, a peer that
  // keeps streaming would keep the stopped actor's drain at death going.
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid sink = system.spawn<Sink>();
  system.stop(sink);
  Envelope* first = make_envelope(Work{0});
  Envelope* last = first;
  for (std::uint64_t i = 1; i < 100; ++i) {
    Envelope* e = make_envelope(Work{i});
    // relaxed: the chain is this thread's until deliver_chain publishes it.
    last->next.store(e, std::memory_order_relaxed);
    last = e;
  }
  shoal::detail::SystemAccess::deliver_chain(system, sink, first, last);
  // Counted on this thread, before deliver_chain returned.
  EXPECT_EQ(count(system, DeadLetterReason::target_stopped), 100u);
  system.shutdown();
  EXPECT_EQ(count(system, DeadLetterReason::stopped_with_mail), 0u);
}

TEST(StopFlood, ABurstBegunBeforeTheStopGoesWithTheQueuedMail) {
  // A burst looks at the stop as it begins: what it carries after the stop
  // is mail left at the stop (or, for its first message, handled if the
  // target ran it before the stop), as documented; none of it is refused.
  ActorSystem system({.scheduler = {.workers = 2}});
  auto handled = std::make_shared<std::atomic<std::uint64_t>>(0);
  Pid sink = system.spawn<Sink>(handled);
  Pid burster = system.spawn<BurstAroundStop>();
  system.send(burster, Burst{sink, 20});
  auto accounted = [&] {
    // relaxed: as in Sink.
    return handled->load(std::memory_order_relaxed) +
           count(system, DeadLetterReason::stopped_with_mail);
  };
  EXPECT_TRUE(test::eventually([&] { return accounted() == 40; },
                               "the burst's 40 messages to be handled or mail left at the stop"));
  system.shutdown();
  EXPECT_EQ(accounted(), 40u);
  EXPECT_GE(count(system, DeadLetterReason::stopped_with_mail), 39u);
  EXPECT_EQ(count(system, DeadLetterReason::target_stopped), 0u);
}

/// Threads that send to `target` as fast as they can until told to stop.
class Flood {
 public:
  Flood(ActorSystem& system, Pid target, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &system, target] {
        while (go_.load(std::memory_order_relaxed)) {  // relaxed: a stop signal, no data
          system.send(target, Work{});
          sent_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count read for progress
        }
      });
    }
  }
  ~Flood() { stop(); }
  void stop() {
    go_.store(false, std::memory_order_relaxed);  // relaxed: pairs with the loads above
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> go_{true};
  std::atomic<std::uint64_t> sent_{0};
  std::vector<std::thread> threads_;
};

/// Runs `f` on another thread; aborts the test binary with a message if it
/// has not returned within `limit` (a wedged shutdown cannot be undone).
template <class F>
void within(std::chrono::seconds limit, const char* what, F&& f) {
  auto done = std::async(std::launch::async, std::forward<F>(f));
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: %s did not return within %lld s\n", what,
                 static_cast<long long>(limit.count()));
    std::abort();
  }
  done.get();
}

class FloodedStop : public ::testing::TestWithParam<int> {};

TEST_P(FloodedStop, AStoppedActorDiesWhileThreadsKeepSendingToIt) {
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid sink = system.spawn<Sink>();
  const std::uint64_t live = system.live_actors();
  Flood flood(system, sink, GetParam());
  ASSERT_TRUE(test::eventually([&] { return flood.sent() >= 10'000; }, "the flood to start"));
  auto stopped = system.stop_future(sink, 60s);
  auto r = stopped.result();
  ASSERT_TRUE(r.ok()) << r.what();
  // Dead, not only reported: its drain ends although the flood goes on.
  EXPECT_TRUE(test::eventually([&] { return system.live_actors() == live - 1; },
                               "the stopped actor to leave the live table"));
  const std::uint64_t refused = count(system, DeadLetterReason::target_stopped);
  ASSERT_TRUE(test::eventually(
      [&] { return count(system, DeadLetterReason::target_stopped) > refused + 1000; },
      "sends after the stop to keep becoming target_stopped dead letters"));
  flood.stop();
  within(60s, "shutdown()", [&] { system.shutdown(); });
}

TEST_P(FloodedStop, ShutdownReturnsWhileThreadsKeepSending) {
  auto system = std::make_unique<ActorSystem>(SystemConfig{.scheduler = {.workers = 2}});
  Pid sink = system->spawn<Sink>();
  Pid counter = system->spawn<Counter>();
  Flood at_sink(*system, sink, GetParam());
  Flood at_counter(*system, counter, 1);
  ASSERT_TRUE(test::eventually([&] { return at_sink.sent() >= 10'000; }, "the flood to start"));
  // The issue this closes: shutdown waited for the senders to pause
  // (minutes, with hundreds of millions of dead letters).
  within(60s, "shutdown() under a flood", [&] { system->shutdown(); });
  EXPECT_EQ(system->live_actors(), 0u);
  at_sink.stop();
  at_counter.stop();
  EXPECT_GT(count(*system, DeadLetterReason::target_stopped), 0u);
}

INSTANTIATE_TEST_SUITE_P(Senders, FloodedStop, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "Threads";
                         });

}  // namespace
}  // namespace shoal::detail
