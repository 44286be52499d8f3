// Guest runs: a thread that is not a worker keeps the mailboxes it makes
// runnable while every worker sleeps and runs them itself (one batch each,
// the rest back to the workers), and what those runs wake too, up to a
// bound; with a worker awake, or in deterministic
// mode, it keeps nothing; Future::get() refuses to block in a guest run;
// kept mailboxes are not stranded when the runner goes away; the runs are
// counted in stats().guests and recorded in a flight-recorder lane of the
// guest's own (a bounded number of lanes, freed for the next guest).
#include "shoal/guest_runner.hpp"
#include "core/detail/system_access.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/trace_flows.hpp"
#include "shoal/actor_system.hpp"
#include "tests/core/test_support.hpp"

namespace shoal::detail {
namespace {

using test::eventually;

/// What the recorder saw: which threads ran its handler, and how often.
struct Seen {
  std::mutex mu;
  std::vector<std::thread::id> threads;  // guarded by mu
  std::atomic<std::uint64_t> count{0};
  std::atomic<int> get_refused{0};  // Future::get() threw logic_error
  std::string refusal;              // guarded by mu

  std::uint64_t on(std::thread::id t) {
    std::lock_guard lock(mu);
    std::uint64_t n = 0;
    for (auto id : threads) n += id == t ? 1 : 0;
    return n;
  }
};

struct Note {
  int n = 0;
};
struct TryBlock {};  // the handler calls Future::get()
struct Pass {        // recorded, then passed on to `next` while hops remain
  std::vector<Pid> chain;
  std::size_t at = 0;
};
struct Hold {        // the handler spins until `release`
  std::shared_ptr<std::atomic<bool>> release;
  std::shared_ptr<std::atomic<bool>> holding;
};

struct Recorder : Handles<Recorder, Note, TryBlock, Hold, Pass> {
  explicit Recorder(std::shared_ptr<Seen> seen) : seen(std::move(seen)) {}
  void on(Context&, Note&) {
    {
      std::lock_guard lock(seen->mu);
      seen->threads.push_back(std::this_thread::get_id());
    }
    seen->count.fetch_add(1);
  }
  void on(Context& ctx, TryBlock&) {
    try {
      (void)ctx.system().request_future<Note>(ctx.self(), Note{}, std::chrono::seconds(1)).get();
    } catch (const std::logic_error& e) {
      std::lock_guard lock(seen->mu);
      seen->refusal = e.what();
      seen->get_refused.fetch_add(1);
    }
  }
  void on(Context& ctx, Pass& p) {
    Note n;
    on(ctx, n);
    if (p.at + 1 < p.chain.size()) {
      const Pid next = p.chain[p.at + 1];
      ctx.send(next, Pass{std::move(p.chain), p.at + 1});
    }
  }
  void on(Context&, Hold& h) {
    h.holding->store(true);
    while (!h.release->load()) std::this_thread::yield();
  }
  std::shared_ptr<Seen> seen;
};

::testing::AssertionResult all_parked(ActorSystem& sys) {
  return eventually(
      [&] {
        return shoal::detail::SystemAccess::scheduler(sys).parked_workers() ==
               shoal::detail::SystemAccess::scheduler(sys).worker_count();
      },
      "every worker to park");
}

SystemConfig two_workers(std::uint32_t throughput = 64) {
  SystemConfig cfg;
  cfg.scheduler.workers = 2;
  cfg.throughput = throughput;
  return cfg;
}

TEST(GuestRunner, RunsWhatItWokeWhileEveryWorkerSleeps) {
  ActorSystem sys(two_workers());
  auto seen = std::make_shared<Seen>();
  Pid r = sys.spawn<Recorder>(seen);
  GuestRunner guest(sys, "test guest");
  ASSERT_TRUE(all_parked(sys));
  guest.collect();
  sys.send(r, Note{1});
  EXPECT_EQ(guest.kept(), 1u) << "the send woke the mailbox while both workers slept";
  EXPECT_EQ(seen->count.load(), 0u) << "nothing runs before run()";
  EXPECT_EQ(guest.run(), 1u);
  EXPECT_EQ(seen->count.load(), 1u);
  EXPECT_EQ(seen->on(std::this_thread::get_id()), 1u) << "the handler ran on the guest's thread";
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(sys).parked_workers(), 2u)
      << "no worker was woken for it";

  const SystemStats st = sys.stats();
  ASSERT_EQ(st.guests.size(), 1u);
  EXPECT_EQ(st.guests[0].name, "test guest");
  EXPECT_EQ(st.guests[0].runs, 1u);
  EXPECT_EQ(st.guests[0].messages, 1u);
  EXPECT_GE(st.messages(), 1u) << "guest messages count into the total";
  EXPECT_NE(st.to_text().find("test guest"), std::string::npos) << st.to_text();
  auto j = nlohmann::json::parse(st.to_json());
  ASSERT_EQ(j["guests"].size(), 1u);
  EXPECT_EQ(j["guests"][0]["name"], "test guest");
  EXPECT_EQ(j["guests"][0]["runs"], 1);
}

TEST(GuestRunner, WhatAGuestRunWakesRunsThereToo) {
  ActorSystem sys(two_workers());
  auto seen = std::make_shared<Seen>();
  std::vector<Pid> chain;
  for (int i = 0; i < 3; ++i) chain.push_back(sys.spawn<Recorder>(seen));
  GuestRunner guest(sys, "g");
  ASSERT_TRUE(all_parked(sys));
  guest.collect();
  const Pid first = chain.front();
  sys.send(first, Pass{chain, 0});
  ASSERT_EQ(guest.kept(), 1u);
  EXPECT_EQ(guest.run(), 3u) << "the two local hops behind the first run ran here as well";
  EXPECT_EQ(seen->on(std::this_thread::get_id()), 3u);
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(sys).parked_workers(), 2u)
      << "no worker was woken for any hop";
}

TEST(GuestRunner, ALongChainOfHopsIsBoundedAndTheWorkersFinishIt) {
  ActorSystem sys(two_workers());
  auto seen = std::make_shared<Seen>();
  constexpr std::size_t hops = 3 * GuestRunner::max_runs_per_call;
  std::vector<Pid> chain;
  for (std::size_t i = 0; i < hops; ++i) chain.push_back(sys.spawn<Recorder>(seen));
  GuestRunner guest(sys, "g");
  ASSERT_TRUE(all_parked(sys));
  guest.collect();
  const Pid first = chain.front();
  sys.send(first, Pass{chain, 0});
  EXPECT_EQ(guest.run(), GuestRunner::max_runs_per_call) << "one call runs at most the bound";
  ASSERT_TRUE(
      eventually([&] { return seen->count.load() == hops; }, "the workers to finish the chain"));
  EXPECT_EQ(seen->on(std::this_thread::get_id()), GuestRunner::max_runs_per_call);
}

TEST(GuestRunner, KeepsNothingWhileAWorkerIsAwake) {
  ActorSystem sys(two_workers());
  auto seen = std::make_shared<Seen>();
  Pid busy = sys.spawn<Recorder>(seen);
  Pid r = sys.spawn<Recorder>(seen);
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto holding = std::make_shared<std::atomic<bool>>(false);
  sys.send(busy, Hold{release, holding});
  ASSERT_TRUE(eventually([&] { return holding->load(); }, "a worker to run the holding handler"));
  GuestRunner guest(sys, "g");
  guest.collect();
  sys.send(r, Note{1});
  EXPECT_EQ(guest.kept(), 0u)
      << "a worker is awake (running): it takes the mailbox, no wake-up needed";
  EXPECT_EQ(guest.run(), 0u);
  release->store(true);
  ASSERT_TRUE(eventually([&] { return seen->count.load() == 1; }, "a worker to handle the note"));
  EXPECT_EQ(seen->on(std::this_thread::get_id()), 0u);
}

TEST(GuestRunner, RunsOneBatchAndLeavesTheRestToTheWorkers) {
  ActorSystem sys(two_workers(/*throughput=*/4));
  auto seen = std::make_shared<Seen>();
  Pid r = sys.spawn<Recorder>(seen);
  GuestRunner guest(sys, "g");
  ASSERT_TRUE(all_parked(sys));
  guest.collect();
  for (int i = 0; i < 10; ++i) sys.send(r, Note{i});
  EXPECT_EQ(guest.kept(), 1u) << "one mailbox, made runnable once";
  EXPECT_EQ(guest.run(), 1u);
  ASSERT_TRUE(eventually([&] { return seen->count.load() == 10; }, "all ten notes handled"));
  EXPECT_EQ(seen->on(std::this_thread::get_id()), 4u) << "one batch (throughput 4) ran here";
  EXPECT_EQ(sys.stats().guests.at(0).messages, 4u);
}

TEST(GuestRunner, FutureGetRefusesToBlockInAGuestRun) {
  ActorSystem sys(two_workers());
  auto seen = std::make_shared<Seen>();
  Pid r = sys.spawn<Recorder>(seen);
  GuestRunner guest(sys, "g");
  ASSERT_TRUE(all_parked(sys));
  guest.collect();
  sys.send(r, TryBlock{});
  ASSERT_EQ(guest.kept(), 1u);
  guest.run();
  EXPECT_EQ(seen->get_refused.load(), 1)
      << "the answer may have to come through this very thread: blocking would deadlock it";
  std::lock_guard lock(seen->mu);
  EXPECT_NE(seen->refusal.find("would block"), std::string::npos) << seen->refusal;
}

TEST(GuestRunner, DeterministicModeKeepsNothing) {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  ActorSystem sys(cfg);
  auto seen = std::make_shared<Seen>();
  Pid r = sys.spawn<Recorder>(seen);
  shoal::detail::SystemAccess::scheduler(sys).run_until_idle();
  GuestRunner guest(sys, "g");
  guest.collect();
  sys.send(r, Note{1});
  EXPECT_EQ(guest.kept(), 0u) << "the test thread decides what runs";
  EXPECT_EQ(guest.run(), 0u);
  shoal::detail::SystemAccess::scheduler(sys).run_until_idle();
  EXPECT_EQ(seen->count.load(), 1u);
}

TEST(GuestRunner, KeptMailboxesGoToTheWorkersWhenTheRunnerGoesAway) {
  ActorSystem sys(two_workers());
  auto seen = std::make_shared<Seen>();
  Pid r = sys.spawn<Recorder>(seen);
  {
    GuestRunner guest(sys, "g");
    ASSERT_TRUE(all_parked(sys));
    guest.collect();
    sys.send(r, Note{1});
    ASSERT_EQ(guest.kept(), 1u);
  }  // never run
  ASSERT_TRUE(
      eventually([&] { return seen->count.load() == 1; }, "a worker to handle the kept note"));
  EXPECT_EQ(seen->on(std::this_thread::get_id()), 0u);
  EXPECT_TRUE(sys.stats().guests.empty()) << "the runner unregistered";
}

TEST(GuestRunner, OtherSchedulersMailboxesAreNotKept) {
  ActorSystem a(two_workers()), b(two_workers());
  auto seen = std::make_shared<Seen>();
  Pid r = b.spawn<Recorder>(seen);
  GuestRunner guest(a, "g");
  ASSERT_TRUE(all_parked(b));
  guest.collect();
  b.send(r, Note{1});
  EXPECT_EQ(guest.kept(), 0u) << "a guest of one system never runs another's actors";
  guest.run();
  ASSERT_TRUE(eventually([&] { return seen->count.load() == 1; }, "b's worker to handle it"));
}

TEST(GuestRunner, ItsRunsAreRecordedInALaneOfItsOwn) {
  ActorSystem sys(two_workers());
  sys.start_trace();
  auto seen = std::make_shared<Seen>();
  Pid a = sys.spawn<Recorder>(seen);
  Pid b = sys.spawn<Recorder>(seen);
  GuestRunner guest(sys, "io test");  // registered after start_trace
  ASSERT_NE(guest.lane(), FlightRecorder::no_lane);
  ASSERT_TRUE(all_parked(sys));
  // As a node's io thread does: what this thread makes runnable goes to
  // the guest's lane too.
  detail::active_trace = guest.trace();
  ASSERT_NE(detail::active_trace, nullptr) << "the system records";
  guest.collect();
  sys.send(a, Pass{{a, b}, 0});  // a runs, then passes to b: two guest runs
  EXPECT_EQ(guest.run(), 2u);
  detail::active_trace = nullptr;

  const Trace t = sys.trace();
  ASSERT_EQ(t.guest_names, std::vector<std::string>{"io test"});
  ASSERT_EQ(t.lanes.size(), 3u) << "two workers, one guest";
  EXPECT_EQ(t.worker_lanes(), 2u);
  EXPECT_EQ(t.lane_name(2), "io test");
  std::vector<std::uint64_t> ran;
  bool kept_a = false;
  for (const TraceEvent& e : t.lanes[2]) {
    if (e.kind == TraceKind::run) ran.push_back(e.a);
    kept_a |= e.kind == TraceKind::scheduled && e.a == a.id() &&
              e.x == static_cast<std::uint32_t>(ScheduledWhere::guest);
  }
  EXPECT_EQ(ran, (std::vector<std::uint64_t>{a.id(), b.id()}));
  EXPECT_TRUE(kept_a) << "the send from outside a run shows who made `a` runnable";
  bool hop = false;
  for (const MatchedFlow& f : match_flows(t)) {
    hop |= f.from_worker == 2 && f.from_actor == a.id() && f.to_worker == 2 && f.to_actor == b.id();
  }
  EXPECT_TRUE(hop) << "a's message to b is an arrow within the guest's lane";
}

TEST(GuestRunner, GuestLanesAreBoundedAndFreedForTheNext) {
  ActorSystem sys(two_workers());
  std::vector<std::unique_ptr<GuestRunner>> guests;
  for (unsigned i = 0; i < FlightRecorder::max_guest_lanes; ++i) {
    char name[16];  // not "g" + to_string(i): g++ 12's -Wrestrict false positive at -O3
    std::snprintf(name, sizeof name, "g%u", i);
    guests.push_back(std::make_unique<GuestRunner>(sys, name));
    EXPECT_EQ(guests.back()->lane(), 2 + i);
  }
  GuestRunner extra(sys, "one too many");
  EXPECT_EQ(extra.lane(), FlightRecorder::no_lane);
  sys.start_trace();
  EXPECT_EQ(extra.trace(), nullptr) << "a guest without a lane is not recorded";
  EXPECT_NE(guests[3]->trace(), nullptr) << "start_trace made the claimed lanes' rings";
  // It still runs actors.
  auto seen = std::make_shared<Seen>();
  Pid r = sys.spawn<Recorder>(seen);
  ASSERT_TRUE(all_parked(sys));
  extra.collect();
  sys.send(r, Note{1});
  EXPECT_EQ(extra.run(), 1u);
  EXPECT_EQ(seen->count.load(), 1u);

  guests[3].reset();
  GuestRunner next(sys, "next");
  EXPECT_EQ(next.lane(), 5u) << "the lowest free lane";
  EXPECT_NE(next.trace(), nullptr) << "claimed while recording: its ring is made at once";
  const Trace t = sys.trace();
  ASSERT_EQ(t.lanes.size(), 2u + FlightRecorder::max_guest_lanes);
  EXPECT_EQ(t.lane_name(5), "next");
  EXPECT_EQ(t.lane_name(2), "g0");
}

}  // namespace
}  // namespace shoal::detail
