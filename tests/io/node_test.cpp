// Two nodes in one process on 127.0.0.1: send, request, watch across
// nodes; per-sender order with many migrating senders; exact counts; and
// the faults a peer can cause (garbage, wrong version, oversized and
// truncated frames, unknown types, a node that goes away).
#include "shoal/node.hpp"
#include "core/detail/system_access.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/trace_flows.hpp"
#include "tests/core/test_support.hpp"
#include "tests/io/io_kit.hpp"

namespace shoal::io::test {
namespace {

/// How the nodes of one run of the suite are set up.
struct Shape {
  unsigned io_threads;
  EventPortKind port;
  bool tls = false;  ///< every node shares a secret and encrypts (NodeConfig::tls)
};

/// The secret of the TLS shapes' nodes.
const std::string cluster_secret = "0123456789abcdef-the-test-cluster";

/// Runs every case with one io thread per node and with two (where an
/// accepted connection is handed over to its peer's io thread), each over
/// io_uring and over epoll: the node's semantics must not depend on the
/// port.
class TwoNodes : public ::testing::TestWithParam<Shape> {
 protected:
  /// A node configuration with this run's io threads and port.
  NodeConfig config() const {
    NodeConfig c;
    c.io_threads = GetParam().io_threads;
    c.event_port = GetParam().port;
    if (GetParam().tls) {
      c.secret = cluster_secret;
      c.tls = true;
    }
    return c;
  }
  void SetUp() override {
    if (GetParam().port == EventPortKind::io_uring) SHOAL_IO_REQUIRE_URING();
    register_io_types(types);
    a_sys.emplace(SystemConfig{.scheduler = {.workers = 2}});
    b_sys.emplace(SystemConfig{.scheduler = {.workers = 2}});
    NodeConfig quiet = config();
    quiet.on_error = [this](std::string_view e) {
      std::lock_guard lock(log_mu);
      log.emplace_back(e);
    };
    a.emplace(*a_sys, types, quiet);
    b.emplace(*b_sys, types, quiet);
  }
  void TearDown() override {
    a.reset();
    b.reset();
    a_sys.reset();
    b_sys.reset();
  }
  bool logged(std::string_view part) {
    std::lock_guard lock(log_mu);
    for (auto& l : log) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

  /// b's "echo", watched from a by a Watcher counting into `terminated`:
  /// its remote Pid once the watch is in place (a request queued behind
  /// the watch has been answered, so the echo has seen one Ping).
  void watched_echo(Pid& remote, std::shared_ptr<Counter>& echo_seen,
                    std::shared_ptr<Counter>& terminated);

  /// The id-based Pid by which a knows `unnamed`, an unnamed actor on b:
  /// learnt as the sender of a request it makes to a's "keeper".
  Pid as_seen_from_a(const Pid& unnamed) {
    struct Keeper : Handles<Keeper, Ping> {
      explicit Keeper(std::promise<Pid>* got) : got(got) {}
      void on(Context& ctx, Ping&) { got->set_value(ctx.sender()); }
      std::promise<Pid>* got;
    };
    std::promise<Pid> got;
    auto learnt = got.get_future();
    EXPECT_TRUE(a_sys->spawn_named(Props::of<Keeper>(&got), "keeper"));
    b_sys->request(b->pid(a->address(), "keeper"), Ping{1}, unnamed);
    if (learnt.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "a never heard from the unnamed actor";
      return {};
    }
    Pid seen = learnt.get();
    EXPECT_NE(seen.id(), 0u) << "an unnamed actor travels by id";
    return seen;
  }

  wire::TypeRegistry types;
  std::optional<ActorSystem> a_sys, b_sys;
  std::optional<Node> a, b;
  std::mutex log_mu;
  std::vector<std::string> log;
};

TEST_P(TwoNodes, AMessageReachesANamedActorOnTheOtherNode) {
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  Pid echo = a->pid(b->address(), "echo");
  ASSERT_FALSE(echo.empty());
  EXPECT_EQ(echo, a->pid(b->address(), "echo")) << "one proxy per remote actor";
  for (int i = 0; i < 1000; ++i) a_sys->send(echo, Ping{std::uint64_t(i)});
  ASSERT_TRUE(seen->wait_for(1000)) << "got " << seen->get() << " of 1000";
  // Counted on the io thread before it hands the messages over.
  EXPECT_EQ(b->stats().messages_received, 1000u);
  EXPECT_EQ(a->stats().messages_sent, 1000u);
  EXPECT_EQ(b->stats().sequence_gaps, 0u);
  EXPECT_EQ(b->stats().duplicates_dropped, 0u);
  EXPECT_EQ(a->stats().connections_opened, 1u);
  EXPECT_EQ(b->stats().connections_opened, 1u) << "one connection per pair of nodes";
  // b accepted on its last io thread; a's endpoint there lives on its first.
  EXPECT_EQ(b->stats().handovers, GetParam().io_threads > 1 ? 1u : 0u);
  EXPECT_EQ(a->stats().handovers, 0u) << "a dialed from its endpoint's own thread";
}

TEST_P(TwoNodes, ARequestFutureGetsItsAnswerFromTheOtherNode) {
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  Pid echo = a->pid(b->address(), "echo");
  for (std::uint64_t i = 0; i < 100; ++i) {
    auto f = a_sys->request_future<Ping>(echo, Ping{i}, 30s);
    auto r = f.result();
    ASSERT_TRUE(r.ok()) << r.what();
    EXPECT_EQ(r.value().count, i + 1);
  }
}

/// Requests `rounds` answers from b's echo, each after b's workers have all
/// parked; returns the mailbox runs b's io threads made (stats().guests).
std::uint64_t guest_runs_for_requests(ActorSystem& a_sys, ActorSystem& b_sys, const Pid& echo,
                                      int rounds) {
  for (int i = 0; i < rounds; ++i) {
    EXPECT_TRUE(shoal::test::eventually(
        [&] {
          return shoal::detail::SystemAccess::scheduler(b_sys).parked_workers() ==
                 shoal::detail::SystemAccess::scheduler(b_sys).worker_count();
        },
        "b's workers to park"));
    auto r = a_sys.request_future<Ping>(echo, Ping{std::uint64_t(i)}, 30s).result();
    EXPECT_TRUE(r.ok()) << r.what();
  }
  std::uint64_t runs = 0;
  for (const WorkerStats& g : b_sys.stats().guests) runs += g.runs;
  return runs;
}

TEST_P(TwoNodes, WhileEveryWorkerSleepsTheIoThreadRunsTheActorItWokeItself) {
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  Pid echo = a->pid(b->address(), "echo");
  ASSERT_TRUE(a_sys->request_future<Ping>(echo, Ping{0}, 30s).result().ok());  // connected
  const std::uint64_t before = guest_runs_for_requests(*a_sys, *b_sys, echo, 0);
  const std::uint64_t after = guest_runs_for_requests(*a_sys, *b_sys, echo, 5);
  EXPECT_GE(after - before, 5u)
      << "each request found b's workers asleep: its io thread ran the echo instead of waking one";
  EXPECT_EQ(b_sys->stats().guests.size(), GetParam().io_threads)
      << "one guest runner per io thread";
  EXPECT_EQ(seen->get(), 6u);
}

TEST_P(TwoNodes, TheFlightRecorderShowsTheIoThreadsFramesAndTheRunsItHosts) {
  auto seen = std::make_shared<Counter>();
  const SpawnResult spawned = b_sys->spawn_named(Props::of<Echo>(seen), "echo");
  ASSERT_TRUE(spawned);
  const std::uint64_t echo_id = spawned.pid.id();
  Pid echo = a->pid(b->address(), "echo");
  ASSERT_TRUE(a_sys->request_future<Ping>(echo, Ping{0}, 30s).result().ok());  // connected
  a_sys->start_trace();
  b_sys->start_trace();  // after the nodes started: their io threads' lanes get rings now
  guest_runs_for_requests(*a_sys, *b_sys, echo, 5);

  // What b's io lanes hold. (A frame's event is pushed just after its
  // messages are delivered, so the last one may still be coming.)
  struct Seen {
    std::uint64_t frames_in = 0, messages_in = 0, writes_out = 0, guest_echo_runs = 0;
    std::uint64_t arrows = 0, peers_wrong = 0;
  };
  const auto look_at_b = [&] {
    const Trace t = b_sys->trace();
    EXPECT_EQ(t.worker_lanes(), shoal::detail::SystemAccess::scheduler(*b_sys).worker_count());
    EXPECT_EQ(t.guest_names.size(), GetParam().io_threads) << "one lane per io thread";
    if (t.lanes.size() > t.worker_lanes()) {
      EXPECT_EQ(t.lane_name(t.worker_lanes()), "io 0");
    }
    Seen s;
    for (std::size_t lane = t.worker_lanes(); lane < t.lanes.size(); ++lane) {
      for (const TraceEvent& e : t.lanes[lane]) {
        if (e.kind == TraceKind::remote_in) {
          ++s.frames_in;
          s.messages_in += e.b;
          s.peers_wrong += e.a != a->incarnation();
        }
        if (e.kind == TraceKind::remote_out) {
          ++s.writes_out;
          s.peers_wrong += e.a != a->incarnation() || e.c == 0;
        }
        s.guest_echo_runs += e.kind == TraceKind::run && e.a == echo_id;
      }
    }
    for (const MatchedFlow& f : match_flows(t)) {
      s.arrows += f.from_worker >= t.worker_lanes() && f.from_actor == 0 && f.to_actor == echo_id;
    }
    return s;
  };
  Seen s;
  EXPECT_TRUE(shoal::test::eventually(
      [&] {
        s = look_at_b();
        return s.messages_in >= 5 && s.writes_out >= 5 && s.arrows >= 5;
      },
      "b's trace to show the five requests"));
  EXPECT_GE(s.messages_in, 5u) << "five requests arrived in " << s.frames_in << " frames";
  EXPECT_GE(s.writes_out, 5u) << "five answers went out";
  EXPECT_EQ(s.peers_wrong, 0u)
      << "every frame event names a's incarnation (and writes their bytes)";
  EXPECT_GE(s.guest_echo_runs, 5u) << "the echo ran on the io thread while b's workers slept";
  EXPECT_GE(s.arrows, 5u) << "each request is an arrow from its frame to the echo's run";

  std::uint64_t a_out = 0, a_in = 0;
  EXPECT_TRUE(shoal::test::eventually(
      [&] {
        const Trace ta = a_sys->trace();
        a_out = a_in = 0;
        for (std::size_t lane = ta.worker_lanes(); lane < ta.lanes.size(); ++lane) {
          for (const TraceEvent& e : ta.lanes[lane]) {
            a_out += e.kind == TraceKind::remote_out ? e.b : 0;
            a_in += e.kind == TraceKind::remote_in ? e.b : 0;
          }
        }
        return a_out >= 5 && a_in >= 5;
      },
      "a's trace to show the requests and answers"));
  EXPECT_GE(a_out, 5u) << "a wrote the requests";
  EXPECT_GE(a_in, 5u) << "and received the answers";
}

TEST_P(TwoNodes, WithRunActorsOffTheWorkersRunEverything) {
  b.reset();
  NodeConfig c = config();
  c.run_actors = false;
  b.emplace(*b_sys, types, c);
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  Pid echo = a->pid(b->address(), "echo");
  EXPECT_EQ(guest_runs_for_requests(*a_sys, *b_sys, echo, 5), 0u);
  EXPECT_EQ(seen->get(), 5u);
}

TEST_P(TwoNodes, ManyMigratingSendersKeepTheirOrderAndNothingIsLostOrDoubled) {
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Collector>(seen), "collector"));
  Pid collector = a->pid(b->address(), "collector");
  constexpr std::uint32_t senders = 16;
  constexpr std::uint64_t burst = 100, bursts_per_wave = 10;
  constexpr std::uint64_t per_wave = burst * bursts_per_wave;  // per sender
  constexpr std::uint64_t min_each = 5000;
  constexpr unsigned max_waves = 500;
  struct Burst {
    std::uint64_t from_seq;
    std::uint64_t left;  // bursts left in this wave
  };
  // What the senders share with the test thread.
  struct Shared {
    std::array<std::atomic<std::uint64_t>, senders> masks{};  // workers each sender ran on
    std::atomic<std::uint64_t> waves_done{0};                 // over all senders
  };
  // Each sender sends its messages in bursts of 100, one burst per run
  // (throughput 1), sending itself the next Burst: every run re-queues it
  // behind the other senders on its worker. It records the workers it ran
  // on. Work moves only to a worker that ran out of work, and two busy
  // workers steal nothing, so the senders go in waves fed from the test
  // thread (the workers idle between them; each wave starts from the
  // global queue), as core's FIFO test does, until some sender has run on
  // two workers.
  struct Sender : Handles<Sender, Burst> {
    Sender(std::uint32_t id, Pid to, std::shared_ptr<Shared> shared)
        : id(id), to(std::move(to)), shared(std::move(shared)) {}
    void on(Context& ctx, Burst& b) {
      if (int w = ctx.worker_index(); w >= 0) {
        // relaxed: only a record; the test reads it after `waves_done`
        // (whose release/acquire pair orders it).
        shared->masks[id].fetch_or(std::uint64_t{1} << (w % 64), std::memory_order_relaxed);
      }
      for (std::uint64_t s = b.from_seq; s < b.from_seq + burst; ++s) ctx.send(to, Tagged{id, s});
      if (b.left > 1) {
        ctx.send(ctx.self(), Burst{b.from_seq + burst, b.left - 1});
      } else {
        shared->waves_done.fetch_add(1, std::memory_order_release);  // pairs: the test's acquire
      }
    }
    std::uint32_t id;
    Pid to;
    std::shared_ptr<Shared> shared;
  };
  auto shared = std::make_shared<Shared>();
  std::vector<Pid> pids;
  for (std::uint32_t i = 0; i < senders; ++i) {
    pids.push_back(a_sys->spawn(Props::of<Sender>(i, collector, shared).with_throughput(1)));
  }
  auto migrated = [&] {
    unsigned n = 0;
    for (auto& m : shared->masks) {
      n += std::popcount(m.load(std::memory_order_relaxed)) >= 2 ? 1 : 0;  // relaxed: see Sender
    }
    return n;
  };
  std::uint64_t total = 0;
  unsigned waves = 0;
  while (waves < max_waves && (total < senders * min_each || migrated() == 0)) {
    for (auto& p : pids) a_sys->send(p, Burst{waves * per_wave, bursts_per_wave});
    ++waves;
    total += senders * per_wave;
    ASSERT_TRUE(shoal::test::eventually(
        [&] { return shared->waves_done.load(std::memory_order_acquire) == waves * senders; },
        "every sender to finish its wave"));
    // Drained before the next wave: what is in flight stays far below the
    // endpoint's byte bound (a full queue would drop, by design).
    ASSERT_TRUE(seen->wait_for(total, 60s)) << "got " << seen->get() << " of " << total;
  }
  std::lock_guard lock(seen->mu);
  EXPECT_TRUE(seen->errors.empty()) << seen->errors.front();
  EXPECT_EQ(seen->n, total);
  // The order held while senders moved between workers: some did.
  EXPECT_GE(migrated(), 1u) << "no sender ran on two workers in " << waves << " waves";
  RecordProperty("senders_that_migrated", static_cast<int>(migrated()));
  RecordProperty("waves", static_cast<int>(waves));
  EXPECT_EQ(b->stats().messages_received, total);
  EXPECT_EQ(b->stats().duplicates_dropped, 0u);
  EXPECT_EQ(b->stats().sequence_gaps, 0u);
}

/// Requests through an actor: the answer comes back to the asking actor.
struct Asker : Handles<Asker, Ping, Note> {
  Asker(Pid target, std::shared_ptr<Counter> answers)
      : target(std::move(target)), answers(std::move(answers)) {}
  void on(Context& ctx, Note&) { ctx.request(target, Ping{41}); }
  void on(Context& ctx, Ping& p) {
    if (p.count == 42 && ctx.sender() == target) {
      answers->add();
    } else {
      answers->error("answer " + std::to_string(p.count));
    }
  }
  Pid target;
  std::shared_ptr<Counter> answers;
};

TEST_P(TwoNodes, AnActorsRequestIsAnsweredToThatActorAcrossNodes) {
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  auto answers = std::make_shared<Counter>();
  Pid asker = a_sys->spawn<Asker>(a->pid(b->address(), "echo"), answers);
  for (int i = 0; i < 10; ++i) a_sys->send(asker, Note{});
  ASSERT_TRUE(answers->wait_for(10)) << answers->get();
  std::lock_guard lock(answers->mu);
  EXPECT_TRUE(answers->errors.empty());
}

struct WatchIt {
  Pid who;
};
/// Watches on request; records each Terminated's reason (and that `who`
/// is the Pid it watched).
struct Watcher : Handles<Watcher, WatchIt, Terminated> {
  explicit Watcher(std::shared_ptr<Counter> seen) : seen(std::move(seen)) {}
  void on(Context& ctx, WatchIt& w) {
    watched = w.who;
    ctx.watch(w.who);
    seen->add(0);
  }
  void on(Context&, Terminated& t) {
    if (!(t.who == watched)) seen->error("Terminated for another Pid");
    reasons.push_back(t.why);
    last = t.why;
    seen->add();
  }
  Pid watched;
  std::vector<TerminatedReason> reasons;
  std::atomic<TerminatedReason> last{TerminatedReason::stopped};
  std::shared_ptr<Counter> seen;
};

void TwoNodes::watched_echo(Pid& remote, std::shared_ptr<Counter>& echo_seen,
                            std::shared_ptr<Counter>& terminated) {
  echo_seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(echo_seen), "echo"));
  remote = a->pid(b->address(), "echo");
  terminated = std::make_shared<Counter>();
  a_sys->send(a_sys->spawn<Watcher>(terminated), WatchIt{remote});
  ASSERT_TRUE(a_sys->request_future<Ping>(remote, Ping{1}, 30s).result().ok());
}

TEST_P(TwoNodes, AWatcherHearsThatARemoteActorStopped) {
  auto echo_seen = std::make_shared<Counter>();
  auto r = b_sys->spawn_named(Props::of<Echo>(echo_seen), "echo");
  ASSERT_TRUE(r);
  auto seen = std::make_shared<Counter>();
  Pid remote = a->pid(b->address(), "echo");
  Pid watcher = a_sys->spawn<Watcher>(seen);
  a_sys->send(watcher, WatchIt{remote});
  // Make sure the watch arrived before the stop: a request after it on the
  // same connection is answered after the watch was handled.
  ASSERT_TRUE(a_sys->request_future<Ping>(remote, Ping{1}, 30s).result().ok());
  b_sys->stop(r.pid);
  ASSERT_TRUE(seen->wait_for(1)) << "no Terminated";
  std::lock_guard lock(seen->mu);
  EXPECT_TRUE(seen->errors.empty()) << seen->errors.front();
}

TEST_P(TwoNodes, WatchingAnActorThatDoesNotExistSaysNotFound) {
  auto seen = std::make_shared<Counter>();
  Pid watcher = a_sys->spawn<Watcher>(seen);
  a_sys->send(watcher, WatchIt{a->pid(b->address(), "nobody")});
  ASSERT_TRUE(seen->wait_for(1)) << "no Terminated";
  std::lock_guard lock(seen->mu);
  EXPECT_TRUE(seen->errors.empty()) << seen->errors.front();
}

TEST_P(TwoNodes, WhenThePeerGoesAwayWatchersFuturesAndQueuedMessagesAreToldAndCounted) {
  struct Sink : Handles<Sink, Note> {
    explicit Sink(std::shared_ptr<Counter> got) : got(std::move(got)) {}
    void on(Context&, Note&) { got->add(); }  // never answers
    std::shared_ptr<Counter> got;
  };
  auto arrived = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Sink>(arrived), "sink"));
  auto seen = std::make_shared<Counter>();
  Pid remote = a->pid(b->address(), "sink");
  Pid watcher = a_sys->spawn<Watcher>(seen);
  a_sys->send(watcher, WatchIt{remote});
  auto pending = a_sys->request_future<Ping>(remote, Note{}, 60s);
  ASSERT_TRUE(arrived->wait_for(1)) << "the request never reached the sink";
  b.reset();  // the peer node goes away (a Disconnect, then the socket closes)
  auto r = pending.result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::delivery_failed) << r.what();
  ASSERT_TRUE(seen->wait_for(1)) << "no Terminated";
  {
    std::lock_guard lock(seen->mu);
    EXPECT_TRUE(seen->errors.empty());
  }
  EXPECT_GE(a->stats().futures_failed, 1u);
  // An orderly goodbye is counted, not reported as an error.
  ASSERT_TRUE(shoal::test::eventually([&] { return a->stats().connections_closed >= 1; },
                                      "a to count the closed connection"));
  EXPECT_FALSE(logged("closed")) << "a reported b's orderly shutdown as an error";
}

TEST_P(TwoNodes, ATypeThePeerDoesNotKnowIsADeadLetterThereAndNothingElseSuffers) {
  // Node c knows one more type than b.
  wire::TypeRegistry more;
  register_io_types(more);
  struct Extra {
    std::uint64_t x;
  };
  more.add<Extra, wire::test::msg::Ping>(
      "test.Extra", [](const Extra& e, wire::test::msg::Ping::Builder b) { b.setCount(e.x); },
      [](wire::test::msg::Ping::Reader r) { return Extra{r.getCount()}; });
  ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 1}});
  Node c(c_sys, more, config());
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  Pid echo = c.pid(b->address(), "echo");
  c_sys.send(echo, Ping{1});
  c_sys.send(echo, Extra{2});
  c_sys.send(echo, Ping{3});
  ASSERT_TRUE(seen->wait_for(2));
  // Rejected while its batch decoded, before Ping{3} was handed over.
  EXPECT_EQ(b_sys->dead_letters().count(DeadLetterReason::unknown_type), 1u);
  // A request of that type fails at once: the peer says it cannot decode it.
  auto f = c_sys.request_future<Ping>(echo, Extra{4}, 600s);
  auto r = f.result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::dead_letter) << r.what();
  EXPECT_EQ(r.reason(), DeadLetterReason::unknown_type);
  EXPECT_EQ(b->stats().rejected_inbound, 2u);
  EXPECT_EQ(b->stats().protocol_errors, 0u) << "an unknown type is not the connection's fault";
  // A type the sender itself cannot encode never leaves it.
  struct Local {};
  c_sys.send(echo, Local{});
  // A request queued behind it is answered only after the queue got past it.
  ASSERT_TRUE(c_sys.request_future<Ping>(echo, Ping{5}, 30s).result().ok());
  EXPECT_EQ(c_sys.dead_letters().count(DeadLetterReason::not_serializable), 1u);
}

TEST_P(TwoNodes, ARequestToAnActorThatIsNotThereFailsAtOnceNotAtItsTimeout) {
  auto f = a_sys->request_future<Ping>(a->pid(b->address(), "nobody"), Ping{1}, 600s);
  auto r = f.result();  // a 10-minute timeout: only the Undeliverable ends this early
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::dead_letter) << r.what();
  EXPECT_EQ(r.reason(), DeadLetterReason::target_stopped);
  // b counted it before it sent the Undeliverable that failed the future.
  EXPECT_EQ(b_sys->dead_letters().count(DeadLetterReason::target_stopped), 1u);
}

/// Records DeadLetterResponses (an undeliverable request comes back so).
struct Bounced : Handles<Bounced, Note, DeadLetterResponse> {
  Bounced(Pid target, std::shared_ptr<Counter> seen)
      : target(std::move(target)), seen(std::move(seen)) {}
  void on(Context& ctx, Note&) { ctx.request(target, Ping{1}); }
  void on(Context&, DeadLetterResponse& d) {
    if (d.reason != DeadLetterReason::target_stopped || d.type_name.find("Ping") == std::string_view::npos) {
      seen->error("unexpected DeadLetterResponse");
    }
    seen->add();
  }
  Pid target;
  std::shared_ptr<Counter> seen;
};

TEST_P(TwoNodes, AnActorsRequestToAnActorThatIsNotThereComesBackAsADeadLetterResponse) {
  auto seen = std::make_shared<Counter>();
  Pid asker = a_sys->spawn<Bounced>(a->pid(b->address(), "nobody"), seen);
  a_sys->send(asker, Note{});
  ASSERT_TRUE(seen->wait_for(1));
  std::lock_guard lock(seen->mu);
  EXPECT_TRUE(seen->errors.empty());
}

TEST_P(TwoNodes, ARequestTheRemoteActorDoesNotHandleFailsAtOnceForAFutureAndAnActor) {
  // Delivered to b's echo, which has no handler for Note: a dead letter
  // there (unhandled), and the asker on a hears it at once.
  auto echo_seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(echo_seen), "echo"));
  Pid echo = a->pid(b->address(), "echo");
  auto f = a_sys->request_future<Ping>(echo, Note{"?", {}}, 30s);  // fails long before
  auto r = f.result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::dead_letter) << r.what();
  EXPECT_EQ(r.reason(), DeadLetterReason::unhandled);
  EXPECT_EQ(b_sys->dead_letters().count(DeadLetterReason::unhandled), 1u);

  struct AsksNote : Handles<AsksNote, Ping, DeadLetterResponse> {
    AsksNote(Pid target, std::shared_ptr<Counter> seen)
        : target(std::move(target)), seen(std::move(seen)) {}
    void on(Context& ctx, Ping&) { ctx.request(target, Note{"?", {}}); }
    void on(Context&, DeadLetterResponse& d) {
      // The type comes back under its wire name, mapped to this node's.
      if (d.reason != DeadLetterReason::unhandled ||
          d.type_name.find("Note") == std::string_view::npos) {
        seen->error("unexpected DeadLetterResponse: " + std::string(d.type_name));
      }
      seen->add();
    }
    Pid target;
    std::shared_ptr<Counter> seen;
  };
  auto seen = std::make_shared<Counter>();
  Pid asker = a_sys->spawn<AsksNote>(echo, seen);
  a_sys->send(asker, Ping{0});
  ASSERT_TRUE(seen->wait_for(1)) << "no DeadLetterResponse";
  std::lock_guard lock(seen->mu);
  EXPECT_TRUE(seen->errors.empty()) << seen->errors.front();
}

TEST_P(TwoNodes, APoisonPillStopsARemoteActorAfterWhatWasQueuedBeforeIt) {
  Pid remote;
  std::shared_ptr<Counter> echo_seen, seen;
  ASSERT_NO_FATAL_FAILURE(watched_echo(remote, echo_seen, seen));
  for (int i = 0; i < 100; ++i) a_sys->send(remote, Ping{2});
  a_sys->poison(remote);
  ASSERT_TRUE(seen->wait_for(1)) << "no Terminated";
  EXPECT_EQ(echo_seen->get(), 101u) << "the pill came before messages sent ahead of it";
  EXPECT_EQ(a_sys->dead_letters().count(DeadLetterReason::not_serializable), 0u);
}

TEST_P(TwoNodes, StoppingARemotePidStopsTheActorOnItsNode) {
  Pid remote;
  std::shared_ptr<Counter> echo_seen, seen;
  ASSERT_NO_FATAL_FAILURE(watched_echo(remote, echo_seen, seen));
  a_sys->stop(remote);
  ASSERT_TRUE(seen->wait_for(1)) << "no Terminated";
  // Its name is released before its watchers are told.
  EXPECT_TRUE(b_sys->lookup("echo").empty());
}

TEST_P(TwoNodes, AStreamFromThePeerToAStoppedActorIsRefusedThereAndTheActorDies) {
  // A batch from the peer is one chain per target (ActorSystem::deliver_chain):
  // after a stop it must be refused message by message like a local send,
  // else a peer that keeps streaming keeps the stopped actor's drain going.
  // By id (an unnamed actor): a name stops resolving as the actor stops.
  auto seen = std::make_shared<Counter>();
  Pid local = b_sys->spawn<Echo>(seen);
  Pid remote = as_seen_from_a(local);
  ASSERT_FALSE(remote.empty());
  const std::uint64_t live = b_sys->live_actors();

  std::atomic<bool> go{true};
  std::vector<std::thread> flood;
  for (int t = 0; t < 2; ++t) {
    flood.emplace_back([&] {
      // relaxed: a stop signal, no data.
      while (go.load(std::memory_order_relaxed)) a_sys->send(remote, Ping{0});
    });
  }
  struct Join {
    std::atomic<bool>& go;
    std::vector<std::thread>& threads;
    ~Join() {
      go.store(false, std::memory_order_relaxed);  // relaxed: pairs with the loads above
      for (auto& t : threads) t.join();
    }
  } join{go, flood};
  ASSERT_TRUE(seen->wait_for(10'000)) << "the stream did not start: " << seen->get();
  auto stopped = b_sys->stop_future(local, 60s).result();
  ASSERT_TRUE(stopped.ok()) << stopped.what();
  EXPECT_TRUE(shoal::test::eventually([&] { return b_sys->live_actors() == live - 1; },
                                      "the stopped actor to leave b's live table"));
  const auto refused = b_sys->dead_letters().count(DeadLetterReason::target_stopped);
  EXPECT_TRUE(shoal::test::eventually(
      [&] {
        return b_sys->dead_letters().count(DeadLetterReason::target_stopped) > refused + 1000;
      },
      "what the peer still streams to be refused at b as target_stopped"));
}

TEST_P(TwoNodes, AnActorIdFromAGoneIncarnationNeverReachesTheNewOne) {
  // a learns an id-based Pid for an unnamed actor on b (the sender of a
  // request), then b's node restarts at the same address.
  auto unused = std::make_shared<Counter>();
  Pid unnamed = b_sys->spawn<Echo>(unused);
  Pid stale = as_seen_from_a(unnamed);
  ASSERT_FALSE(stale.empty());

  std::string address = b->address();
  const std::uint64_t closed = a->stats().connections_closed;
  b.reset();
  b_sys.reset();
  // Sent before a has read the old node's goodbye, the stale message would
  // go into the old socket: sent as far as a can tell, and lost (at most
  // once, nothing to count). This test is about what comes after that.
  ASSERT_TRUE(shoal::test::eventually([&] { return a->stats().connections_closed > closed; },
                                      "a to see the old b go"));
  b_sys.emplace(SystemConfig{.scheduler = {.workers = 1}});
  NodeConfig again = config();
  again.listen = address;
  again.on_error = [](std::string_view) {};
  b.emplace(*b_sys, types, again);
  auto before = a_sys->dead_letters().count(DeadLetterReason::connection_lost);
  a_sys->send(stale, Ping{2});
  // A request by name after it goes through the same queue: once it is
  // answered, the stale send has been dealt with.
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  ASSERT_TRUE(a_sys->request_future<Ping>(a->pid(address, "echo"), Ping{3}, 30s).result().ok());
  EXPECT_EQ(a_sys->dead_letters().count(DeadLetterReason::connection_lost), before + 1);
  EXPECT_EQ(b->stats().rejected_inbound, 0u) << "the stale message reached the new incarnation";
  EXPECT_EQ(b->stats().messages_received, 1u);
}

// -- a peer that sends what no shoal node would --

/// The cases with a raw client, which speaks plain TCP without the secret:
/// run on the plain shapes only (under TLS it is refused before any frame
/// of its; tests/io/node_tls_test.cpp has the hostile clients that hold
/// the key).
class RawPeer : public TwoNodes {};

TEST_P(RawPeer, GarbageBytesCloseThatConnectionAndTheNodeServesOthers) {
  {
    RawClient raw(b->address());
    std::vector<std::byte> junk(64, std::byte{0x5a});
    raw.write(junk);
    auto [got, eof] = raw.read_to_eof();
    EXPECT_TRUE(eof) << "the node kept a connection that sent garbage";
  }
  // Counted before the node shut the socket whose EOF the client saw.
  EXPECT_GE(b->stats().protocol_errors, 1u);
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  a_sys->send(a->pid(b->address(), "echo"), Ping{1});
  ASSERT_TRUE(seen->wait_for(1));
}

TEST_P(RawPeer, AWrongProtocolVersionIsRefusedWithAReason) {
  capnp::MallocMessageBuilder m;
  auto h = m.initRoot<wire::schema::Frame>().initHandshake();
  h.setVersion(99);
  h.setAddress("127.0.0.1:1");
  h.setIncarnation(7);
  std::vector<std::byte> frame;
  wire::detail::append_frame(m, frame);
  RawClient raw(b->address());
  raw.write(frame);
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  std::string reason = disconnect_reason(got);
  EXPECT_NE(reason.find("protocol version 99"), std::string::npos) << "reason: " << reason;
  // Counted before the node shut the socket whose EOF the client saw.
  EXPECT_GE(b->stats().protocol_errors, 1u);
}

TEST_P(RawPeer, AnOversizedFrameIsRefusedFromItsHeader) {
  RawClient raw(b->address());
  std::uint32_t header[2] = {0, 0x10000000};  // one segment of 2 GiB
  std::vector<std::byte> bytes(sizeof header);
  std::memcpy(bytes.data(), header, sizeof header);
  raw.write(bytes);
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  EXPECT_NE(disconnect_reason(got).find("too_large"), std::string::npos);
}

TEST_P(RawPeer, ATruncatedFrameThenCloseIsNoCrashAndNoDelivery) {
  wire::ControlWriter w;
  std::vector<std::byte> frame;
  w.handshake("127.0.0.1:2", 9, frame);
  ASSERT_GT(frame.size(), 8u);
  // A copy without the last 5 bytes (not resize: g++ 12 under ASan warns
  // it cannot see the size stays positive).
  std::vector<std::byte> cut(frame.begin(), frame.end() - 5);
  {
    RawClient raw(b->address());
    raw.write(cut);
    raw.close_write();
    auto [got, eof] = raw.read_to_eof();
    EXPECT_TRUE(eof);
  }
  // Counted before the node shut the socket whose EOF the client saw.
  EXPECT_GE(b->stats().connections_closed, 1u);
  EXPECT_EQ(b->stats().messages_received, 0u);
}

TEST_P(RawPeer, AFrameBeforeTheHandshakeIsRefused) {
  wire::ControlWriter w;
  std::vector<std::byte> frame;
  w.heartbeat(1, false, frame);
  RawClient raw(b->address());
  raw.write(frame);
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  EXPECT_NE(disconnect_reason(got).find("before the handshake"), std::string::npos);
}

TEST_P(RawPeer, AFrameBeforeTheHandshakeIsAnsweredIsRefusedWhileTheConnectionMoves) {
  if (GetParam().io_threads == 1) GTEST_SKIP() << "one io thread answers at once: nothing moves";
  // b accepts on its second io thread; this peer's endpoint will live on
  // its first. The protocol says a dialer waits for the answer; one that
  // does not is told so (one write: both frames arrive in one receive).
  wire::ControlWriter w;
  std::vector<std::byte> bytes;
  w.handshake("127.0.0.1:1", 5, bytes);
  w.heartbeat(1, false, bytes);
  RawClient raw(b->address());
  raw.write(bytes);
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  EXPECT_NE(disconnect_reason(got).find("before the handshake was answered"), std::string::npos)
      << disconnect_reason(got);
  EXPECT_EQ(b->stats().handovers, 0u);
  EXPECT_EQ(b->stats().protocol_errors, 1u);
}

TEST_P(RawPeer, AFrozenPeerIsTakenForDeadByItsSilence) {
  NodeConfig fast = config();
  fast.heartbeat_interval = 20ms;
  fast.heartbeat_timeout = 200ms;
  std::mutex mu;
  std::vector<std::string> errors;
  fast.on_error = [&](std::string_view e) {
    std::lock_guard lock(mu);
    errors.emplace_back(e);
  };
  ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 1}});
  Node c(c_sys, types, fast);
  // A peer that shakes hands, then never says another word.
  wire::ControlWriter w;
  std::vector<std::byte> hello;
  w.handshake("127.0.0.1:1", 5, hello);
  RawClient raw(c.address());
  raw.write(hello);
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof) << "the node kept a silent peer";
  // Sent (every 20 ms) before the silence timed out and the node closed.
  EXPECT_GE(c.stats().heartbeats_sent, 1u);
  std::lock_guard lock(mu);
  bool said = false;
  for (auto& e : errors) said = said || e.find("peer silent") != std::string::npos;
  EXPECT_TRUE(said) << "no 'peer silent' in the node's errors";
}

TEST_P(TwoNodes, ANodeThatCannotBeReachedDropsWhatWasQueuedAndSaysSo) {
  // A port nobody listens on: bind one, then close it.
  SocketAddress bound;
  int fd = listen_on(resolve("127.0.0.1:0"), 1, bound);
  ::close(fd);
  NodeConfig fast = config();
  fast.backoff_min = 1ms;
  fast.backoff_max = 5ms;
  fast.max_attempts = 3;
  fast.on_error = [](std::string_view) {};
  ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 1}});
  Node c(c_sys, types, fast);
  auto lost = std::make_shared<Counter>();
  auto token = c_sys.events().subscribe<DeadLetter>([lost](const DeadLetter& d) {
    if (d.reason == DeadLetterReason::connection_lost) lost->add();
  });
  Pid nowhere = c.pid(bound.text, "x");
  auto f = c_sys.request_future<Ping>(nowhere, Ping{1}, 60s);
  for (int i = 0; i < 9; ++i) c_sys.send(nowhere, Ping{2});
  auto r = f.result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::delivery_failed) << r.what();
  ASSERT_TRUE(lost->wait_for(10)) << "dead letters: " << lost->get() << " of 10";
  EXPECT_EQ(c.stats().dropped_connection_lost, 10u);
  EXPECT_EQ(c_sys.dead_letters().count(DeadLetterReason::connection_lost), 10u);
  c_sys.events().unsubscribe(token);
}

TEST_P(TwoNodes, ABurstOverTheOutboundBoundDropsExactlyTheNewestThatDoNotFit) {
  // A peer whose kernel accepts the connection (the listen backlog) and
  // which never answers the handshake: nothing drains c's queue for it.
  SocketAddress bound;
  int fd = listen_on(resolve("127.0.0.1:0"), 16, bound);
  constexpr std::uint64_t fit = 10, sent = 50;
  NodeConfig small = config();
  small.outbound_queue_bytes = fit * message_type_of<Tagged>->node_size;
  small.on_error = [](std::string_view) {};
  ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 2}});
  Node c(c_sys, types, small);
  Pid mute = c.pid(bound.text, "x");
  // One handler's burst: queued as chains (core/detail/outbox.hpp); the
  // chain that would cross the bound goes message by message.
  struct Burster : Handles<Burster, Note> {
    Burster(Pid to, std::shared_ptr<Counter> done) : to(std::move(to)), done(std::move(done)) {}
    void on(Context& ctx, Note&) {
      for (std::uint64_t i = 0; i < sent; ++i) ctx.send(to, Tagged{0, i});
      done->add();
    }
    Pid to;
    std::shared_ptr<Counter> done;
  };
  auto done = std::make_shared<Counter>();
  c_sys.send(c_sys.spawn<Burster>(mute, done), Note{});
  ASSERT_TRUE(done->wait_for(1));
  ASSERT_TRUE(shoal::test::eventually(
      [&] { return c_sys.dead_letters().count(DeadLetterReason::outbound_full) >= sent - fit; },
      "the messages over the bound to become dead letters"));
  EXPECT_EQ(c_sys.dead_letters().count(DeadLetterReason::outbound_full), sent - fit)
      << "exactly those that did not fit";
  ::close(fd);
}

TEST_P(TwoNodes, AHostNameIsLookedUpOffTheIoThreadAndThenDialed) {
  // c listens on what "localhost" resolves to first; a dials it by name
  // (getaddrinfo on a thread of its own, not the io thread).
  NodeConfig at_localhost = config();
  at_localhost.listen = "localhost:0";
  at_localhost.on_error = [](std::string_view) {};
  ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 1}});
  Node c(c_sys, types, at_localhost);
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(c_sys.spawn_named(Props::of<Echo>(seen), "echo"));
  std::string port = c.address().substr(c.address().rfind(':') + 1);
  Pid echo = a->pid("localhost:" + port, "echo");
  auto r = a_sys->request_future<Ping>(echo, Ping{41}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
  EXPECT_EQ(r.value().count, 42u);

  // A name that does not resolve: what was queued for it is dropped and
  // counted, its future fails, and the node says why.
  NodeConfig once = config();
  once.max_attempts = 1;
  std::mutex mu;
  std::vector<std::string> errors;
  once.on_error = [&](std::string_view e) {
    std::lock_guard lock(mu);
    errors.emplace_back(e);
  };
  ActorSystem d_sys(SystemConfig{.scheduler = {.workers = 1}});
  Node d(d_sys, types, once);
  Pid nowhere = d.pid("no-such-host.invalid:7000", "echo");
  auto f = d_sys.request_future<Ping>(nowhere, Ping{1}, 120s);
  auto failed = f.result();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error(), RequestErrc::delivery_failed) << failed.what();
  std::lock_guard lock(mu);
  bool said = false;
  for (auto& e : errors) said = said || e.find("no-such-host.invalid") != std::string::npos;
  EXPECT_TRUE(said) << "no error naming the host";
}

TEST_P(TwoNodes, EveryAddressOfAHostNameIsTriedInTurn) {
  // "twohomes.test" resolves (NodeConfig::resolve) to a port where nothing
  // listens, then to b: the first dial is refused, the second connects,
  // all in one attempt (no backoff, no second lookup).
  const int closed = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // bound, never listening
  ASSERT_GE(closed, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(closed, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  socklen_t len = sizeof at;
  ASSERT_EQ(::getsockname(closed, reinterpret_cast<sockaddr*>(&at), &len), 0);
  const std::string refused = "127.0.0.1:" + std::to_string(ntohs(at.sin_port));

  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  std::atomic<int> lookups{0};
  std::mutex mu;
  std::vector<std::string> asked, errors;  // guarded by mu
  NodeConfig c = config();
  c.max_attempts = 1;  // a failed attempt would drop the request
  c.resolve = [&](std::string_view host_port) {
    lookups.fetch_add(1);
    std::lock_guard lock(mu);
    asked.emplace_back(host_port);
    return std::vector<std::string>{refused, b->address()};
  };
  c.on_error = [&](std::string_view e) {
    std::lock_guard lock(mu);
    errors.emplace_back(e);
  };
  ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 1}});
  Node node(c_sys, types, c);
  Pid echo = node.pid("twohomes.test:4000", "echo");
  auto r = c_sys.request_future<Ping>(echo, Ping{1}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
  EXPECT_EQ(r.value().count, 2u);
  EXPECT_EQ(lookups.load(), 1) << "the second address came from the same lookup";
  EXPECT_EQ(node.stats().connections_opened, 1u);
  EXPECT_EQ(node.stats().connections_closed, 1u) << "the refused dial to " << refused;
  std::lock_guard lock(mu);
  EXPECT_EQ(asked, std::vector<std::string>{"twohomes.test:4000"});
  EXPECT_TRUE(errors.empty()) << "a refused address with another to try is no error: "
                              << errors.front();
  ::close(closed);
}

TEST_P(TwoNodes, AResolverThatGivesNothingUsableFailsTheAttemptWithItsReason) {
  for (const auto& [given, why] : {std::pair{std::vector<std::string>{}, std::string("no address")},
                                   std::pair{std::vector<std::string>{"not-numeric:1"},
                                             std::string("not a numeric address")}}) {
    std::mutex mu;
    std::vector<std::string> errors;
    NodeConfig c = config();
    c.max_attempts = 1;
    c.resolve = [given = given](std::string_view) { return given; };
    c.on_error = [&](std::string_view e) {
      std::lock_guard lock(mu);
      errors.emplace_back(e);
    };
    ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 1}});
    Node node(c_sys, types, c);
    auto f = c_sys.request_future<Ping>(node.pid("somewhere.test:4000", "echo"), Ping{1}, 120s);
    auto failed = f.result();
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error(), RequestErrc::delivery_failed) << failed.what();
    std::lock_guard lock(mu);
    bool said = false;
    for (auto& e : errors) said |= e.find(why) != std::string::npos;
    EXPECT_TRUE(said) << "no error saying '" << why << "'";
  }
}

// -- three nodes --

/// Passes each Ping on to `next`, keeping its sender: the answer goes
/// straight back to whoever asked.
struct Relay : Handles<Relay, Ping> {
  explicit Relay(Pid next) : next(std::move(next)) {}
  void on(Context& ctx, Ping& p) { ctx.system().request(next, Ping{p.count}, ctx.sender()); }
  Pid next;
};

TEST_P(TwoNodes, AnActorRefPassedOnByAThirdNodeReachesTheActor) {
  // A request from a's actor goes to b's relay, which passes it on to c's
  // echo with the asker as its sender: c answers a's actor directly, by
  // the id it learnt from b (a's connection to c may live on another io
  // thread than the one that exported the id).
  NodeConfig quiet = config();
  quiet.on_error = [](std::string_view) {};
  ActorSystem c_sys(SystemConfig{.scheduler = {.workers = 1}});
  Node c(c_sys, types, quiet);
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(c_sys.spawn_named(Props::of<Echo>(seen), "echo"));
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Relay>(b->pid(c.address(), "echo")), "relay"));
  // (Asker would insist the answer comes from the relay; it comes from
  // c's echo.)
  struct Tally : Handles<Tally, Note, Ping> {
    Tally(Pid relay, std::shared_ptr<Counter> answers)
        : relay(std::move(relay)), answers(std::move(answers)) {}
    void on(Context& ctx, Note&) { ctx.request(relay, Ping{41}); }
    void on(Context& ctx, Ping& p) {
      if (p.count == 42 && !ctx.sender().empty()) {
        answers->add();
      } else {
        answers->error("answer " + std::to_string(p.count));
      }
    }
    Pid relay;
    std::shared_ptr<Counter> answers;
  };
  auto answers = std::make_shared<Counter>();
  Pid tally = a_sys->spawn<Tally>(a->pid(b->address(), "relay"), answers);
  for (int i = 0; i < 10; ++i) a_sys->send(tally, Note{});
  ASSERT_TRUE(answers->wait_for(10)) << "answers: " << answers->get() << " of 10";
  std::lock_guard lock(answers->mu);
  EXPECT_TRUE(answers->errors.empty()) << answers->errors.front();
  EXPECT_EQ(a->stats().rejected_inbound, 0u);
  EXPECT_EQ(c.stats().rejected_inbound, 0u);
}

std::string shape_name(const ::testing::TestParamInfo<Shape>& info) {
  std::string name = info.param.io_threads == 1 ? "OneIoThread" : "TwoIoThreads";
  name += info.param.port == EventPortKind::epoll ? "Epoll" : "Uring";
  return name + (info.param.tls ? "Tls" : "");
}

const Shape plain_shapes[] = {{1, EventPortKind::io_uring},
                              {2, EventPortKind::io_uring},
                              {1, EventPortKind::epoll},
                              {2, EventPortKind::epoll}};
const Shape tls_shapes[] = {{1, EventPortKind::io_uring, true}, {2, EventPortKind::epoll, true}};

INSTANTIATE_TEST_SUITE_P(Shapes, TwoNodes,
                         ::testing::Values(plain_shapes[0], plain_shapes[1], plain_shapes[2],
                                           plain_shapes[3], tls_shapes[0], tls_shapes[1]),
                         shape_name);
INSTANTIATE_TEST_SUITE_P(Shapes, RawPeer, ::testing::ValuesIn(plain_shapes), shape_name);

}  // namespace
}  // namespace shoal::io::test
