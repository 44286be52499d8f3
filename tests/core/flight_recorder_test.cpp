// The flight recorder: the ring keeps the newest events in order and never
// returns a torn one while its writer laps it (run under TSan); a traced
// system records runs, schedules and flows; its Chrome JSON parses, has the
// fields the trace-event format requires, and every flow has both ends,
// also when the rings wrap under load; dumps (with the system's statistics)
// go to a file on request and on a signal; stopping stops.
#include "core/flight_recorder.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "shoal/actor_system.hpp"
#include "shoal/trace.hpp"
#include "tests/core/runtime_fixture.hpp"

namespace shoal::detail {
namespace {

using test::eventually;
using test::scaled;

// -- the ring -------------------------------------------------------------------------------

TraceEvent numbered(std::uint64_t i) {
  return {.ts = i, .dur = static_cast<std::uint32_t>(i * 7), .kind = TraceKind::run,
          .x = static_cast<std::uint32_t>(i & 0xffffff), .a = i, .b = ~i, .c = i * 3, .d = i ^ 0x5555};
}

/// True if `e` is exactly what numbered(e.a) pushed.
bool intact(const TraceEvent& e) {
  const TraceEvent w = numbered(e.a);
  return e.ts == w.ts && e.dur == w.dur && e.kind == w.kind && e.x == w.x && e.b == w.b &&
         e.c == w.c && e.d == w.d;
}

TEST(TraceRing, KeepsTheNewestEventsInOrder) {
  TraceRing ring(100);  // rounded up to 128
  EXPECT_EQ(ring.capacity(), 128u);
  for (std::uint64_t i = 1; i <= 50; ++i) ring.push(numbered(i));
  auto a = ring.read();
  ASSERT_EQ(a.size(), 50u);
  for (std::uint64_t i = 0; i < 50; ++i) EXPECT_EQ(a[i].a, i + 1);
  for (std::uint64_t i = 51; i <= 1000; ++i) ring.push(numbered(i));
  auto b = ring.read();
  ASSERT_EQ(b.size(), 128u);
  for (std::uint64_t i = 0; i < 128; ++i) {
    EXPECT_EQ(b[i].a, 1000 - 127 + i);
    EXPECT_TRUE(intact(b[i]));
  }
  EXPECT_EQ(ring.pushed(), 1000u);
}

TEST(TraceRing, ReadersNeverSeeATornEventWhileTheWriterLaps) {
  TraceRing ring(64);  // small: the writer laps the readers all the time
  const std::uint64_t n = scaled(2'000'000, 200'000);
  std::atomic<bool> done{false};
  std::latch start(3);
  std::atomic<std::uint64_t> reads{0};
  auto reader = [&] {
    start.arrive_and_wait();
    while (!done.load(std::memory_order_acquire)) {
      auto events = ring.read();
      for (std::size_t i = 0; i < events.size(); ++i) {
        ASSERT_TRUE(intact(events[i])) << "torn event " << events[i].a;
        if (i > 0) {
          ASSERT_EQ(events[i].a, events[i - 1].a + 1) << "gap or reorder";
        }
      }
      reads.fetch_add(1);
    }
  };
  std::thread r1(reader), r2(reader);
  start.arrive_and_wait();
  for (std::uint64_t i = 1; i <= n; ++i) ring.push(numbered(i));
  // Let the readers look at least once more at the final state.
  const std::uint64_t seen = reads.load();
  ASSERT_TRUE(eventually([&] { return reads.load() >= seen + 2; }, "two more reads"));
  done.store(true, std::memory_order_release);
  r1.join();
  r2.join();
  auto last = ring.read();
  ASSERT_EQ(last.size(), 64u);
  EXPECT_EQ(last.back().a, n);
}

// -- a traced system ------------------------------------------------------------------------

struct Ball {
  std::uint32_t left;
  Pid from;
};
struct Serve {
  Pid to;
  std::uint32_t hits;
};

/// Sends a Ball back to where it came from until `left` runs out.
struct Player : Handles<Player, Ball, Serve> {
  explicit Player(std::shared_ptr<std::atomic<std::uint64_t>> n) : n_(std::move(n)) {}
  void on(Context& ctx, Serve& s) { ctx.send(s.to, Ball{s.hits, ctx.self()}); }
  void on(Context& ctx, Ball& b) {
    n_->fetch_add(1);
    if (b.left > 1) ctx.send(b.from, Ball{b.left - 1, ctx.self()});
  }
  std::shared_ptr<std::atomic<std::uint64_t>> n_;
};

/// What a test checks in every exported trace.
struct Checked {
  std::size_t runs = 0;
  std::size_t flows = 0;
  std::set<std::uint64_t> tids;
  std::set<std::string> names;
};

/// Parses Chrome JSON and checks the trace-event format's required fields,
/// and that every flow id has exactly one start and one end.
Checked check_chrome_json(const std::string& text) {
  Checked out;
  const auto j = nlohmann::json::parse(text);  // throws (fails the test) if invalid
  EXPECT_TRUE(j.contains("traceEvents"));
  std::map<std::uint64_t, int> starts, ends;
  for (const auto& e : j.at("traceEvents")) {
    EXPECT_TRUE(e.contains("ph") && e.contains("pid") && e.contains("name")) << e.dump();
    const std::string ph = e.at("ph");
    if (ph == "M") continue;
    EXPECT_TRUE(e.contains("ts") && e.contains("tid")) << e.dump();
    EXPECT_GE(e.at("ts").get<double>(), 0.0);
    if (ph == "X") {
      EXPECT_TRUE(e.contains("dur")) << e.dump();
      EXPECT_GE(e.at("dur").get<double>(), 0.0);
      if (e.at("cat") == "run") {
        ++out.runs;
        out.tids.insert(e.at("tid").get<std::uint64_t>());
        out.names.insert(e.at("name").get<std::string>());
      }
    } else if (ph == "s") {
      ++starts[e.at("id").get<std::uint64_t>()];
    } else if (ph == "f") {
      EXPECT_EQ(e.value("bp", ""), "e");
      ++ends[e.at("id").get<std::uint64_t>()];
    } else {
      EXPECT_EQ(ph, "i") << e.dump();
    }
  }
  EXPECT_EQ(starts.size(), ends.size());
  for (const auto& [id, n] : starts) {
    EXPECT_EQ(n, 1) << "flow " << id;
    EXPECT_EQ(ends.count(id), 1u) << "flow " << id << " has no end";
  }
  for (const auto& [id, n] : ends) EXPECT_EQ(starts.count(id), 1u) << "flow " << id << " has no start";
  out.flows = starts.size();
  return out;
}

TEST(FlightRecorder, DeterministicTraceHasRunsAndFlows) {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  ActorSystem sys(cfg);
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  Pid a = sys.spawn_named(Props::of<Player>(n), "alice").pid;
  Pid b = sys.spawn<Player>(n);
  sys.run_until_idle();
  EXPECT_FALSE(sys.tracing());
  sys.start_trace();
  EXPECT_TRUE(sys.tracing());
  sys.send(a, Serve{b, 20});
  sys.run_until_idle();
  EXPECT_EQ(n->load(), 20u);
  const Trace t = sys.trace();
  ASSERT_EQ(t.lanes.size(), 1u);
  std::size_t runs = 0, scheduled = 0;
  for (const TraceEvent& e : t.lanes[0]) {
    runs += e.kind == TraceKind::run;
    scheduled += e.kind == TraceKind::scheduled;
  }
  EXPECT_EQ(runs, 21u) << "Serve, then one run per Ball";
  EXPECT_EQ(scheduled, 0u) << "a Ball's arrow says who scheduled its receiver";
  EXPECT_EQ(t.names.at(a.id()), "alice");
  EXPECT_NE(t.names.at(b.id()).find("Player"), std::string::npos) << t.names.at(b.id());
  const Checked c = check_chrome_json(to_chrome_json(t));
  EXPECT_EQ(c.runs, 21u);
  EXPECT_EQ(c.flows, 20u) << "every Ball sent inside a traced run";
  EXPECT_TRUE(c.names.contains("alice"));

  // Stopped: nothing more is recorded.
  sys.stop_trace();
  sys.send(a, Serve{b, 10});
  sys.run_until_idle();
  const Trace after = sys.trace();
  EXPECT_EQ(after.lanes[0].size(), t.lanes[0].size());
}

/// Stops at its first Ball.
struct Leaf : Handles<Leaf, Ball> {
  void on(Context& ctx, Ball&) { ctx.stop(); }
};
/// Spawns a Leaf per Serve, tells `born` its id and sends it a Ball.
struct Spawner : Handles<Spawner, Serve> {
  explicit Spawner(std::shared_ptr<std::vector<std::uint64_t>> born) : born_(std::move(born)) {}
  void on(Context& ctx, Serve&) {
    Pid child = ctx.spawn<Leaf>();
    born_->push_back(child.id());
    ctx.send(child, Ball{1, Pid()});
  }
  std::shared_ptr<std::vector<std::uint64_t>> born_;
};

TEST(FlightRecorder, ActorsThatRanAreNamedByTypeEvenAfterTheyStopped) {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  ActorSystem sys(cfg);
  auto born = std::make_shared<std::vector<std::uint64_t>>();
  Pid spawner = sys.spawn(Props::of<Spawner>(born));  // through Props: a type name of its own
  sys.start_trace();
  for (int i = 0; i < 3; ++i) sys.send(spawner, Serve{Pid(), 1});
  sys.run_until_idle();
  ASSERT_EQ(born->size(), 3u);
  ASSERT_EQ(sys.live_actors(), 1u) << "the leaves stopped";
  const Trace t = sys.trace();
  for (std::uint64_t id : *born) {
    ASSERT_TRUE(t.names.contains(id)) << "leaf " << id << " ran in the trace";
    EXPECT_NE(t.names.at(id).find("Leaf #" + std::to_string(id)), std::string::npos)
        << t.names.at(id);
  }
  EXPECT_NE(t.names.at(spawner.id()).find("Spawner #"), std::string::npos)
      << t.names.at(spawner.id());
  for (const TraceEvent& e : t.lanes[0]) {
    EXPECT_NE(e.kind, TraceKind::actor_type) << "name events stay inside trace()";
  }
}

TEST(FlightRecorder, ActorsThatKeepRunningStayNamedWhileTheRingWraps) {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  cfg.scheduler.trace_events = 64;  // a rally of 5,000 runs laps it ~80 times
  ActorSystem sys(cfg);
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  Pid a = sys.spawn<Player>(n);
  Pid b = sys.spawn<Player>(n);
  sys.start_trace();
  sys.send(a, Serve{b, 5000});
  sys.run_until_idle();
  ASSERT_EQ(n->load(), 5000u);
  const Trace t = sys.trace();
  ASSERT_EQ(t.lanes.size(), 1u);
  EXPECT_LE(t.lanes[0].size(), 64u);
  for (const Pid& p : {a, b}) {
    ASSERT_TRUE(t.names.contains(p.id())) << "actor " << p.id() << " lost its name to the wrap";
    EXPECT_NE(t.names.at(p.id()).find("Player #"), std::string::npos) << t.names.at(p.id());
  }
}

TEST(FlightRecorder, ThreadedTraceHasOneTrackPerWorkerAndPairedFlows) {
  SystemConfig cfg;
  cfg.scheduler.workers = 2;
  ActorSystem sys(cfg);
  sys.start_trace();
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  // Many pairs, so both workers run actors.
  constexpr int pairs = 16;
  const std::uint32_t hits = static_cast<std::uint32_t>(scaled(2000, 200));
  for (int i = 0; i < pairs; ++i) {
    Pid a = sys.spawn<Player>(n);
    Pid b = sys.spawn<Player>(n);
    sys.send(a, Serve{b, hits});
  }
  ASSERT_TRUE(eventually([&] { return n->load() == std::uint64_t{pairs} * hits; }, "every hit"));
  const Trace t = sys.trace();
  ASSERT_EQ(t.lanes.size(), 2u);
  const Checked c = check_chrome_json(to_chrome_json(t));
  EXPECT_GT(c.runs, 0u);
  EXPECT_GT(c.flows, 0u);
  for (std::uint64_t tid : c.tids) EXPECT_LT(tid, 2u);
}

TEST(FlightRecorder, ATimerSchedulingAMailboxIsRecorded) {
  SystemConfig cfg;
  cfg.scheduler.workers = 2;
  ActorSystem sys(cfg);
  sys.start_trace();
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  Pid a = sys.spawn<Player>(n);
  // Timers fire on a worker outside any run: the schedule is its own event.
  sys.send_after(a, Ball{1, Pid()}, std::chrono::milliseconds(1));
  ASSERT_TRUE(eventually([&] { return n->load() == 1; }, "the timer's ball"));
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& w : sys.trace().lanes) {
          for (const TraceEvent& e : w) {
            if (e.kind == TraceKind::scheduled && e.a == a.id() && e.b == 0) return true;
          }
        }
        return false;
      },
      "a scheduled event for the timer's target"));
  bool instant = false;
  const auto j = nlohmann::json::parse(to_chrome_json(sys.trace()));
  for (const auto& e : j.at("traceEvents")) {
    instant |= e.at("ph") == "i" && e.value("cat", "") == "schedule";
  }
  EXPECT_TRUE(instant);
}

TEST(FlightRecorder, WrappedRingsStillExportPairedFlows) {
  SystemConfig cfg;
  cfg.scheduler.workers = 2;
  cfg.scheduler.trace_events = 256;  // wraps many times
  ActorSystem sys(cfg);
  sys.start_trace();
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  const std::uint32_t hits = static_cast<std::uint32_t>(scaled(50'000, 5'000));
  std::vector<Pid> keep;
  for (int i = 0; i < 4; ++i) {
    Pid a = sys.spawn<Player>(n);
    Pid b = sys.spawn<Player>(n);
    sys.send(a, Serve{b, hits});
    keep.push_back(a);
    keep.push_back(b);
  }
  // Read while it runs, then once more at the end.
  std::size_t reads = 0;
  while (n->load() < 4ull * hits) {
    const Trace t = sys.trace();
    for (const auto& w : t.lanes) EXPECT_LE(w.size(), 256u);
    check_chrome_json(to_chrome_json(t));
    if (++reads > 100000) break;
  }
  ASSERT_TRUE(eventually([&] { return n->load() == 4ull * hits; }, "every hit"));
  const Checked c = check_chrome_json(to_chrome_json(sys.trace()));
  EXPECT_GT(c.runs, 0u);
}

TEST(FlightRecorder, InstrumentedReceiversKeepTheirFlows) {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  cfg.actor_stats = true;  // every send is stamped: the stamp is the flow id
  ActorSystem sys(cfg);
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  Pid a = sys.spawn<Player>(n);
  Pid b = sys.spawn<Player>(n);
  sys.run_until_idle();
  sys.start_trace();
  sys.send(a, Serve{b, 10});
  sys.run_until_idle();
  const Checked c = check_chrome_json(to_chrome_json(sys.trace()));
  EXPECT_EQ(c.flows, 10u);
}

TEST(FlightRecorder, DumpsToAFileThatLoadsBack) {
  SystemConfig cfg;
  cfg.scheduler.deterministic = true;
  ActorSystem sys(cfg);
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  Pid a = sys.spawn<Player>(n);
  Pid b = sys.spawn<Player>(n);
  sys.start_trace();
  sys.send(a, Serve{b, 5});
  sys.run_until_idle();
  const auto path = std::filesystem::temp_directory_path() /
                    test::cat("shoal-trace-", ::getpid(), "-dump.trace");
  sys.dump_trace(path.string());
  const Trace back = load_trace(path.string());
  const Trace now = sys.trace();
  ASSERT_EQ(back.lanes.size(), now.lanes.size());
  ASSERT_EQ(back.lanes[0].size(), now.lanes[0].size());
  for (std::size_t i = 0; i < now.lanes[0].size(); ++i) {
    EXPECT_EQ(back.lanes[0][i].ts, now.lanes[0][i].ts);
    EXPECT_EQ(back.lanes[0][i].kind, now.lanes[0][i].kind);
    EXPECT_EQ(back.lanes[0][i].a, now.lanes[0][i].a);
  }
  EXPECT_EQ(back.names, now.names);
  // The statistics ride along; they change between the two calls, so only
  // their presence is compared.
  EXPECT_FALSE(back.stats_json.empty());
  EXPECT_FALSE(now.stats_json.empty());
  std::filesystem::remove(path);
  EXPECT_THROW(sys.dump_trace("/nonexistent-dir/x.trace"), std::runtime_error);
}

TEST(FlightRecorder, DumpsOnTheChosenSignal) {
  SystemConfig cfg;
  cfg.scheduler.workers = 2;
  ActorSystem sys(cfg);
  const auto path = std::filesystem::temp_directory_path() /
                    test::cat("shoal-trace-", ::getpid(), "-signal.trace");
  std::filesystem::remove(path);
  sys.dump_trace_on_signal(SIGUSR2, path.string());
  sys.start_trace();
  auto n = std::make_shared<std::atomic<std::uint64_t>>(0);
  Pid a = sys.spawn<Player>(n);
  Pid b = sys.spawn<Player>(n);
  sys.send(a, Serve{b, 100});
  ASSERT_TRUE(eventually([&] { return n->load() == 100; }, "the rally"));
  ASSERT_EQ(std::raise(SIGUSR2), 0);
  ASSERT_TRUE(eventually(
      [&] {
        try {
          return !load_trace(path.string()).lanes.empty();
        } catch (const std::exception&) {
          return false;  // not written yet, or half written
        }
      },
      "the dump the signal asked for"));
  // Another system cannot take the same signal.
  ActorSystem other(cfg);
  EXPECT_THROW(other.dump_trace_on_signal(SIGUSR2, path.string()), std::invalid_argument);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace shoal::detail
