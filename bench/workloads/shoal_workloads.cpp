// The shoal side of the macro workloads. Each actor here is written the way a
// user would write it (typed Handles<>, ctx.send, ctx.spawn), not tuned
// against the runtime's internals.
#include "bench/workloads/shoal_workloads.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <cstdio>
#include <latch>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <thread>
#include <vector>

#include "shoal/actor_system.hpp"

namespace shoal::bench::native {

namespace {

using clock = std::chrono::steady_clock;

// The knobs shoal-bench passes besides the worker count (set per run).
thread_local RunConfig bench_options;

SystemConfig config_for(unsigned workers) {
  SystemConfig c;
  c.scheduler.workers = workers;
  c.scheduler.pin_workers = bench_options.pin;
  if (bench_options.throughput != 0) c.throughput = bench_options.throughput;
  if (bench_options.spin_us != 0) {
    c.scheduler.spin_before_park = std::chrono::microseconds(bench_options.spin_us);
  }
  c.actor_stats = bench_options.actor_stats;
  return c;
}

/// The ActorSystem of one run, observed as shoal-bench asks: the flight
/// recorder on from the start; at the end, before the system goes (and
/// after the timed part), the trace written and the statistics printed.
class BenchSystem : public ActorSystem {
 public:
  explicit BenchSystem(SystemConfig c) : ActorSystem(std::move(c)) {
    if (!bench_options.trace_path.empty()) start_trace();
  }
  BenchSystem(const BenchSystem&) = delete;
  BenchSystem& operator=(const BenchSystem&) = delete;
  ~BenchSystem() {
    try {
      if (bench_options.print_stats) std::fprintf(stderr, "\n%s", stats().to_text().c_str());
      if (!bench_options.trace_path.empty()) {
        stop_trace();
        dump_trace(bench_options.trace_path);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shoal-bench: %s\n", e.what());
    }
  }
};

double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

// -- ping-pong, pairs and ring ------------------------------------------------------------
// A Player passes the ball to its partner until it is out of hops: a pair is
// two players partnered with each other, a ring is N players each partnered
// with the next.

/// The ball with `N` bytes of payload, forwarded with every hop.
template <std::size_t N>
struct BallOf {
  std::uint64_t left;
  std::array<std::byte, N> payload{};
};
template <>
struct BallOf<0> {
  std::uint64_t left;
};
using Ball = BallOf<0>;
struct Partner {
  Pid pid;
};

template <std::size_t N>
struct PlayerOf : Handles<PlayerOf<N>, BallOf<N>, Partner> {
  explicit PlayerOf(std::latch* done) : done_(done) {}
  void on(Context&, Partner& p) { partner_ = std::move(p.pid); }
  void on(Context& ctx, BallOf<N>& b) {
    if (b.left == 0) {
      done_->count_down();
      return;
    }
    if constexpr (N == 0) {
      ctx.send(partner_, BallOf<0>{b.left - 1});
    } else {
      ctx.send(partner_, BallOf<N>{b.left - 1, b.payload});
    }
  }
  std::latch* done_;
  Pid partner_;
};
using Player = PlayerOf<0>;

/// Calls f(std::integral_constant<std::size_t, N>{}) for the payload size
/// shoal-bench asked for.
template <class F>
Timing with_payload(F&& f) {
  switch (bench_options.message_bytes) {
    case 0: return f(std::integral_constant<std::size_t, 0>{});
    case 64: return f(std::integral_constant<std::size_t, 64>{});
    case 256: return f(std::integral_constant<std::size_t, 256>{});
    case 1024: return f(std::integral_constant<std::size_t, 1024>{});
    case 4096: return f(std::integral_constant<std::size_t, 4096>{});
  }
  throw std::invalid_argument("no message type with a payload of " +
                              std::to_string(bench_options.message_bytes) + " bytes");
}

/// `pairs` ping-pong pairs in a system made from `config`; `beside`, if
/// set, first starts other work in the same system (untimed).
template <std::size_t N = 0>
Timing run_pairs(unsigned pairs, std::uint64_t messages_per_pair, SystemConfig config,
                 const std::function<void(ActorSystem&)>& beside = {}) {
  using Player = PlayerOf<N>;
  using Ball = BallOf<N>;
  BenchSystem system(std::move(config));
  if (beside) beside(system);
  std::latch done(pairs);
  std::vector<Pid> firsts;
  for (unsigned i = 0; i < pairs; ++i) {
    Pid a = system.spawn<Player>(&done);
    Pid b = system.spawn<Player>(&done);
    system.send(a, Partner{b});
    system.send(b, Partner{a});
    firsts.push_back(a);
  }
  auto t0 = clock::now();
  // One ball per pair; `left` counts the one-way messages still to send.
  for (const Pid& a : firsts) system.send(a, Ball{messages_per_pair - 1});
  done.wait();
  Timing t{seconds_since(t0)};
  system.shutdown();
  return t;
}

// -- fan-in -------------------------------------------------------------------------------

struct Go {};
struct Item {
  std::uint32_t sender;
};
struct Ack {
  std::uint32_t count;
};
struct Senders {
  std::vector<Pid> pids;
};

struct FanSender : Handles<FanSender, Go, Ack> {
  FanSender(Pid receiver, std::uint32_t index, std::uint64_t total, unsigned window)
      : receiver_(std::move(receiver)), index_(index), total_(total), window_(window) {}
  void on(Context& ctx, Go&) { fill(ctx); }
  void on(Context& ctx, Ack& a) {
    acked_ += a.count;
    fill(ctx);
  }
  void fill(Context& ctx) {
    while (sent_ < total_ && sent_ - acked_ < window_) {
      ctx.send(receiver_, Item{index_});
      ++sent_;
    }
  }
  Pid receiver_;
  std::uint32_t index_;
  std::uint64_t total_, sent_ = 0, acked_ = 0;
  unsigned window_;
};

struct FanReceiver : Handles<FanReceiver, Senders, Item> {
  FanReceiver(std::uint64_t expected, unsigned window, std::latch* done)
      : expected_(expected), half_(std::max(1u, window / 2)), done_(done) {}
  void on(Context&, Senders& s) {
    senders_ = std::move(s.pids);
    counts_.assign(senders_.size(), 0);
  }
  void on(Context& ctx, Item& m) {
    if (++counts_[m.sender] == half_) {
      counts_[m.sender] = 0;
      ctx.send(senders_[m.sender], Ack{half_});
    }
    if (++received_ == expected_) done_->count_down();
  }
  std::uint64_t expected_, received_ = 0;
  std::uint32_t half_;
  std::latch* done_;
  std::vector<Pid> senders_;
  std::vector<std::uint32_t> counts_;
};

// -- skynet ------------------------------------------------------------------------------------

struct Start {};
struct Sum {
  std::uint64_t value;
};

struct SkynetNode : Handles<SkynetNode, Start, Sum> {
  SkynetNode(Pid parent, std::uint64_t num, std::uint64_t size)
      : parent_(std::move(parent)), num_(num), size_(size) {}
  void on(Context& ctx, Start&) {
    if (size_ == 1) {
      ctx.send(parent_, Sum{num_});
      ctx.stop();
      return;
    }
    std::uint64_t sub = size_ / 10;
    for (std::uint64_t i = 0; i < 10; ++i) {
      Pid child = ctx.spawn<SkynetNode>(ctx.self(), num_ + i * sub, sub);
      ctx.send(child, Start{});
    }
  }
  void on(Context& ctx, Sum& s) {
    sum_ += s.value;
    if (++replies_ == 10) {
      ctx.send(parent_, Sum{sum_});
      ctx.stop();
    }
  }
  Pid parent_;
  std::uint64_t num_, size_, sum_ = 0;
  unsigned replies_ = 0;
};

struct SkynetRoot : Handles<SkynetRoot, Sum> {
  SkynetRoot(std::uint64_t* out, std::latch* done) : out_(out), done_(done) {}
  void on(Context&, Sum& s) {
    *out_ = s.value;
    done_->count_down();
  }
  std::uint64_t* out_;
  std::latch* done_;
};

// -- spawn and stop -------------------------------------------------------------------------------

/// An actor with no state and no handlers (so it needs no run at spawn: it
/// does not handle Started): what the target's "bytes per idle actor, no
/// user state" measures. Its destructor tells the bench it is gone through
/// `idle_gone`, set by the one spawn_stop run in progress.
std::latch* idle_gone = nullptr;
struct Idle : Handles<Idle> {
  ~Idle() override { idle_gone->count_down(); }
};

struct SpawnAll {
  std::uint64_t count;
  std::latch* spawned;
};
struct StopAll {};

struct Spawner : Handles<Spawner, SpawnAll, StopAll> {
  explicit Spawner(std::vector<Pid>* children) : children_(children) {}
  void on(Context& ctx, SpawnAll& m) {
    for (std::uint64_t i = 0; i < m.count; ++i) children_->push_back(ctx.spawn<Idle>());
    m.spawned->count_down();
  }
  void on(Context& ctx, StopAll&) {
    for (const Pid& c : *children_) ctx.stop(c);
    children_->clear();
  }
  std::vector<Pid>* children_;  // owned by the bench, reserved before the measurement
};

// -- idle
// ---------------------------------------------------------------------------------------------

struct Poke {
  std::latch* done;
};

struct Poked : Handles<Poked, Poke> {
  void on(Context&, Poke& p) { p.done->count_down(); }
};

}  // namespace

// -- the workloads
// ---------------------------------------------------------------------------------

void set_options(const RunConfig& config) { bench_options = config; }
const RunConfig& options() { return bench_options; }
SystemConfig system_config(unsigned workers) { return config_for(workers); }

Timing ping_pong_with_middleware(unsigned workers, std::uint64_t messages) {
  SystemConfig c = config_for(workers);
  c.receiver_middleware.push_back([](Context& ctx, Envelope& msg, ReceiveNext next) {
    thread_local std::uint64_t counted = 0;
    ++counted;
    __asm__ volatile("" : : "r"(counted));  // a metric someone reads: keep the count
    next(ctx, msg);
  });
  return run_pairs(1, messages, std::move(c));
}

void set_message_bytes(unsigned bytes) { bench_options.message_bytes = bytes; }

Timing ping_pong(unsigned workers, std::uint64_t messages) {
  return with_payload([&](auto n) { return run_pairs<n()>(1, messages, config_for(workers)); });
}

Timing pairs(unsigned workers, unsigned pairs, std::uint64_t messages_per_pair) {
  return with_payload(
      [&](auto n) { return run_pairs<n()>(pairs, messages_per_pair, config_for(workers)); });
}

Timing fan_in(unsigned workers, unsigned senders, std::uint64_t messages_per_sender,
              unsigned window) {
  BenchSystem system(config_for(workers));
  std::latch done(1);
  Pid receiver = system.spawn<FanReceiver>(senders * messages_per_sender, window, &done);
  Senders list;
  for (unsigned i = 0; i < senders; ++i) {
    list.pids.push_back(system.spawn<FanSender>(receiver, i, messages_per_sender, window));
  }
  std::vector<Pid> pids = list.pids;
  system.send(receiver, std::move(list));
  auto t0 = clock::now();
  for (const Pid& s : pids) system.send(s, Go{});
  done.wait();
  Timing t{seconds_since(t0)};
  system.shutdown();
  return t;
}

template <std::size_t N>
Timing run_ring(unsigned workers, unsigned actors, std::uint64_t hops) {
  BenchSystem system(config_for(workers));
  std::latch done(1);
  std::vector<Pid> nodes;
  for (unsigned i = 0; i < actors; ++i) nodes.push_back(system.spawn<PlayerOf<N>>(&done));
  for (unsigned i = 0; i < actors; ++i) system.send(nodes[i], Partner{nodes[(i + 1) % actors]});
  auto t0 = clock::now();
  system.send(nodes[0], BallOf<N>{hops});
  done.wait();
  Timing t{seconds_since(t0)};
  system.shutdown();
  return t;
}

Timing ring(unsigned workers, unsigned actors, std::uint64_t hops) {
  return with_payload([&](auto n) { return run_ring<n()>(workers, actors, hops); });
}

Timing skynet(unsigned workers, std::uint64_t leaves) {
  BenchSystem system(config_for(workers));
  std::uint64_t sum = 0;
  std::latch done(1);
  Pid root = system.spawn<SkynetRoot>(&sum, &done);
  reset_peak_rss();
  auto t0 = clock::now();
  Pid top = system.spawn<SkynetNode>(root, 0, leaves);
  system.send(top, Start{});
  done.wait();
  Timing t{seconds_since(t0)};
  t.peak_rss_bytes = peak_rss_bytes();
  if (sum != leaves * (leaves - 1) / 2) {
    throw std::runtime_error("skynet: wrong sum " + std::to_string(sum));
  }
  system.shutdown();
  return t;
}

Timing spawn_stop(unsigned workers, std::uint64_t actors, bool from_actor) {
  BenchSystem system(config_for(workers));
  std::latch gone(static_cast<std::ptrdiff_t>(actors));
  idle_gone = &gone;
  Timing t;
  if (!from_actor) {
    std::vector<Pid> pids;
    pids.reserve(actors);
    GrowthProbe growth;
    auto t0 = clock::now();
    for (std::uint64_t i = 0; i < actors; ++i) pids.push_back(system.spawn<Idle>());
    double spawn_s = seconds_since(t0);
    t.bytes_per_actor = growth.per_item(static_cast<double>(actors));
    auto t1 = clock::now();
    for (const Pid& p : pids) system.stop(p);
    pids.clear();
    gone.wait();
    t.seconds = spawn_s + seconds_since(t1);
  } else {
    std::latch spawned(1);
    std::vector<Pid> children;
    children.reserve(actors);  // outside the measured growth, as for the main thread
    Pid spawner = system.spawn<Spawner>(&children);
    GrowthProbe growth;
    auto t0 = clock::now();
    system.send(spawner, SpawnAll{actors, &spawned});
    spawned.wait();
    double spawn_s = seconds_since(t0);
    t.bytes_per_actor = growth.per_item(static_cast<double>(actors));
    auto t1 = clock::now();
    system.send(spawner, StopAll{});
    gone.wait();
    t.seconds = spawn_s + seconds_since(t1);
  }
  system.shutdown();
  return t;
}

Timing idle(unsigned workers, unsigned actors, double settle_seconds, double window_seconds) {
  BenchSystem system(config_for(workers));
  std::latch done(actors);
  std::vector<Pid> pids;
  for (unsigned i = 0; i < actors; ++i) pids.push_back(system.spawn<Poked>());
  for (const Pid& p : pids) system.send(p, Poke{&done});
  done.wait();
  // A benchmark may sleep: what it measures is the cost of doing nothing.
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_seconds));
  double cpu0 = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(window_seconds));
  Timing t{process_cpu_seconds() - cpu0};
  t.items = window_seconds;
  system.shutdown();
  return t;
}

namespace {

// -- request and reply -----------------------------------------------------------------

struct Req {};
struct Rep {};
struct Kick {
  Pid target;
};

struct Responder : Handles<Responder, Req> {
  void on(Context& ctx, Req&) { ctx.respond(Rep{}); }
};

/// Asks, records the round trip, asks again, until it has `n` samples.
struct Requester : Handles<Requester, Kick, Rep> {
  Requester(std::vector<std::uint32_t>* samples, std::latch* done, bool future)
      : samples_(samples), done_(done), future_(future) {}
  void on(Context& ctx, Kick& k) {
    target_ = k.target;
    ask(ctx, clock::now());
  }
  void on(Context& ctx, Rep&) { answered(ctx); }
  void answered(Context& ctx) {
    auto now = clock::now();
    (*samples_)[i_++] = static_cast<std::uint32_t>(
        std::min<std::int64_t>(std::chrono::nanoseconds(now - t0_).count(), UINT32_MAX));
    if (i_ == samples_->size()) {
      done_->count_down();
      return;
    }
    ask(ctx, now);
  }
  void ask(Context& ctx, clock::time_point now) {
    t0_ = now;
    if (!future_) {
      ctx.request(target_, Req{});
      return;
    }
    auto f = ctx.request_future<Rep>(target_, Req{}, std::chrono::seconds(10));
    ctx.reenter_after(f, [this](Context& c, Result<Rep>& r) {
      if (!r.ok()) throw std::runtime_error(r.what());
      answered(c);
    });
  }
  std::vector<std::uint32_t>* samples_;
  std::latch* done_;
  bool future_;
  Pid target_;
  clock::time_point t0_;
  std::size_t i_ = 0;
};

// -- restart storm -------------------------------------------------------------------------

/// Passes the ball on, then fails every `fail_every`-th ball of this
/// incarnation (so no ball is lost with the failed message).
struct Fragile : Handles<Fragile, Ball> {
  Fragile(Pid partner, unsigned fail_every, std::latch* done)
      : partner_(std::move(partner)), fail_every_(fail_every), done_(done) {}
  void on(Context& ctx, Ball& b) {
    if (b.left == 0) {
      if (done_ != nullptr) done_->count_down();
      return;
    }
    ctx.send(partner_, Ball{b.left - 1});
    if (++seen_ % fail_every_ == 0) throw std::runtime_error("storm");
  }
  Pid partner_;
  unsigned fail_every_;
  std::latch* done_;
  unsigned seen_ = 0;
};

struct MakeStorm {
  unsigned pairs;
  std::uint64_t balls_per_pair;
  unsigned fail_every;
  std::latch* ready;
};

/// The fragile players' parent: restarts them, as often as they fail.
struct StormParent : Handles<StormParent, MakeStorm>, SupervisorStrategy {
  explicit StormParent(std::latch* done) : done_(done) {}
  void on(Context& ctx, MakeStorm& m) {
    for (unsigned i = 0; i < m.pairs; ++i) {
      Pid steady = ctx.spawn<Player>(done_);
      Pid fragile = ctx.spawn<Fragile>(steady, m.fail_every, done_);
      ctx.send(steady, Partner{fragile});
      ctx.send(fragile, Ball{m.balls_per_pair - 1});
    }
    m.ready->count_down();
  }
  const SupervisorStrategy* supervisor_strategy() const noexcept override { return this; }
  void handle_failure(Supervisor& sup, const Pid& child, RestartStats&,
                      const std::exception_ptr&) const override {
    const Pid one[] = {child};
    sup.restart_children(one);
  }
  std::latch* done_;
};

SystemConfig storm_config(unsigned workers) {
  SystemConfig c = config_for(workers);
  c.on_failure = [](const Failure&) {};  // expected by the thousand
  return c;
}

}  // namespace

Timing request_reply(unsigned workers, std::uint64_t round_trips, bool with_timeout) {
  BenchSystem system(config_for(workers));
  std::vector<std::uint32_t> samples(round_trips);  // sized (and touched) before the run
  std::latch done(1);
  Pid responder = system.spawn<Responder>();
  Pid requester = system.spawn<Requester>(&samples, &done, with_timeout);
  auto t0 = clock::now();
  system.send(requester, Kick{responder});
  done.wait();
  Timing t{seconds_since(t0)};
  system.shutdown();
  set_percentiles(t, samples);
  return t;
}

Timing restart_storm(unsigned workers, unsigned pairs, std::uint64_t messages,
                     unsigned fail_every) {
  BenchSystem system(storm_config(workers));
  std::latch done(pairs);
  std::latch ready(1);
  Pid parent = system.spawn<StormParent>(&done);
  auto t0 = clock::now();
  system.send(parent, MakeStorm{pairs, messages / pairs, fail_every, &ready});
  ready.wait();
  done.wait();
  Timing t{seconds_since(t0)};
  t.items = static_cast<double>(messages / pairs * pairs);
  system.shutdown();
  return t;
}

Timing pairs_beside_storm(unsigned workers, unsigned pairs, std::uint64_t messages,
                          unsigned fail_every) {
  const std::uint64_t per = messages / pairs;
  Timing t = run_pairs(pairs, per, storm_config(workers), [&](ActorSystem& system) {
    // The storm: balls that never run out (stopped by shutdown).
    std::latch storm_ready(1);
    Pid parent = system.spawn<StormParent>(nullptr);
    system.send(parent, MakeStorm{pairs, UINT64_MAX / 2, fail_every, &storm_ready});
    storm_ready.wait();
  });
  t.items = static_cast<double>(per * pairs);
  return t;
}

}  // namespace shoal::bench::native
