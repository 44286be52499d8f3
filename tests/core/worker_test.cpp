// Worker: what a worker runs next and what other workers may take from it.
// Per-sender FIFO holds while the sender migrates between workers (the test
// proves the migration); a flooded actor does not starve another on the same
// worker (batch bound + the global queue's turn); a ping-pong pair living in
// the LIFO slot does not starve the run queue; mail and stop requests from
// other threads reach a pair that keeps each other held; a fan-out wider than
// the run queue spills and still runs everything.
#include "core/worker.hpp"
#include "core/detail/system_access.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/runtime_fixture.hpp"

namespace shoal::detail {
namespace {

using test::Gate;
using test::Hold;
using test::Probe;
using test::scaled;

// -- per-sender FIFO across migration --------------------------------------------------------

struct Seq {
  std::uint32_t sender;
  std::uint64_t n;
};
struct SenderDone {
  std::uint32_t sender;
  std::uint64_t sent;
  std::uint64_t worker_mask;  // bit i: the sender ran on worker i
};
struct Step {};
struct Spin {};
/// Starts a wave: the sender takes `steps` turns, then answers `done`.
struct Wave {
  std::uint32_t steps;
  std::promise<void> done;
};

struct MigrationReport {
  std::vector<std::uint64_t> sent, masks;
  std::uint64_t order_errors = 0;
  std::string first_error;
};

/// What the migration test's actors share with the test thread.
struct MigrationState {
  explicit MigrationState(std::uint32_t senders) : received(senders), finished(senders) {}
  // Per sender: how many of its messages the receiver has seen (flow control).
  std::vector<std::atomic<std::uint64_t>> received;
  // Per sender: it has sent its SenderDone and stopped (no more waves).
  std::vector<std::atomic<bool>> finished;
  std::atomic<bool> give_up{false};
  std::atomic<std::uint64_t> spins{0};
  std::atomic<std::uint64_t> load_mask{0};  // workers the load ran on (diagnostics)
  std::promise<MigrationReport> report;
};

/// Checks that each sender's numbers arrive exactly as 0, 1, 2, … and that a
/// sender's SenderDone comes after all of its messages.
struct OrderedReceiver : Handles<OrderedReceiver, Seq, SenderDone> {
  OrderedReceiver(std::uint32_t senders, std::shared_ptr<MigrationState> state)
      : next_(senders, 0), state_(std::move(state)) {
    report_.sent.assign(senders, 0);
    report_.masks.assign(senders, 0);
  }
  void on(Context&, Seq& m) {
    if (m.n != next_[m.sender]) {
      error(test::cat("sender ", m.sender, ": got ", m.n, ", expected ", next_[m.sender]));
    }
    next_[m.sender] = m.n + 1;
    // release: the sender's acquire load reads it for flow control.
    state_->received[m.sender].store(next_[m.sender], std::memory_order_release);
  }
  void on(Context&, SenderDone& d) {
    if (next_[d.sender] != d.sent) {
      error(test::cat("sender ", d.sender, " finished after ", d.sent, " messages, but ",
                      next_[d.sender], " arrived before its SenderDone"));
    }
    report_.sent[d.sender] = d.sent;
    report_.masks[d.sender] = d.worker_mask;
    if (++done_ == next_.size()) state_->report.set_value(report_);
  }
  void error(std::string what) {
    if (report_.order_errors++ == 0) report_.first_error = std::move(what);
  }
  std::vector<std::uint64_t> next_;
  std::size_t done_ = 0;
  std::shared_ptr<MigrationState> state_;
  MigrationReport report_;
};

/// Sends numbered messages in bursts, one burst per turn, and re-queues
/// itself between the turns of a wave (throughput 1: every turn is a
/// separate run, re-queued behind the other work of its worker, where an
/// idle worker can steal it). Records every worker it ran on; at the end of
/// a wave it stops once it has run on two workers and sent `min_sent`.
struct MigratingSender : Handles<MigratingSender, Wave, Step> {
  static constexpr std::uint64_t burst = 16, window = 512;

  MigratingSender(std::uint32_t id, Pid receiver, std::shared_ptr<MigrationState> state,
                  std::uint64_t min_sent)
      : id_(id), receiver_(std::move(receiver)), state_(std::move(state)), min_sent_(min_sent) {}

  void on(Context& ctx, Wave& w) {
    steps_left_ = w.steps;
    wave_done_ = std::move(w.done);
    take_turn(ctx);
  }
  void on(Context& ctx, Step&) { take_turn(ctx); }

  void take_turn(Context& ctx) {
    const int w = ctx.worker_index();
    if (w >= 0) mask_ |= std::uint64_t{1} << (w % 64);
    // acquire: pairs with the receiver's release store.
    const std::uint64_t seen = state_->received[id_].load(std::memory_order_acquire);
    for (std::uint64_t k = 0; k < burst && sent_ - seen < window; ++k) {
      ctx.send(receiver_, Seq{id_, sent_++});
    }
    if (--steps_left_ > 0) {
      ctx.send(ctx.self(), Step{});
      return;
    }
    const bool migrated = std::popcount(mask_) >= 2;
    if ((migrated && sent_ >= min_sent_) || state_->give_up.load()) {
      ctx.send(receiver_, SenderDone{id_, sent_, mask_});
      state_->finished[id_] = true;  // before `done`: the test reads it after
      ctx.stop();
    }
    wave_done_.set_value();
  }

  std::uint32_t id_;
  Pid receiver_;
  std::shared_ptr<MigrationState> state_;
  std::uint64_t min_sent_, sent_ = 0, mask_ = 0;
  std::uint32_t steps_left_ = 0;
  std::promise<void> wave_done_;
};

/// Load: a short burst of CPU work per Spin, fed in waves from the test
/// thread, so workers keep going busy and idle and steal from each other.
struct Busy : Handles<Busy, Spin> {
  explicit Busy(std::shared_ptr<MigrationState> state) : state_(std::move(state)) {}
  void on(Context& ctx, Spin&) {
    volatile std::uint64_t x = 0;
    for (int i = 0; i < 2000; ++i) x = x + static_cast<std::uint64_t>(i);
    if (int w = ctx.worker_index(); w >= 0)
      state_->load_mask.fetch_or(std::uint64_t{1} << (w % 64));
    state_->spins.fetch_add(1);
  }
  std::shared_ptr<MigrationState> state_;
};

class WorkerMigration : public test::RuntimeTest {};

TEST_P(WorkerMigration, PerSenderFifoHoldsWhileTheSenderMigratesBetweenWorkers) {
  // Work stealing moves a mailbox only to a worker that ran out of work, so
  // the test drives the senders in waves, with load beside them: within and
  // between waves workers go idle, find a sender re-queued in another
  // worker's run queue, and steal it. Waves repeat until every sender has
  // run on two workers; the receiver checks every sequence number.
  const std::uint32_t senders = 2;
  const std::uint32_t steps_per_wave = 64;
  const std::uint64_t min_sent = scaled(50'000, 5'000);
  auto state = std::make_shared<MigrationState>(senders);
  auto system = make_system();
  const auto windows = senders * (MigratingSender::window + MigratingSender::burst + 1);
  Pid receiver =
      system->spawn(Props::of<OrderedReceiver>(senders, state).with_mailbox(mailbox(windows)));
  std::vector<Pid> sender_pids;
  for (std::uint32_t s = 0; s < senders; ++s) {
    sender_pids.push_back(system->spawn(Props::of<MigratingSender>(s, receiver, state, min_sent)
                                            .with_mailbox(mailbox())
                                            .with_throughput(1)));
  }
  std::vector<Pid> load;
  for (unsigned i = 0; i < 2 * GetParam().workers; ++i) load.push_back(spawn<Busy>(*system, state));

  auto report = state->report.get_future();
  const auto end = std::chrono::steady_clock::now() + test::deadline;
  std::uint64_t fed = 0, waves = 0;
  std::string stuck;
  auto run_wave = [&]() -> ::testing::AssertionResult {
    std::vector<std::future<void>> done;
    for (std::uint32_t s = 0; s < senders; ++s) {
      if (state->finished[s].load()) continue;
      std::promise<void> p;
      done.push_back(p.get_future());
      system->send(sender_pids[s], Wave{steps_per_wave, std::move(p)});
    }
    for (const Pid& b : load) system->send(b, Spin{});
    fed += load.size();
    for (auto& d : done) {
      if (auto r = test::ready_within(d, "a sender's wave"); !r) return r;
    }
    ++waves;
    return test::eventually([&] { return state->spins.load() == fed; }, "a wave of load");
  };
  while (report.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() >= end) {
      // No migration within the deadline: one last wave makes the senders
      // stop and report where they ran; the test then fails with that.
      stuck = test::cat("; after ", waves, " waves ",
                        shoal::detail::SystemAccess::scheduler(*system).parked_workers(), " of ",
                        shoal::detail::SystemAccess::scheduler(*system).worker_count(),
                        " workers were parked, and the load had run on worker mask ",
                        state->load_mask.load());
      state->give_up = true;
      ASSERT_TRUE(run_wave());
      break;
    }
    ASSERT_TRUE(run_wave());
  }
  ASSERT_TRUE(test::ready_within(report, "the receiver's report"));
  MigrationReport r = report.get();

  EXPECT_EQ(r.order_errors, 0u) << r.first_error;
  for (std::uint32_t s = 0; s < senders; ++s) {
    EXPECT_GE(std::popcount(r.masks[s]), 2)
        << "sender " << s << " never migrated (worker mask " << r.masks[s] << ") within "
        << test::deadline.count() << " s" << stuck;
    EXPECT_GE(r.sent[s], min_sent) << "sender " << s;
  }
  EXPECT_EQ(system->dead_letters().total(), 0u);
  RecordProperty("waves", static_cast<int>(waves));
}

INSTANTIATE_TEST_SUITE_P(Configs, WorkerMigration,
                         ::testing::ValuesIn(test::threaded_configs({2, 4})), test::config_name);

// -- fairness: the batch bound --------------------------------------------------------------

struct Flood {};
struct Mark {
  std::promise<std::uint64_t> flooded_so_far;
};

struct Flooded : Handles<Flooded, Hold, Flood> {
  Flooded(std::shared_ptr<Probe> probe, std::uint64_t total,
          std::shared_ptr<std::promise<void>> done)
      : probe_(std::move(probe)), total_(total), done_(std::move(done)) {}
  void on(Context&, Hold& h) { h.block(); }
  void on(Context&, Flood&) {
    if (probe_->handled.fetch_add(1) + 1 == total_) done_->set_value();
  }
  std::shared_ptr<Probe> probe_;
  std::uint64_t total_;
  std::shared_ptr<std::promise<void>> done_;
};

struct Bystander : Handles<Bystander, Mark> {
  explicit Bystander(std::shared_ptr<Probe> flooded) : flooded_(std::move(flooded)) {}
  void on(Context&, Mark& m) { m.flooded_so_far.set_value(flooded_->handled.load()); }
  std::shared_ptr<Probe> flooded_;
};

/// 1 and 2 workers × both mailbox kinds, plus the deterministic mode: the
/// suites about what one worker runs next.
std::vector<test::RuntimeConfig> one_and_two_workers() {
  auto configs = test::threaded_configs({1, 2});
  for (const auto& c : test::deterministic_configs()) configs.push_back(c);
  return configs;
}

class WorkerFairness : public test::RuntimeTest {};

TEST_P(WorkerFairness, AFloodedActorDoesNotStarveAnotherOnTheSameWorker) {
  const std::uint64_t n = scaled(1'000'000, 100'000);
  auto flooded_probe = std::make_shared<Probe>();
  auto flood_done = std::make_shared<std::promise<void>>();
  auto all_flooded = flood_done->get_future();
  auto system = make_system();
  Pid flooded =
      system->spawn(Props::of<Flooded>(flooded_probe, n, flood_done).with_mailbox(mailbox(n)));
  Pid bystander = spawn<Bystander>(*system, flooded_probe);

  // The whole flood is queued before the bystander's message is sent.
  Gate gate;
  ASSERT_TRUE(hold(*system, flooded, gate));
  for (std::uint64_t i = 0; i < n; ++i) system->send(flooded, Flood{});
  std::promise<std::uint64_t> p;
  auto mark = p.get_future();
  system->send(bystander, Mark{std::move(p)});
  gate.open();

  ASSERT_TRUE(arrive(*system, mark, "the bystander's message to be handled"));
  const std::uint64_t before = mark.get();
  EXPECT_LT(before, n) << "the bystander waited for the whole flood";
  ASSERT_TRUE(arrive(*system, all_flooded, "the flood to be handled"));
  EXPECT_EQ(flooded_probe->handled.load(), n);
  EXPECT_EQ(system->dead_letters().total(), 0u);
  RecordProperty("flooded_handled_before_bystander", static_cast<int>(before));
}

struct Serve {
  Pid partner;
  Pid bystander;
};
struct SetPartner {
  Pid partner;
};
struct Volley {};
struct Poke {};

/// What the ping-pong pair and the bystander share.
struct RallyState {
  std::atomic<bool> bystander_ran{false};
  std::atomic<std::uint64_t> volleys{0};
  std::promise<std::uint64_t> done;  // volleys played until the bystander ran
};

struct Player : Handles<Player, Serve, SetPartner, Volley> {
  explicit Player(std::shared_ptr<RallyState> state) : state_(std::move(state)) {}
  void on(Context&, SetPartner& s) { partner_ = std::move(s.partner); }
  void on(Context& ctx, Serve& s) {
    partner_ = std::move(s.partner);
    ctx.send(s.bystander, Poke{});  // the bystander becomes runnable first…
    ctx.send(partner_, Volley{});   // …then the partner takes the LIFO slot
  }
  void on(Context& ctx, Volley&) {
    std::uint64_t v = state_->volleys.fetch_add(1) + 1;
    if (state_->bystander_ran.load()) {
      state_->done.set_value(v);  // the rally ends: only one Volley is in flight
      return;
    }
    ctx.send(partner_, Volley{});
  }
  std::shared_ptr<RallyState> state_;
  Pid partner_;
};

/// Marks that it ran: the bystander of the fairness tests (State has
/// `bystander_ran`).
template <class State>
struct Watcher : Handles<Watcher<State>, Poke> {
  explicit Watcher(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void on(Context&, Poke&) { state_->bystander_ran = true; }
  std::shared_ptr<State> state_;
};

TEST_P(WorkerFairness, APingPongPairInTheLifoSlotDoesNotStarveTheRunQueue) {
  // Each volley makes the partner runnable from the worker, so the pair
  // lives in the LIFO slot; the watcher was pushed out of the slot into the
  // run queue. If the slot's streak were unbounded, the rally would never
  // end and the test would time out.
  auto state = std::make_shared<RallyState>();
  auto rally = state->done.get_future();
  auto system = make_system();
  Pid a = spawn<Player>(*system, state);
  Pid b = spawn<Player>(*system, state);
  Pid watcher = spawn<Watcher<RallyState>>(*system, state);
  system->send(b, SetPartner{a});
  system->send(a, Serve{b, watcher});
  ASSERT_TRUE(arrive(*system, rally, "the watcher to run during the rally"));
  EXPECT_GE(rally.get(), 1u);
  EXPECT_TRUE(state->bystander_ran.load());
}

/// A chain that never ends by itself: each link spawns a leaf and the next
/// link, and wakes the link first and the leaf second, so the leaf takes the
/// LIFO slot and the link goes on top of the run queue, and runs next.
/// Below them, the run queue keeps one old entry (the watcher) that new
/// work is always newer than. Links stay alive (a stopping link would stop
/// its children); leaves stop.
struct Grow {};
struct ChainState {
  std::atomic<bool> bystander_ran{false};
  std::atomic<std::uint64_t> links{0};
  std::promise<std::uint64_t> done;  // links made until the bystander ran
};
struct Leaf : Handles<Leaf, Grow> {
  void on(Context& ctx, Grow&) { ctx.stop(); }
};
struct ChainLink : Handles<ChainLink, Grow> {
  explicit ChainLink(std::shared_ptr<ChainState> state) : state_(std::move(state)) {}
  void on(Context& ctx, Grow&) {
    const std::uint64_t n = state_->links.fetch_add(1) + 1;
    if (state_->bystander_ran.load()) {
      state_->done.set_value(n);
    } else {
      Pid next = ctx.spawn<ChainLink>(state_);
      Pid leaf = ctx.spawn<Leaf>();
      ctx.send(next, Grow{});
      ctx.send(leaf, Grow{});
    }
  }
  std::shared_ptr<ChainState> state_;
};
/// Wakes the watcher, then the first link (which pushes the watcher out of
/// the LIFO slot into the run queue, under everything the chain adds).
struct ChainStarter : Handles<ChainStarter, Serve> {
  explicit ChainStarter(std::shared_ptr<ChainState> state) : state_(std::move(state)) {}
  void on(Context& ctx, Serve& s) {
    ctx.send(s.bystander, Poke{});
    ctx.send(ctx.spawn<ChainLink>(state_), Grow{});
  }
  std::shared_ptr<ChainState> state_;
};

TEST_P(WorkerFairness, AStreamOfNewWorkDoesNotStarveTheOldestEntryOfTheRunQueue) {
  // The run queue runs newest first, so only the worker's periodic turn for
  // its oldest entry (or a thief) runs the watcher: without it the chain
  // would never end and the test would time out.
  auto state = std::make_shared<ChainState>();
  auto chain = state->done.get_future();
  auto system = make_system();
  Pid watcher = spawn<Watcher<ChainState>>(*system, state);
  Pid starter = spawn<ChainStarter>(*system, state);
  system->send(starter, Serve{Pid(), watcher});
  ASSERT_TRUE(arrive(*system, chain, "the watcher to run while the chain grows"));
  EXPECT_GE(chain.get(), 1u);
  EXPECT_TRUE(state->bystander_ran.load());
  system->shutdown();  // the chain's links go with the starter, their ancestor
  EXPECT_EQ(system->live_actors(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Configs, WorkerFairness, ::testing::ValuesIn(one_and_two_workers()),
                         test::config_name);

// -- holding a drained mailbox (Worker::after_run) ----------------------------------------------

struct Ball {
  std::uint64_t left;  // volleys still to play; the rally ends at 0
};
struct Extra {};
struct StartRally {
  Pid partner;
  std::uint64_t volleys;  // 0: only learn the partner (it serves)
};

/// What the rally players share with the test thread.
struct HoldState {
  std::atomic<std::uint64_t> extras_a{0}, extras_b{0};
  std::promise<void> rally_over;
};

/// Plays a rally with its partner and counts the extra mail it gets.
struct Rallier : Handles<Rallier, StartRally, Ball, Extra> {
  Rallier(std::shared_ptr<HoldState> state, bool is_a, std::shared_ptr<Probe> probe)
      : state_(std::move(state)), is_a_(is_a), probe_(std::move(probe)) {}
  ~Rallier() override { probe_->on_destroy(); }
  void on(Context& ctx, StartRally& s) {
    partner_ = std::move(s.partner);
    if (s.volleys != 0) ctx.send(partner_, Ball{s.volleys});
  }
  void on(Context& ctx, Ball& b) {
    if (b.left == 0) {
      state_->rally_over.set_value();
      return;
    }
    ctx.send(partner_, Ball{b.left - 1});
  }
  void on(Context&, Extra&) { (is_a_ ? state_->extras_a : state_->extras_b).fetch_add(1); }
  std::shared_ptr<HoldState> state_;
  bool is_a_;
  std::shared_ptr<Probe> probe_;
  Pid partner_;
};

class WorkerHolding : public test::RuntimeTest {};

std::uint64_t held_reruns(const ActorSystem& system) {
  std::uint64_t n = 0;
  for (const WorkerStats& w : system.stats().workers) n += w.held_reruns;
  return n;
}

TEST_P(WorkerHolding, MailFromOtherThreadsReachesAPairThatKeepsEachOtherHeld) {
  // A and B rally on one worker: each run sends the ball to the other, which
  // goes to the LIFO slot, so the worker holds the one that just ran, and a
  // push to it notifies nobody. Two outside threads send Extra to both all
  // along: each must be handled exactly once, none may wait forever behind
  // a hold (extras may still be queued when the rally ends: the last hold is
  // settled when the worker runs out of work).
  const std::uint64_t volleys = scaled(200'000, 20'000);
  const std::uint64_t extras = scaled(20'000, 2'000);  // per thread and target
  auto state = std::make_shared<HoldState>();
  auto probe = std::make_shared<Probe>();
  auto rally = state->rally_over.get_future();
  auto system = make_system();
  // Room for every extra: a bounded mailbox must not drop any here.
  const MailboxConfig room = mailbox(2 * extras + 16);
  Pid a = system->spawn(Props::of<Rallier>(state, true, probe).with_mailbox(room));
  Pid b = system->spawn(Props::of<Rallier>(state, false, probe).with_mailbox(room));
  system->send(b, StartRally{a, 0});
  system->send(a, StartRally{b, volleys});
  std::vector<std::thread> senders;
  if (!deterministic()) {
    for (int t = 0; t < 2; ++t) {
      senders.emplace_back([&] {
        for (std::uint64_t i = 0; i < extras; ++i) {
          system->send(a, Extra{});
          system->send(b, Extra{});
        }
      });
    }
  } else {
    for (std::uint64_t i = 0; i < 2 * extras; ++i) {
      system->send(a, Extra{});
      system->send(b, Extra{});
    }
  }
  for (auto& t : senders) t.join();
  ASSERT_TRUE(arrive(*system, rally, "the rally to end"));
  ASSERT_TRUE(settle(
      *system,
      [&] { return state->extras_a.load() == 2 * extras && state->extras_b.load() == 2 * extras; },
      "every extra message to be handled"))
      << state->extras_a.load() << " and " << state->extras_b.load() << " of " << 2 * extras;
  EXPECT_EQ(system->dead_letters().total(), 0u);
  if (!deterministic()) {
    // The rally went through holds (the deterministic mode never holds).
    EXPECT_GT(held_reruns(*system), 0u) << "no held mailbox ran again: the rally never held one";
  }
}

TEST_P(WorkerHolding, AStopFromAnotherThreadReachesAHeldActor) {
  // An endless rally: every run of A or B ends held or holds the other. A
  // stop request from the test thread notifies nobody (the word is not 0),
  // so only the holder's look at the mailbox can take it. A dies; the ball
  // becomes exactly one dead letter (queued at A's death, or sent to A after).
  auto state = std::make_shared<HoldState>();
  auto probe_a = std::make_shared<Probe>();
  auto probe_b = std::make_shared<Probe>();
  auto system = make_system();
  Pid a = spawn<Rallier>(*system, state, true, probe_a);
  Pid b = spawn<Rallier>(*system, state, false, probe_b);
  system->send(b, StartRally{a, 0});
  system->send(a, StartRally{b, UINT64_MAX});
  if (!deterministic()) {
    ASSERT_TRUE(test::eventually([&] { return held_reruns(*system) > 1000; }, "the rally to hold"));
  } else {
    system->run_until_idle(1000);
  }
  system->stop(a);
  ASSERT_TRUE(settle(
      *system, [&] { return probe_a->destroyed.load() == 1; }, "the held actor to stop"));
  ASSERT_TRUE(settle(
      *system, [&] { return system->dead_letters().total() == 1; }, "the ball's dead letter"));
  EXPECT_EQ(probe_b->destroyed.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Configs, WorkerHolding, ::testing::ValuesIn(one_and_two_workers()),
                         test::config_name);

// -- spilling: more runnable mailboxes than the run queue holds ---------------------------------

struct Work {};
struct FanOut {
  std::vector<Pid> targets;
};

struct Counter : Handles<Counter, Work> {
  explicit Counter(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {}
  void on(Context&, Work&) { probe_->handled.fetch_add(1); }
  std::shared_ptr<Probe> probe_;
};

struct Fanner : Handles<Fanner, FanOut> {
  void on(Context& ctx, FanOut& f) {
    for (const Pid& t : f.targets) ctx.send(t, Work{});
  }
};

class WorkerQueues : public test::RuntimeTest {};

TEST_P(WorkerQueues, AFanOutWiderThanTheRunQueueSpillsAndRunsEverything) {
  // One handler makes 4 × the run queue's capacity of mailboxes runnable on
  // its worker: each new one takes the LIFO slot and pushes the previous one
  // into the run queue, which overflows into the global queue.
  const std::size_t targets = 4 * RunQueue<ActorCell>::capacity;
  auto probe = std::make_shared<Probe>();
  auto system = make_system();
  std::vector<Pid> pids;
  for (std::size_t i = 0; i < targets; ++i) pids.push_back(spawn<Counter>(*system, probe));
  Pid fanner = spawn<Fanner>(*system);
  const int rounds = 5;
  for (int round = 1; round <= rounds; ++round) {
    system->send(fanner, FanOut{pids});
    ASSERT_TRUE(settle(
        *system, [&] { return probe->handled.load() == round * targets; },
        test::cat("round ", round, " of the fan-out to be handled")))
        << probe->handled.load() << " handled";
  }
  EXPECT_EQ(system->dead_letters().total(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Configs, WorkerQueues, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);

}  // namespace
}  // namespace shoal::detail
