// MpscQueue: FIFO on one thread, the has_next / maybe_nonempty contract,
// ownership of popped nodes, and P producers × N pushes against one
// consumer (exact count, per-producer order, no duplicates).
#include "shoal/detail/mpsc_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/test_support.hpp"

namespace shoal::detail {
namespace {

using test::Counted;
using test::Item;

using test::deadline;
using test::scaled;

std::uint64_t seq_of(Envelope* e) { return e->get<Item>()->seq; }

TEST(MpscQueue, EmptyQueueHasNothingToPop) {
  MpscQueue q;
  EXPECT_EQ(q.try_pop(), nullptr);
  EXPECT_FALSE(q.has_next());
  EXPECT_FALSE(q.maybe_nonempty());
}

TEST(MpscQueue, PopsInPushOrderOnOneThread) {
  MpscQueue q;
  for (std::uint64_t i = 0; i < 100; ++i) q.push(make_envelope(Item{0, i}));
  for (std::uint64_t i = 0; i < 100; ++i) {
    Envelope* e = q.try_pop();
    ASSERT_NE(e, nullptr) << "at " << i;
    EXPECT_EQ(seq_of(e), i);
    e->destroy_payload();
  }
  EXPECT_EQ(q.try_pop(), nullptr);
}

TEST(MpscQueue, InterleavedPushesAndPopsStayInOrder) {
  MpscQueue q;
  std::uint64_t pushed = 0, popped = 0;
  for (int round = 0; round < 50; ++round) {
    for (int k = 0; k <= round % 7; ++k) q.push(make_envelope(Item{0, pushed++}));
    for (int k = 0; k <= round % 5; ++k) {
      Envelope* e = q.try_pop();
      if (e == nullptr) {
        EXPECT_EQ(popped, pushed) << "null pop while messages are queued";
        break;
      }
      EXPECT_EQ(seq_of(e), popped++);
      e->destroy_payload();
    }
  }
  while (Envelope* e = q.try_pop()) {
    EXPECT_EQ(seq_of(e), popped++);
    e->destroy_payload();
  }
  EXPECT_EQ(popped, pushed);
}

TEST(MpscQueue, HasNextAndMaybeNonemptyFollowPushesAndPops) {
  MpscQueue q;
  q.push(make_envelope(Item{0, 1}));
  EXPECT_TRUE(q.has_next());
  EXPECT_TRUE(q.maybe_nonempty());
  q.push(make_envelope(Item{0, 2}));

  Envelope* a = q.try_pop();
  ASSERT_NE(a, nullptr);
  a->destroy_payload();
  EXPECT_TRUE(q.has_next()) << "one message is still queued";
  EXPECT_TRUE(q.maybe_nonempty());

  Envelope* b = q.try_pop();
  ASSERT_NE(b, nullptr);
  b->destroy_payload();
  // The last popped node stays in the queue as its stub, but it is no message.
  EXPECT_FALSE(q.has_next());
  EXPECT_FALSE(q.maybe_nonempty());
  EXPECT_EQ(q.try_pop(), nullptr);
}

TEST(MpscQueue, OnlyTheFirstPushAfterAnEmptyMarkReportsIt) {
  MpscQueue q;
  EXPECT_FALSE(q.push(make_envelope(Item{0, 1}))) << "a fresh queue is not marked";
  EXPECT_FALSE(q.try_mark_empty()) << "a queued node forbids the mark";

  Envelope* a = q.try_pop();
  ASSERT_NE(a, nullptr);
  a->destroy_payload();
  EXPECT_TRUE(q.try_mark_empty());
  EXPECT_TRUE(q.try_mark_empty()) << "marking a marked queue is harmless";
  EXPECT_FALSE(q.maybe_nonempty()) << "the mark is not a message";
  EXPECT_EQ(q.try_pop(), nullptr);

  EXPECT_TRUE(q.push(make_envelope(Item{0, 2}))) << "the first push ends the empty stretch";
  EXPECT_FALSE(q.push(make_envelope(Item{0, 3})));
  EXPECT_TRUE(q.maybe_nonempty());
  for (std::uint64_t want : {2u, 3u}) {
    Envelope* e = q.try_pop();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(seq_of(e), want) << "the mark does not disturb FIFO";
    e->destroy_payload();
  }
  EXPECT_TRUE(q.try_mark_empty());
}

TEST(MpscQueue, AnEnteredButUnlinkedNodeForbidsTheMark) {
  MpscQueue q;
  ASSERT_TRUE(q.try_mark_empty());
  Envelope* n = make_envelope(Item{0, 1});
  MpscQueue::Entered in = q.enter(n);
  EXPECT_TRUE(in.was_marked);
  EXPECT_EQ(q.try_pop(), nullptr) << "not linked yet";
  EXPECT_TRUE(q.maybe_nonempty());
  EXPECT_FALSE(q.try_mark_empty()) << "the consumer must not go idle past an entered node";
  q.link(in, n);
  Envelope* e = q.try_pop();
  ASSERT_EQ(e, n);
  e->destroy_payload();
}

TEST(MpscQueue, PoppedNodeStaysValidUntilTheNextPop) {
  // The queue owns a popped node (it is the new stub): the caller destroys
  // the payload only, and the queue frees the node at the next pop or at its
  // own destruction. ASan reports a leak or a double free if either is wrong.
  int destroyed = 0;
  {
    MpscQueue q;
    q.push(make_envelope(Counted{&destroyed}));
    q.push(make_envelope(Counted{&destroyed}));
    Envelope* first = q.try_pop();
    ASSERT_NE(first, nullptr);
    first->destroy_payload();
    EXPECT_EQ(destroyed, 1);
    EXPECT_TRUE(first->is<Counted>()) << "the node must still be readable";
    Envelope* second = q.try_pop();  // frees `first`
    ASSERT_NE(second, nullptr);
    second->destroy_payload();
    EXPECT_EQ(destroyed, 2);
  }
  EXPECT_EQ(destroyed, 2) << "the queue destroyed a payload twice";
}

TEST(MpscQueue, DrainDestroysEveryPayloadAndCountsThem) {
  int destroyed = 0;
  MpscQueue q;
  for (int i = 0; i < 10; ++i) q.push(make_envelope(Counted{&destroyed}));
  int seen = 0;
  EXPECT_EQ(q.drain([&](Envelope& e) {
    EXPECT_TRUE(e.is<Counted>());
    ++seen;
  }),
            10u);
  EXPECT_EQ(seen, 10);
  EXPECT_EQ(destroyed, 10);
  EXPECT_FALSE(q.maybe_nonempty());
}

TEST(MpscQueue, DestructorDestroysQueuedPayloads) {
  int destroyed = 0;
  {
    MpscQueue q;
    for (int i = 0; i < 5; ++i) q.push(make_envelope(Counted{&destroyed}));
    Envelope* e = q.try_pop();
    ASSERT_NE(e, nullptr);
    e->destroy_payload();
  }
  EXPECT_EQ(destroyed, 5);
}

// -- concurrency ---------------------------------------------------------------------------

class MpscQueueStress : public ::testing::TestWithParam<unsigned> {};

TEST_P(MpscQueueStress, ManyProducersOneConsumerLoseDuplicateAndReorderNothing) {
  const unsigned producers = GetParam();
  const std::uint64_t per_producer = scaled(200'000, 20'000);
  const std::uint64_t total = producers * per_producer;

  MpscQueue q;
  std::latch start(producers + 1);
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < per_producer; ++i) q.push(make_envelope(Item{p, i}));
    });
  }

  // The consumer (this thread) checks as it goes: each producer's sequence
  // must arrive exactly as 0, 1, 2, …: a gap is a loss or a reordering, a
  // repeat is a duplicate.
  std::vector<std::uint64_t> next(producers, 0);
  std::uint64_t received = 0, errors = 0;
  std::string first_error;
  start.arrive_and_wait();
  const auto end = std::chrono::steady_clock::now() + deadline;
  bool timed_out = false;
  while (received < total) {
    Envelope* e = q.try_pop();
    if (e == nullptr) {
      if (std::chrono::steady_clock::now() >= end) {
        timed_out = true;
        break;
      }
      std::this_thread::yield();
      continue;
    }
    const Item& it = *e->get<Item>();
    if (it.producer >= producers || it.seq != next[it.producer]) {
      if (errors++ == 0) {
        first_error = test::cat("producer ", it.producer, ": got seq ", it.seq, ", expected ",
                                it.producer < producers ? next[it.producer] : 0);
      }
    } else {
      ++next[it.producer];
    }
    ++received;
    e->destroy_payload();
  }
  for (auto& t : threads) t.join();

  ASSERT_FALSE(timed_out) << "received " << received << " of " << total << " before the deadline";
  EXPECT_EQ(errors, 0u) << first_error;
  for (unsigned p = 0; p < producers; ++p) EXPECT_EQ(next[p], per_producer) << "producer " << p;
  EXPECT_EQ(q.try_pop(), nullptr) << "more messages than were pushed";
  EXPECT_FALSE(q.maybe_nonempty());
}

INSTANTIATE_TEST_SUITE_P(Producers, MpscQueueStress, ::testing::Values(1u, 2u, 4u, 8u),
                         [](const auto& info) { return test::cat("p", info.param); });

// -- chains (enter_chain: a batch of messages with one exchange) ---------------------------

/// Links `n` envelopes of producer `p` from seq `from` into a chain.
std::pair<Envelope*, Envelope*> chain_of(unsigned p, std::uint64_t from, std::uint64_t n) {
  Envelope* first = make_envelope(Item{p, from});
  Envelope* last = first;
  for (std::uint64_t i = 1; i < n; ++i) {
    Envelope* e = make_envelope(Item{p, from + i});
    last->next.store(e, std::memory_order_relaxed);
    last = e;
  }
  return {first, last};
}

TEST(MpscQueue, AChainEntersWithOneExchangeInOrderAndReportsTheEmptyMarkOnce) {
  MpscQueue q;
  ASSERT_TRUE(q.try_mark_empty());
  auto [first, last] = chain_of(0, 0, 10);
  MpscQueue::Entered in = q.enter_chain(last);
  EXPECT_TRUE(in.was_marked);
  q.link(in, first);
  auto [f2, l2] = chain_of(0, 10, 5);
  in = q.enter_chain(l2);
  EXPECT_FALSE(in.was_marked);
  q.link(in, f2);
  q.push(make_envelope(Item{0, 15}));
  for (std::uint64_t i = 0; i < 16; ++i) {
    Envelope* e = q.try_pop();
    ASSERT_NE(e, nullptr) << "at " << i;
    EXPECT_EQ(seq_of(e), i);
    e->destroy_payload();
  }
  EXPECT_EQ(q.try_pop(), nullptr);
}

TEST(MpscQueue, ChainsFromManyProducersKeepEachProducersOrder) {
  constexpr unsigned producers = 4;
  const std::uint64_t chains = scaled(20'000, 2'000);
  constexpr std::uint64_t chain_length = 7;
  MpscQueue q;
  std::latch start(producers + 1);
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::uint64_t c = 0; c < chains; ++c) {
        auto [first, last] = chain_of(p, c * chain_length, chain_length);
        q.link(q.enter_chain(last), first);
      }
    });
  }
  std::vector<std::uint64_t> next(producers, 0);
  std::uint64_t received = 0, errors = 0;
  const std::uint64_t total = producers * chains * chain_length;
  start.arrive_and_wait();
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (received < total && std::chrono::steady_clock::now() < end) {
    Envelope* e = q.try_pop();
    if (e == nullptr) {
      std::this_thread::yield();
      continue;
    }
    const Item& it = *e->get<Item>();
    if (it.seq != next[it.producer]) ++errors;
    next[it.producer] = it.seq + 1;
    ++received;
    e->destroy_payload();
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(received, total) << "before the deadline";
  EXPECT_EQ(errors, 0u);
  EXPECT_EQ(q.try_pop(), nullptr);
}

}  // namespace
}  // namespace shoal::detail
