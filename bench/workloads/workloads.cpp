// The list of macro workloads shoal-bench knows, each with its parameters,
// its unit, and its shoal and CAF runners. Sizes are chosen so one CAF run
// takes about a second here; the messages-per-second figures do not depend
// on them once runs last more than a few hundred milliseconds.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>

#include "bench/workload.hpp"
#include "bench/workloads/shoal_workloads.hpp"
#include "io/event_port.hpp"
#if SHOAL_BENCH_HAVE_CAF
#include "bench/peers/caf_workloads.hpp"
#endif

namespace shoal::bench {

namespace {

// Each shoal run first applies the knobs only shoal has (throughput,
// pinning, statistics, trace).
#define SHOAL_NATIVE(expr)  \
  [=](const RunConfig& c) { \
    native::set_options(c); \
    return native::expr;    \
  }

// A workload's size times --duration's scale (RunConfig::scale), at least 1.
std::uint64_t sized(std::uint64_t n, const RunConfig& c) {
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(double(n) * c.scale)));
}

// A scalable run: `n` is `base` scaled, and the run reports n × `factor`
// items (what its rate counts).
#define SHOAL_NATIVE_SIZED(base, factor, expr) \
  [=](const RunConfig& c) {                    \
    native::set_options(c);                    \
    const std::uint64_t n = sized(base, c);    \
    Timing t = native::expr;                   \
    t.items = double(n) * double(factor);      \
    return t;                                  \
  }

#if SHOAL_BENCH_HAVE_CAF
namespace peer = caf_peer;
#define SHOAL_CAF(expr) [=](const RunConfig& c) { return peer::expr; }
#define SHOAL_CAF_SIZED(base, factor, expr) \
  [=](const RunConfig& c) {                 \
    peer::set_message_bytes(c.message_bytes); \
    const std::uint64_t n = sized(base, c); \
    Timing t = peer::expr;                  \
    t.items = double(n) * double(factor);   \
    return t;                               \
  }
#define SHOAL_CAF_SPAWN_STOP(from_actor)                                \
  [=](const RunConfig& c) {                                             \
    std::uint64_t n = from_actor ? caf_spawn_from_actor : spawn_actors; \
    Timing t = peer::spawn_stop(c.workers, n, from_actor);              \
    t.items = double(n);                                                \
    return t;                                                           \
  }
#else
#define SHOAL_CAF(expr) nullptr
#define SHOAL_CAF_SIZED(base, factor, expr) nullptr
#define SHOAL_CAF_SPAWN_STOP(from_actor) nullptr
#endif

// The rate of a scalable run: it reports how many items it did.
double per_second(const Timing& t) { return t.items / t.seconds; }

constexpr std::uint64_t pair_messages = 4'000'000;    // one-way messages over all pairs
constexpr std::uint64_t fan_in_messages = 4'000'000;  // over all senders
constexpr unsigned fan_in_window = 1024;
constexpr std::uint64_t ring_hops = 10'000'000;
constexpr unsigned ring_actors = 100;
constexpr std::uint64_t skynet_leaves = 1'000'000;
constexpr std::uint64_t spawn_actors = 1'000'000;
// CAF 0.17's stealing walks a victim's whole queue per steal, so 1 M spawns
// from inside one actor do not finish in ten minutes; its twin runs this many
// (which favours CAF: a smaller working set) and the ratio is per actor.
constexpr std::uint64_t caf_spawn_from_actor = 20'000;
constexpr std::uint64_t round_trips = 200'000;
// A non-actor thread's round trips: back to back, and each after a 1 ms
// pause (so about 2 s for the parked ones).
constexpr std::uint64_t outside_busy_trips = 100'000;
constexpr std::uint64_t outside_parked_trips = 2'000;
// Remote: CAF 0.17 streams ≈ 0.3 M msg/s and round-trips in ≈ 140 µs here,
// so each takes about a second for CAF. Items split evenly over 1 or 16
// senders in multiples of the sink's ack interval (1,000).
constexpr std::uint64_t remote_items = 320'000;
constexpr std::uint64_t remote_window = 20'000;
constexpr std::uint64_t remote_round_trips = 10'000;
constexpr unsigned remote_connections = 50;
constexpr std::uint64_t storm_messages = 4'000'000;
constexpr unsigned storm_pairs = 64;
constexpr unsigned storm_fail_every = 10;

}  // namespace

std::vector<Workload> workloads() {
  std::vector<Workload> list;

  list.push_back({"ping-pong",
                  "1 pair, one message in flight",
                  "msg/s",
                  true,
                  {{"messages", double(pair_messages)}},
                  per_second,
                  SHOAL_NATIVE_SIZED(pair_messages, 1, ping_pong(c.workers, n)),
                  SHOAL_CAF_SIZED(pair_messages, 1, ping_pong(c.workers, n))});
  list.back().scalable = list.back().sized_messages = true;

  for (unsigned p : {1u, 2u, 64u, 1000u}) {
    std::uint64_t per = pair_messages / p;
    list.push_back({"pairs/" + std::to_string(p),
                    std::to_string(p) + " independent pairs, one message in flight each",
                    "msg/s",
                    true,
                    {{"pairs", double(p)}, {"messages_per_pair", double(per)}},
                    per_second,
                    SHOAL_NATIVE_SIZED(per, p, pairs(c.workers, p, n)),
                    SHOAL_CAF_SIZED(per, p, pairs(c.workers, p, n))});
    list.back().scalable = list.back().sized_messages = true;
  }

  for (unsigned s : {2u, 16u, 256u}) {
    std::uint64_t per = fan_in_messages / s;
    list.push_back(
        {"fan-in/" + std::to_string(s),
         std::to_string(s) + " senders -> 1 receiver, window " + std::to_string(fan_in_window),
         "msg/s",
         true,
         {{"senders", double(s)},
          {"messages_per_sender", double(per)},
          {"window", double(fan_in_window)}},
         per_second,
         SHOAL_NATIVE_SIZED(per, s, fan_in(c.workers, s, n, fan_in_window)),
         SHOAL_CAF_SIZED(per, s, fan_in(c.workers, s, n, fan_in_window))});
    list.back().scalable = true;
  }

  list.push_back({"ring",
                  "100 actors in a ring, one token, 10 M hops",
                  "hops/s",
                  true,
                  {{"actors", double(ring_actors)}, {"hops", double(ring_hops)}},
                  per_second,
                  SHOAL_NATIVE_SIZED(ring_hops, 1, ring(c.workers, ring_actors, n)),
                  SHOAL_CAF_SIZED(ring_hops, 1, ring(c.workers, ring_actors, n))});
  list.back().scalable = list.back().sized_messages = true;

  list.push_back({"skynet",
                  "1,111,111 real actors, sum of 1 M leaves",
                  "ms",
                  false,
                  {{"leaves", double(skynet_leaves)}, {"actors", 1'111'111.0}},
                  [](const Timing& t) { return t.seconds * 1e3; },
                  SHOAL_NATIVE(skynet(c.workers, skynet_leaves)),
                  SHOAL_CAF(skynet(c.workers, skynet_leaves))});

  for (bool from_actor : {false, true}) {
    list.push_back({std::string("spawn-stop/") + (from_actor ? "actor" : "main"),
                    std::string("spawn then stop 1 M idle actors from ") +
                        (from_actor ? "inside one actor (CAF: 20 k, its steal walk is quadratic)"
                                    : "the main thread"),
                    "ns/actor",
                    false,
                    {{"actors", double(spawn_actors)}, {"from_actor", from_actor ? 1.0 : 0.0}},
                    [](const Timing& t) {
                      return t.seconds * 1e9 / (t.items > 0 ? t.items : double(spawn_actors));
                    },
                    SHOAL_NATIVE(spawn_stop(c.workers, spawn_actors, from_actor)),
                    SHOAL_CAF_SPAWN_STOP(from_actor)});
  }
  // Request/reply latency: one run gives all three percentiles; each is its
  // own row (and run), so the table and the baseline JSON compare them alike.
  for (bool timeout : {false, true}) {
    const std::string base = timeout ? "request-future" : "request-reply";
    const std::string what = timeout
                                 ? "request_future + reenter_after, 10 s timeout (CAF: request "
                                   "with a 10 s timeout)"
                                 : "ctx.request + respond (CAF: request(infinite).then)";
    struct Pct {
      const char* name;
      double Timing::*field;
    };
    for (Pct p : {Pct{"p50", &Timing::p50_ns}, Pct{"p99", &Timing::p99_ns},
                  Pct{"p99.9", &Timing::p999_ns}}) {
      list.push_back({base + "/" + p.name,
                      std::string(p.name) + " round trip, one request in flight: " + what,
                      "ns",
                      false,
                      {{"round_trips", double(round_trips)}},
                      [field = p.field](const Timing& t) { return t.*field; },
                      SHOAL_NATIVE(request_reply(c.workers, sized(round_trips, c), timeout)),
                      SHOAL_CAF(request_reply(c.workers, sized(round_trips, c), timeout))});
      list.back().scalable = true;
    }
  }

  // A thread that is no actor asks and takes the answer: blocking get(), or
  // a CompletionQueue an epoll loop drains. Busy: back to back (the workers
  // stay awake); parked: a 1 ms untimed pause first (every worker parks).
  struct Pct2 {
    const char* name;
    double Timing::*field;
  };
  const Pct2 outside_pcts[] = {{"p50", &Timing::p50_ns}, {"p99", &Timing::p99_ns}};
  for (bool parked : {false, true}) {
    const std::string state = parked ? "parked" : "busy";
    const std::uint64_t n = parked ? outside_parked_trips : outside_busy_trips;
    for (Pct2 p : outside_pcts) {
      list.push_back({"outside-rtt/" + state + "/" + p.name,
                      std::string(p.name) + " round trip from a non-actor thread, workers " +
                          state + ": request_future + get() (CAF: scoped_actor request/receive)",
                      "ns",
                      false,
                      {{"round_trips", double(n)}},
                      [field = p.field](const Timing& t) { return t.*field; },
                      SHOAL_NATIVE(outside_rtt(c.workers, sized(n, c), parked)),
                      SHOAL_CAF(outside_rtt(c.workers, sized(n, c), parked))});
      list.back().scalable = true;
    }
    for (Pct2 p : outside_pcts) {
      list.push_back({"outside-rtt-guest/" + state + "/" + p.name,
                      std::string(p.name) + " round trip from a non-actor thread, workers " +
                          state +
                          ": get(), the thread running what it woke while every worker "
                          "sleeps (GuestRunner; shoal only)",
                      "ns",
                      false,
                      {{"round_trips", double(n)}},
                      [field = p.field](const Timing& t) { return t.*field; },
                      SHOAL_NATIVE(outside_rtt_as(c.workers, sized(n, c), parked, true)),
                      nullptr});
      list.back().scalable = true;
    }
    for (auto [how, name, what] :
         {std::tuple{native::QueueWait::block, "epoll", "epoll_wait(-1) on a CompletionQueue"},
          std::tuple{native::QueueWait::poll, "poll",
                     "a loop polling a CompletionQueue (set_polling: no eventfd)"}}) {
      for (Pct2 p : outside_pcts) {
        list.push_back({std::string("outside-rtt-") + name + "/" + state + "/" + p.name,
                        std::string(p.name) + " round trip from a non-actor thread, workers " +
                            state + ": then(queue, f) run by " + what + " (shoal only)",
                        "ns",
                        false,
                        {{"round_trips", double(n)}},
                        [field = p.field](const Timing& t) { return t.*field; },
                        SHOAL_NATIVE(outside_rtt_queue(c.workers, sized(n, c), parked, how)),
                        nullptr});
        list.back().scalable = true;
      }
    }
  }
  for (Pct2 p : outside_pcts) {
    list.push_back({std::string("thread-wake/") + p.name,
                    std::string(p.name) +
                        " of waking a thread asleep in a futex, to its return (the machine's "
                        "cost, for outside-rtt/parked; no system)",
                    "ns",
                    false,
                    {{"wakes", double(outside_parked_trips)}},
                    [field = p.field](const Timing& t) { return t.*field; },
                    SHOAL_NATIVE(thread_wake(sized(outside_parked_trips, c))),
                    nullptr});
    list.back().scalable = true;
  }
#ifdef SHOAL_BENCH_CLUSTER
  for (Pct2 p : outside_pcts) {
    list.push_back({std::string("grain-call/") + p.name,
                    std::string(p.name) +
                        " of a grain call from an actor to a grain on its own member: "
                        "Cluster::request + reenter_after, 10 s timeout (compare "
                        "request-future; shoal only)",
                    "ns",
                    false,
                    {{"calls", double(round_trips)}},
                    [field = p.field](const Timing& t) { return t.*field; },
                    SHOAL_NATIVE(grain_call(c.workers, sized(round_trips, c))),
                    nullptr});
    list.back().scalable = true;
  }
#endif
  for (Pct2 p : outside_pcts) {
    list.push_back({std::string("line-bounce/") + p.name,
                    std::string(p.name) +
                        " of two spinning threads handing one cache line there and back (the "
                        "machine's floor for outside-rtt/busy; no system)",
                    "ns",
                    false,
                    {{"round_trips", double(outside_busy_trips)}},
                    [field = p.field](const Timing& t) { return t.*field; },
                    SHOAL_NATIVE(line_bounce(sized(outside_busy_trips, c))),
                    nullptr});
    list.back().scalable = true;
  }

  list.push_back({"ping-pong+middleware",
                  "ping-pong with one receiver middleware on every actor (shoal only; compare "
                  "with ping-pong)",
                  "msg/s",
                  true,
                  {{"messages", double(pair_messages)}},
                  per_second,
                  SHOAL_NATIVE_SIZED(pair_messages, 1, ping_pong_with_middleware(c.workers, n)),
                  nullptr});
  list.back().scalable = true;

  list.push_back({"restart-storm",
                  "64 pairs; one player of each fails every 10th ball and is restarted "
                  "(shoal only: CAF 0.17 has no restart)",
                  "msg/s",
                  true,
                  {{"pairs", double(storm_pairs)},
                   {"messages", double(storm_messages)},
                   {"fail_every", double(storm_fail_every)}},
                  [](const Timing& t) { return t.items / t.seconds; },
                  SHOAL_NATIVE(restart_storm(c.workers, storm_pairs, sized(storm_messages, c),
                                             storm_fail_every)),
                  nullptr});
  list.back().scalable = true;
  list.push_back({"pairs/64+storm",
                  "pairs/64 while a restart storm of 64 pairs shares the workers (fair: half of "
                  "pairs/64)",
                  "msg/s",
                  true,
                  {{"pairs", double(storm_pairs)},
                   {"messages", double(storm_messages)},
                   {"fail_every", double(storm_fail_every)}},
                  [](const Timing& t) { return t.items / t.seconds; },
                  SHOAL_NATIVE(pairs_beside_storm(c.workers, storm_pairs, sized(storm_messages, c),
                                                  storm_fail_every)),
                  nullptr});
  list.back().scalable = true;

  // Remote: two processes on loopback (a server child process per run).
  // Left out, with a note, where the kernel offers no io_uring: the main
  // command must still run everything else.
  static const std::string no_uring = io::uring_unavailable_reason();
  if (!no_uring.empty()) {
    static bool said = false;
    if (!said) std::fprintf(stderr, "shoal-bench: remote workloads left out: %s\n", no_uring.c_str());
    said = true;
  }
  // What a remote run starts: each system's server process.
  const std::vector<std::pair<std::string, std::string>> servers{
      {"shoal", native::server_program()},
#if SHOAL_BENCH_HAVE_CAF
      {"caf", peer::server_program()},
#endif
  };
  // Plain, then (no CAF twin) with both nodes sharing a cluster secret,
  // then with the link encrypted too.
  struct LinkRow {
    native::Link link;
    const char* prefix;
    const char* says;
  };
  const LinkRow links[] = {
      {native::Link::plain, "remote-stream/", ""},
      {native::Link::authenticated, "remote-stream-auth/",
       "; both nodes share a cluster secret (the connection authenticated)"},
      {native::Link::tls, "remote-stream-tls/",
       "; both nodes share a cluster secret and encrypt the link (TLS 1.3)"},
  };
  for (const LinkRow& l : links) {
    for (unsigned senders : {1u, 16u}) {
      if (!no_uring.empty()) break;
      list.push_back(
          {std::string(l.prefix) + std::to_string(senders),
           std::to_string(senders) + (senders == 1 ? " sender streams" : " senders stream") +
               " small messages to an actor in another process over one connection, "
               "window 20,000 each (acks every 1,000); timed after an untimed pass "
               "of the same size on the same connection" +
               l.says,
           "msg/s",
           true,
           {{"senders", double(senders)},
            {"items", double(remote_items)},
            {"window", double(remote_window)}},
           [](const Timing& t) { return t.items / t.seconds; },
           SHOAL_NATIVE(
               remote_stream_as(c.workers, senders, sized(remote_items, c), remote_window, l.link)),
           SHOAL_CAF(remote_stream(c.workers, senders, sized(remote_items, c), remote_window))});
      list.back().scalable = true;
      list.back().programs = servers;
      if (l.link != native::Link::plain) {  // no twin
        list.back().run_caf = nullptr;
        list.back().programs.resize(1);
      }
    }
  }
  {
    struct Pct {
      const char* name;
      double Timing::*field;
    };
    for (Pct p : {Pct{"p50", &Timing::p50_ns}, Pct{"p99", &Timing::p99_ns},
                  Pct{"p99.9", &Timing::p999_ns}}) {
      if (!no_uring.empty()) break;
      list.push_back({std::string("remote-rtt/") + p.name,
                      std::string(p.name) +
                          " round trip to an actor in another process, one request in flight",
                      "ns",
                      false,
                      {{"round_trips", double(remote_round_trips)}},
                      [field = p.field](const Timing& t) { return t.*field; },
                      SHOAL_NATIVE(remote_rtt(c.workers, sized(remote_round_trips, c))),
                      SHOAL_CAF(remote_rtt(c.workers, sized(remote_round_trips, c)))});
      list.back().scalable = true;
      list.back().programs = servers;
    }
  }

  // Authentication (io/auth.hpp) and TLS beside plain: steady state and
  // the cost of setting a connection up. CAF 0.17's libcaf_io has neither.
  if (no_uring.empty()) {
    for (const LinkRow& l : links) {
      if (l.link == native::Link::plain) continue;
      const bool tls = l.link == native::Link::tls;
      list.push_back({tls ? "remote-rtt-tls/p50" : "remote-rtt-auth/p50",
                      tls ? "remote-rtt/p50 with both nodes sharing a cluster secret and "
                            "encrypting the link (TLS 1.3)"
                          : "remote-rtt/p50 with both nodes sharing a cluster secret",
                      "ns",
                      false,
                      {{"round_trips", double(remote_round_trips)}},
                      [](const Timing& t) { return t.p50_ns; },
                      SHOAL_NATIVE(remote_rtt_as(c.workers, sized(remote_round_trips, c), l.link)),
                      nullptr});
      list.back().scalable = true;
      list.back().programs = {servers.front()};
    }
    for (const LinkRow& l : links) {
      const char* name = l.link == native::Link::plain           ? "remote-connect"
                         : l.link == native::Link::authenticated ? "remote-connect-auth"
                                                                 : "remote-connect-tls";
      const char* extra = l.link == native::Link::plain ? ")"
                          : l.link == native::Link::authenticated
                              ? ", nonces and proofs)"
                              : ", TLS 1.3 handshake, nonces and proofs)";
      list.push_back({name,
                      std::string("a new node connects to another process and makes one round "
                                  "trip (node start and stop, TCP connect, handshake") +
                          extra + ", per connection",
                      "us",
                      false,
                      {{"connections", double(remote_connections)}},
                      [](const Timing& t) { return 1e6 * t.seconds / t.items; },
                      SHOAL_NATIVE(remote_connect(c.workers, remote_connections, l.link)),
                      nullptr});
      list.back().programs = {servers.front()};
    }
  }

  list.push_back({"remote-idle",
                  "CPU used by two connected nodes (both processes) with nothing to send, 100 ms "
                  "after their last message",
                  "% core",
                  false,
                  {{"settle_s", 0.1}, {"window_s", 1.0}},
                  [](const Timing& t) { return 100.0 * t.seconds / t.items; },
                  SHOAL_NATIVE(remote_idle(c.workers, 0.1, 1.0)),
                  SHOAL_CAF(remote_idle(c.workers, 0.1, 1.0))});
  list.back().programs = servers;
  list.push_back({"idle",
                  "CPU used by a system with 1,000 idle actors, 100 ms after its last message",
                  "% core",
                  false,
                  {{"actors", 1000.0}, {"settle_s", 0.1}, {"window_s", 1.0}},
                  [](const Timing& t) { return 100.0 * t.seconds / t.items; },
                  SHOAL_NATIVE(idle(c.workers, 1000, 0.1, 1.0)),
                  SHOAL_CAF(idle(c.workers, 1000, 0.1, 1.0))});
  return list;
}

}  // namespace shoal::bench
