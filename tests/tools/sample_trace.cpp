// make-sample-trace OUT [--hostile-names | --empty]: records a small traced
// run and writes it to OUT (shoal/trace.hpp), for the report's browser
// test.
//
// Two workers run four ping-pong pairs and, at the same time, a fan-in of
// sixteen senders to one sink, sized by message counts, never by time; the
// main thread waits on a latch for the last message, then dumps the trace.
// The sink is instrumented (Props::with_stats), so the trace's statistics
// hold one actor's measurements. Then, with the workers asleep, the main
// thread becomes a guest named "io 0" (shoal/guest_runner.hpp) and records
// what a node's io thread records in its lane: a remote frame delivered
// (its message serves a ping-pong that the guest then runs itself) and a
// frame written. So the trace has three lanes. With --hostile-names the sink is named with
// markup that would run script if the report let a name out of its JSON or
// put it into the page as HTML. With --empty it writes a trace of two
// workers that recorded nothing (and no statistics).
//
// Exit status: 0 written, 1 it could not be, 2 bad command line.
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <latch>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/detail/system_access.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/guest_runner.hpp"

namespace {

using shoal::Context;
using shoal::Handles;
using shoal::Pid;

// About 100k events in all, within the rings (nothing overwritten): the size
// of trace the report must stay quick with. A sender sends `burst` Items per
// run, then yields.
constexpr int pairs = 4;
constexpr std::uint32_t hits_per_pair = 10'000;
constexpr int senders = 16;
constexpr std::uint32_t per_sender = 1'000;
constexpr std::uint32_t burst = 25;
constexpr std::size_t ring_events_per_worker = std::size_t{1} << 17;

constexpr std::string_view hostile_name =
    "</script><script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.title='pwned'\">&amp;";

struct Ball {
  std::uint32_t left;
  Pid from;
};
struct Serve {
  Pid to;
  std::uint32_t hits;
};

/// Returns the Ball until `left` runs out; the last hit counts `done` down.
struct Player : Handles<Player, Ball, Serve> {
  explicit Player(std::latch* done) : done_(done) {}
  void on(Context& ctx, Serve& s) { ctx.send(s.to, Ball{s.hits, ctx.self()}); }
  void on(Context& ctx, Ball& b) {
    if (b.left > 1) {
      ctx.send(b.from, Ball{b.left - 1, ctx.self()});
    } else {
      done_->count_down();
    }
  }
  std::latch* done_;  // borrowed: main() outlives the system
};

struct Item {
  std::uint32_t n;
};
struct Go {
  Pid to;
  std::uint32_t left;
};

/// Sends `left` Items to `to`, `burst` per run, re-queueing itself between.
struct Sender : Handles<Sender, Go> {
  void on(Context& ctx, Go& g) {
    const std::uint32_t n = g.left < burst ? g.left : burst;
    for (std::uint32_t i = 0; i < n; ++i) ctx.send(g.to, Item{i});
    if (g.left > n) ctx.send(ctx.self(), Go{g.to, g.left - n});
  }
};

/// Counts Items; the last one counts `done` down.
struct Sink : Handles<Sink, Item> {
  explicit Sink(std::latch* done) : done_(done) {}
  void on(Context&, Item&) {
    if (++seen_ == std::uint64_t{senders} * per_sender) done_->count_down();
  }
  std::latch* done_;  // borrowed: main() outlives the system
  std::uint64_t seen_ = 0;
};

/// The guest lane: see the top. False (with a message) if the workers never
/// slept or the guest's ping-pong never finished.
bool as_a_guest(shoal::ActorSystem& sys) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  shoal::GuestRunner guest(sys, "io 0");
  while (shoal::detail::SystemAccess::scheduler(sys).parked_workers() !=
         shoal::detail::SystemAccess::scheduler(sys).worker_count()) {
    if (Clock::now() > deadline) {
      std::cerr << "make-sample-trace: the workers never parked\n";
      return false;
    }
    std::this_thread::yield();
  }
  shoal::detail::WorkerTrace* t = guest.trace();
  if (t == nullptr) {
    std::cerr << "make-sample-trace: the guest has no lane\n";
    return false;
  }
  std::latch played(1);
  Pid a = sys.spawn_named(shoal::Props::of<Player>(&played), "guest-ping").pid;
  Pid b = sys.spawn_named(shoal::Props::of<Player>(&played), "guest-pong").pid;
  constexpr std::uint64_t peer = 0x5ca1ab1e;  // a made-up peer incarnation
  // A frame that brings one message, as io/node_inbound.cpp records it.
  shoal::detail::active_trace = t;
  guest.collect();
  const std::uint64_t flows = t->flow_seq;
  t->run_ts = shoal::detail::ticks();
  sys.send(a, Serve{b, 40});  // its flow id comes from this lane
  t->ring.push({.ts = t->run_ts,
                .dur = static_cast<std::uint32_t>(shoal::detail::ticks() - t->run_ts),
                .kind = shoal::TraceKind::remote_in,
                .x = static_cast<std::uint32_t>(t->flow_seq - flows),
                .a = peer,
                .b = 1,
                .c = 96,
                .d = (flows + 1) << 9 | t->worker << 1});
  t->run_ts = 0;
  guest.run();                  // the ping-pong, in rounds, while the workers sleep
  while (!played.try_wait()) {  // any rest went to the workers
    if (Clock::now() > deadline) {
      std::cerr << "make-sample-trace: the guest's ping-pong never finished\n";
      return false;
    }
    std::this_thread::yield();
  }
  const std::uint64_t begin = shoal::detail::ticks();
  t->ring.push(
      {.ts = begin, .dur = 1000, .kind = shoal::TraceKind::remote_out, .a = peer, .b = 1, .c = 80});
  shoal::detail::active_trace = nullptr;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc == 3 ? argv[2] : "";
  const bool hostile = mode == "--hostile-names";
  if (argc < 2 || argc > 3 || !(mode.empty() || hostile || mode == "--empty")) {
    std::cerr << "usage: make-sample-trace OUT [--hostile-names | --empty]\n";
    return 2;
  }
  try {
    if (mode == "--empty") {
      shoal::Trace empty;
      empty.lanes.resize(2);
      shoal::save_trace(empty, argv[1]);
      return 0;
    }
    std::latch done(pairs + 1);
    shoal::SystemConfig cfg;
    cfg.scheduler.workers = 2;
    cfg.scheduler.trace_events = ring_events_per_worker;
    shoal::ActorSystem sys(cfg);
    sys.start_trace();
    std::vector<Pid> keep;  // alive until the dump, so the trace has their names
    for (int i = 0; i < pairs; ++i) {
      Pid a = sys.spawn_named(shoal::Props::of<Player>(&done), "ping-" + std::to_string(i)).pid;
      Pid b = sys.spawn_named(shoal::Props::of<Player>(&done), "pong-" + std::to_string(i)).pid;
      sys.send(a, Serve{b, hits_per_pair});
      keep.push_back(a);
      keep.push_back(b);
    }
    Pid sink = sys.spawn_named(shoal::Props::of<Sink>(&done).with_stats(),
                               hostile ? std::string(hostile_name) : "sink")
                   .pid;
    keep.push_back(sink);
    for (int i = 0; i < senders; ++i) {
      // Throughput 1: each Go is a run of its own, so the senders interleave.
      Pid s = sys.spawn_named(shoal::Props::of<Sender>().with_throughput(1),
                              "sender-" + std::string(i < 10 ? "0" : "") + std::to_string(i))
                  .pid;
      sys.send(s, Go{sink, per_sender});
      keep.push_back(s);
    }
    done.wait();
    if (!as_a_guest(sys)) return 1;
    sys.stop_trace();
    sys.dump_trace(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "make-sample-trace: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
