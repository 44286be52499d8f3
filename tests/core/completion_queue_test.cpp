// CompletionQueue (shoal/completion_queue.hpp): answers, messages and
// continuations reach the thread that drains the queue, in order, through a
// descriptor that is readable whenever something is queued; a closed queue
// drops its continuations and turns its messages into dead letters.
//
// The tests wait the way an event loop does: poll(2) on the queue's
// descriptor (CompletionQueue::wait), never a sleep. A lost wake-up shows
// as a wait that times out.
#include "shoal/completion_queue.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "shoal/actor_system.hpp"
#include "shoal/handles.hpp"
#include "tests/core/test_support.hpp"

namespace shoal {
namespace {

using namespace std::chrono_literals;

struct Get {
  using reply_type = int;
};
struct Add {
  int n;
};

/// Answers Get with its total; adds what Add says.
struct Counter : Handles<Counter, Get, Add> {
  void on(Context& ctx, Get&) { ctx.respond(total); }
  void on(Context&, Add& a) { total += a.n; }
  int total = 0;
};

/// Sends `count` numbered Items to `to`, then stops.
struct Burst {
  Pid to;
  std::uint32_t producer;
  std::uint64_t count;
};
struct Producer : Handles<Producer, Burst> {
  void on(Context& ctx, Burst& b) {
    for (std::uint64_t i = 0; i < b.count; ++i) ctx.send(b.to, test::Item{b.producer, i});
  }
};

/// Runs a function given to it (on a worker).
struct RunThere {
  std::function<void()> fn;
};
struct Runner : Handles<Runner, RunThere> {
  void on(Context&, RunThere& r) { r.fn(); }
};

/// Starts `producers` actors, each sending `per` numbered Items to `q`.
void start_producers(ActorSystem& system, CompletionQueue& q, std::uint32_t producers,
                     std::uint64_t per) {
  for (std::uint32_t p = 0; p < producers; ++p) {
    system.send(system.spawn<Producer>(), Burst{q.pid(), p, per});
  }
}

bool readable_now(int fd) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&p, 1, 0) > 0;
}

/// Waits for `q`'s descriptor alone (not pending(), which would hide a lost
/// wake-up) and drains, until `done()`; fails if the descriptor stays
/// silent for the whole deadline.
template <class Done, class Drain>
::testing::AssertionResult drain_until_with(CompletionQueue& q, Done&& done, Drain&& drain,
                                            std::string_view what) {
  const int limit_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(test::deadline).count());
  while (!done()) {
    pollfd p{.fd = q.fd(), .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, limit_ms) <= 0) {
      return ::testing::AssertionFailure()
             << "the descriptor stayed silent waiting for " << what
             << (q.pending() ? " while messages were queued (a lost wake-up)" : "");
    }
    drain();
  }
  return ::testing::AssertionSuccess();
}
template <class Done, class OnMessage>
::testing::AssertionResult drain_until(CompletionQueue& q, Done&& done, OnMessage&& on_message,
                                       std::string_view what) {
  return drain_until_with(
      q, std::forward<Done>(done), [&] { q.drain(on_message); }, what);
}
/// The same, for a queue drained without a message handler.
template <class Done>
::testing::AssertionResult drain_until(CompletionQueue& q, Done&& done, std::string_view what) {
  return drain_until_with(
      q, std::forward<Done>(done), [&] { q.drain(); }, what);
}

TEST(CompletionQueue, AThenContinuationRunsInDrainOnTheQueuesThread) {
  ActorSystem system({.scheduler = {.workers = 2}});
  CompletionQueue q(system);
  Pid counter = system.spawn<Counter>();
  system.send(counter, Add{41});
  system.send(counter, Add{1});
  const std::thread::id here = std::this_thread::get_id();
  bool ran = false;
  int got = 0;
  std::thread::id ran_on;
  system.request_future(counter, Get{}, 60s).then(q, [&](Result<int> r) {
    ran = true;
    got = r.value();
    ran_on = std::this_thread::get_id();
  });
  // Nothing runs it but a drain on this thread: wait for the descriptor.
  ASSERT_TRUE(q.wait(test::deadline)) << "the descriptor never became readable";
  EXPECT_FALSE(ran) << "a queue's continuation ran outside drain()";
  ASSERT_TRUE(drain_until(
      q, [&] { return ran; }, "the continuation"));
  EXPECT_EQ(got, 42);
  EXPECT_EQ(ran_on, here);
  EXPECT_GE(q.drained(), 1u);
}

TEST(CompletionQueue, AnAnswerToARequestNamingTheQueueArrivesAsAMessage) {
  ActorSystem system({.scheduler = {.workers = 2}});
  CompletionQueue q(system);
  Pid counter = system.spawn<Counter>();
  system.send(counter, Add{7});
  system.request(counter, Get{}, q.pid());
  int answer = -1;
  ASSERT_TRUE(drain_until(
      q, [&] { return answer != -1; },
      [&](Envelope& e) {
        if (int* v = e.get<int>()) answer = *v;
      },
      "the answer"));
  EXPECT_EQ(answer, 7);
}

TEST(CompletionQueue, EachSendersMessagesArriveInOrderAndNoneIsLost) {
  ActorSystem system({.scheduler = {.workers = 2}});
  CompletionQueue q(system);
  constexpr std::uint32_t producers = 4;
  const std::uint64_t per = test::scaled(50'000, 5'000);
  start_producers(system, q, producers, per);
  std::vector<std::uint64_t> next(producers, 0);
  std::uint64_t seen = 0, out_of_order = 0;
  ASSERT_TRUE(drain_until(
      q, [&] { return seen == producers * per; },
      [&](Envelope& e) {
        const test::Item* it = e.get<test::Item>();
        ASSERT_NE(it, nullptr);
        if (it->seq != next[it->producer]) ++out_of_order;
        next[it->producer] = it->seq + 1;
        ++seen;
      },
      "every producer's messages"));
  EXPECT_EQ(out_of_order, 0u);
  // All taken: at most one late readiness is left, and the next drain
  // clears it.
  q.drain();
  EXPECT_FALSE(readable_now(q.fd())) << "readable with nothing queued after two drains";
  EXPECT_FALSE(q.pending());
}

TEST(CompletionQueue, ManyProducersAndSmallDrainsNeverStrandAMessage) {
  // Producers on both workers and this thread's drains of one item at a
  // time interleave every way the flag and the eventfd can: a message left
  // queued with the descriptor silent fails the wait.
  ActorSystem system({.scheduler = {.workers = 2}});
  CompletionQueue q(system);
  constexpr std::uint32_t producers = 8;
  const std::uint64_t per = test::scaled(20'000, 2'000);
  start_producers(system, q, producers, per);
  std::uint64_t seen = 0;
  ASSERT_TRUE(drain_until_with(
      q, [&] { return seen == producers * per; },
      [&] { seen += q.drain([](Envelope&) {}, 1 + seen % 3); }, "every message"));
}

TEST(CompletionQueue, PostedCallsFromWorkersRunOnTheQueuesThreadInTheirOrder) {
  ActorSystem system({.scheduler = {.workers = 2}});
  CompletionQueue q(system);
  Pid runner = system.spawn<Runner>();
  const std::thread::id here = std::this_thread::get_id();
  std::vector<int> order;
  bool all_here = true;
  constexpr int calls = 1000;
  for (int i = 0; i < calls; ++i) {
    system.send(runner, RunThere{[&q, &order, &all_here, here, i] {
                  q.post([&order, &all_here, here, i] {
                    all_here &= std::this_thread::get_id() == here;
                    order.push_back(i);
                  });
                }});
  }
  ASSERT_TRUE(drain_until(
      q, [&] { return order.size() == calls; }, "every posted call"));
  EXPECT_TRUE(all_here);
  for (int i = 0; i < calls; ++i) ASSERT_EQ(order[i], i);
}

TEST(CompletionQueue, ADrainWithALimitLeavesTheRestReadable) {
  ActorSystem system({.scheduler = {.workers = 1}});
  CompletionQueue q(system);
  int ran = 0;
  for (int i = 0; i < 10; ++i) q.post([&ran] { ++ran; });
  EXPECT_TRUE(readable_now(q.fd()));
  EXPECT_EQ(q.drain(4), 4u);
  EXPECT_EQ(ran, 4);
  EXPECT_TRUE(readable_now(q.fd())) << "six calls queued and the descriptor says nothing";
  EXPECT_EQ(q.drain(), 6u);
  EXPECT_EQ(ran, 10);
  q.drain();
  EXPECT_FALSE(readable_now(q.fd()));
}

TEST(CompletionQueue, WhilePollingProducersLeaveTheDescriptorAloneAndLeavingItRearmsIt) {
  ActorSystem system({.scheduler = {.workers = 1}});
  CompletionQueue q(system);
  EXPECT_FALSE(q.polling());
  q.set_polling(true);
  EXPECT_TRUE(q.polling());
  int ran = 0;
  for (int i = 0; i < 3; ++i) q.post([&ran] { ++ran; });
  EXPECT_TRUE(q.pending());
  EXPECT_FALSE(readable_now(q.fd())) << "a producer wrote the eventfd while the loop polled";
  EXPECT_EQ(q.drain(), 3u);
  EXPECT_EQ(ran, 3);
  // Queued while polling, then back to the descriptor: readable at once.
  q.post([&ran] { ++ran; });
  EXPECT_FALSE(readable_now(q.fd()));
  q.set_polling(false);
  EXPECT_FALSE(q.polling());
  EXPECT_TRUE(readable_now(q.fd())) << "a call queued while polling is stranded";
  EXPECT_EQ(q.drain(), 1u);
  q.drain();
  EXPECT_FALSE(readable_now(q.fd()));
  // Nothing queued: leaving polling leaves it silent; a post makes it speak.
  q.set_polling(true);
  q.set_polling(false);
  EXPECT_FALSE(readable_now(q.fd()));
  q.post([&ran] { ++ran; });
  EXPECT_TRUE(readable_now(q.fd()));
  // wait() ends polling: it waits on the descriptor.
  q.set_polling(true);
  EXPECT_TRUE(q.wait(test::deadline));
  EXPECT_FALSE(q.polling());
  EXPECT_EQ(q.drain(), 1u);
  EXPECT_EQ(ran, 5);
}

TEST(CompletionQueue, ALoopThatSwitchesBetweenPollingAndWaitingNeverStrandsAMessage) {
  // What a server's loop does under changing load: poll while busy, block on
  // the descriptor when quiet. Producers on both workers race every switch;
  // a message queued as the loop goes back to the descriptor must make it
  // readable (a stranded one fails the wait).
  ActorSystem system({.scheduler = {.workers = 2}});
  CompletionQueue q(system);
  constexpr std::uint32_t producers = 8;
  const std::uint64_t per = test::scaled(20'000, 2'000);
  start_producers(system, q, producers, per);
  std::uint64_t seen = 0, round = 0;
  ASSERT_TRUE(drain_until_with(
      q, [&] { return seen == producers * per; },
      [&] {
        // Readable: poll for a few rounds, then back to the descriptor.
        q.set_polling(true);
        for (std::uint64_t i = 0; i < 1 + round % 5; ++i) {
          if (q.pending()) seen += q.drain([](Envelope&) {}, 1 + seen % 7);
        }
        q.set_polling(false);
        ++round;
      },
      "every message"));
}

TEST(CompletionQueue, AMessageWithNoHandlerIsADeadLetter) {
  ActorSystem system({.scheduler = {.workers = 1}});
  CompletionQueue q(system);
  system.send(q.pid(), Add{1});
  const std::uint64_t before = system.dead_letters().total();
  ASSERT_TRUE(drain_until(
      q, [&] { return system.dead_letters().total() > before; },
      "the unhandled message's dead letter"));
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::unhandled), 1u);
}

TEST(CompletionQueue, AThrowingCallIsReportedAndTheDrainGoesOn) {
  ActorSystem system({.scheduler = {.workers = 1}});
  CompletionQueue q(system);
  bool after = false;
  q.post([] { throw std::runtime_error("boom"); });
  q.post([&after] { after = true; });
  EXPECT_EQ(q.drain(), 2u);
  EXPECT_TRUE(after);
  EXPECT_EQ(system.failures(), 1u);
}

TEST(CompletionQueue, ClosingDropsQueuedContinuationsUnrunAndDeadLettersMessages) {
  ActorSystem system({.scheduler = {.workers = 2}});
  auto captured = std::make_shared<int>(0);
  std::weak_ptr<int> watch = captured;
  bool ran = false;
  Pid kept;
  {
    CompletionQueue q(system);
    kept = q.pid();
    Pid counter = system.spawn<Counter>();
    system.request_future(counter, Get{}, 60s)
        .then(q, [&ran, c = std::move(captured)](Result<int>) { ran = true; });
    // Only the continuation makes it pending.
    ASSERT_TRUE(test::eventually([&] { return q.pending(); }, "the continuation queued"));
    system.send(q.pid(), Add{1});  // this thread's push: queued on return
    // Destroyed undrained.
  }
  EXPECT_FALSE(ran) << "a continuation ran without a drain";
  EXPECT_TRUE(watch.expired()) << "the dropped continuation still holds what it captured";
  // The message queued before the close, and one sent after it.
  system.send(kept, Add{2});
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::target_stopped), 2u);
}

TEST(CompletionQueue, AContinuationBoundToAClosedQueueIsDroppedWhenItsFutureCompletes) {
  ActorSystem system({.scheduler = {.workers = 2}});
  auto captured = std::make_shared<int>(0);
  std::weak_ptr<int> watch = captured;
  Pid counter = system.spawn<Counter>();
  Future<int> f;
  {
    CompletionQueue q(system);
    // Completes only once the counter runs it; the queue is gone by then.
    f = system.request_future(counter, Get{}, 60s);
    f.then(q, [c = std::move(captured)](Result<int>) { ADD_FAILURE() << "ran after its queue"; });
  }
  ASSERT_TRUE(test::eventually([&] { return f.ready(); }, "the future to complete"));
  f = Future<int>();
  ASSERT_TRUE(test::eventually([&] { return watch.expired(); }, "the continuation to be dropped"));
}

TEST(CompletionQueue, AFutureTheShutdownFailsQueuesItsContinuation) {
  auto system = std::make_unique<ActorSystem>(SystemConfig{.scheduler = {.workers = 1}});
  CompletionQueue* q = nullptr;
  auto queue = std::make_unique<CompletionQueue>(*system);
  q = queue.get();
  // An actor that never answers: the future waits for its timeout.
  struct Silent : Handles<Silent, Get> {
    explicit Silent(std::shared_ptr<std::atomic<bool>> got) : got(std::move(got)) {}
    void on(Context&, Get&) {
      // release: pairs with the test's acquire load.
      got->store(true, std::memory_order_release);
    }
    std::shared_ptr<std::atomic<bool>> got;
  };
  auto got = std::make_shared<std::atomic<bool>>(false);
  Pid silent = system->spawn<Silent>(got);
  std::optional<RequestErrc> error;
  system->request_future(silent, Get{}, 3600s).then(*q, [&](Result<int> r) {
    error = r.ok() ? std::optional<RequestErrc>() : r.error();
  });
  // Taken and left unanswered (not still queued when the actor stops,
  // which would fail it as a dead letter).
  // acquire: pairs with the handler's release store.
  ASSERT_TRUE(
      test::eventually([&] { return got->load(std::memory_order_acquire); }, "the request"));
  system->shutdown();
  EXPECT_FALSE(error) << "ran during the shutdown, off the queue's thread";
  ASSERT_TRUE(drain_until(
      *q, [&] { return error.has_value(); }, "the failed future's continuation"));
  EXPECT_EQ(*error, RequestErrc::shut_down);
  queue.reset();
  system.reset();
}

}  // namespace
}  // namespace shoal
