// CAF 0.17 twins of the macro workloads; see caf_workloads.hpp for the exact
// shape of each one.
//
// Design. Every workload builds a fresh `caf::actor_system` with
// `scheduler.max-threads = workers` and CAF's defaults otherwise (work-stealing
// policy, unbounded max-throughput), so one run cannot warm the next. Actors
// are class-based `event_based_actor`s that talk in atoms plus integers, the
// builtin message types CAF 0.17 matches fastest. The clock starts just before
// the kick-off message (or the first spawn) and stops when the main thread
// wakes from a `std::latch` or `std::promise` that the last actor completes;
// nothing sleeps. Set-up and teardown are outside the clock: afterwards every
// surviving actor gets an exit message and the system's destructor waits for
// them all. Latches, promises and handle vectors that actors borrow are
// declared before the `Runtime`, so they outlive every actor.
//
// ping_pong, pairs and ring share one actor, `Relay`: a token carrying the
// hops still to go is forwarded to the next actor, so a ping-pong pair is a
// ring of two and `messages` one-way messages are `messages` hops. The
// kick-off send from the main thread is not counted.
//
// The RSS helpers are private copies of the ones in bench/workload.hpp so that
// this library links on its own, whatever order the linker sees libraries in.
#include "bench/peers/caf_workloads.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <future>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "caf/all.hpp"

namespace shoal::bench::caf_peer {
namespace {

// -- messages ----------------------------------------------------------------

using token_atom = caf::atom_constant<caf::atom("token")>;
using data_atom = caf::atom_constant<caf::atom("data")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using req_atom = caf::atom_constant<caf::atom("req")>;
using rep_atom = caf::atom_constant<caf::atom("rep")>;

// -- system, clock and memory helpers ----------------------------------------

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

/// A config plus the system built from it; the system keeps a reference to
/// its config, so both live and die together (config first in, last out).
class Runtime {
 public:
  explicit Runtime(unsigned workers) : system_(configured(config_, workers)) {}

  caf::actor_system& system() { return system_; }

 private:
  static caf::actor_system_config& configured(caf::actor_system_config& cfg, unsigned workers) {
    cfg.set("scheduler.max-threads", static_cast<std::size_t>(workers));
    return cfg;
  }

  caf::actor_system_config config_;
  caf::actor_system system_;
};

/// Asks every actor to stop and drops the handles; ~actor_system then waits
/// until they have all terminated.
void stop_all(std::vector<caf::actor>& actors) {
  for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  actors.clear();
}

// -- relay: ping_pong, pairs, ring -------------------------------------------

/// One member of a ring. Forwards (token, hops_left) to `next_` with one hop
/// fewer; the actor that receives hops_left == 0 counts `done_` down.
class Relay : public caf::event_based_actor {
 public:
  /// `next` may be null; the ring is then closed by sending this actor its
  /// successor's handle before the token.
  Relay(caf::actor_config& cfg, caf::actor next, std::latch* done)
      : caf::event_based_actor(cfg), next_(std::move(next)), done_(done) {}

  caf::behavior make_behavior() override {
    return {
        [this](caf::actor next) { next_ = std::move(next); },
        [this](token_atom, std::uint64_t hops_left) {
          if (hops_left == 0)
            done_->count_down();
          else
            send(next_, token_atom::value, hops_left - 1);
        },
        // With a payload (--message-size): forwarded with every hop.
        [this](token_atom, std::uint64_t hops_left, const std::string& payload) {
          if (hops_left == 0)
            done_->count_down();
          else
            send(next_, token_atom::value, hops_left - 1, payload);
        },
    };
  }

  // The ring's handles form a cycle of strong references; breaking it here
  // lets the actors be destroyed once they have stopped.
  void on_exit() override { next_ = nullptr; }

 private:
  caf::actor next_;
  std::latch* done_;  // borrowed: outlives the system
};

/// Spawns `size` relays closed into a ring; element 0 receives the token.
std::vector<caf::actor> spawn_ring(caf::actor_system& sys, unsigned size, std::latch* done) {
  std::vector<caf::actor> ring(size);
  // Spawning back to front hands each relay its successor up front; only the
  // last one learns its successor (the first) by message.
  for (unsigned i = size; i-- > 0;)
    ring[i] = sys.spawn<Relay>(i + 1 < size ? ring[i + 1] : caf::actor{}, done);
  caf::anon_send(ring.back(), ring.front());
  return ring;
}

// -- fan-in ------------------------------------------------------------------

/// Sends `total` (data, index) messages to `receiver`, never more than
/// `window` beyond the last acknowledged count.
class FanInSender : public caf::event_based_actor {
 public:
  FanInSender(caf::actor_config& cfg, caf::actor receiver, std::uint32_t index, std::uint64_t total,
              std::uint64_t window)
      : caf::event_based_actor(cfg),
        receiver_(std::move(receiver)),
        index_(index),
        total_(total),
        window_(window) {}

  caf::behavior make_behavior() override {
    return {
        [this](start_atom) { pump(); },
        [this](ack_atom, std::uint64_t acked) {
          acked_ = acked;
          pump();
        },
    };
  }

 private:
  void pump() {
    while (sent_ < total_ && sent_ - acked_ < window_) {
      send(receiver_, data_atom::value, index_);
      ++sent_;
    }
  }

  caf::actor receiver_;
  std::uint32_t index_;
  std::uint64_t total_;
  std::uint64_t window_;
  std::uint64_t sent_ = 0;
  std::uint64_t acked_ = 0;
};

/// Counts messages per sender index, acks a sender every `ack_every` of its
/// messages, and counts `done_` down when every message has arrived.
class FanInReceiver : public caf::event_based_actor {
 public:
  FanInReceiver(caf::actor_config& cfg, unsigned senders, std::uint64_t per_sender,
                std::uint64_t ack_every, std::latch* done)
      : caf::event_based_actor(cfg),
        received_(senders, 0),
        outstanding_(senders * per_sender),
        ack_every_(ack_every),
        done_(done) {}

  caf::behavior make_behavior() override {
    return {
        [this](data_atom, std::uint32_t index) {
          std::uint64_t& count = received_[index];
          if (++count % ack_every_ == 0) {
            // Acks are rare (one per ack_every_ messages), so the cast from
            // the sender pointer costs nothing measurable.
            send(caf::actor_cast<caf::actor>(current_sender()), ack_atom::value, count);
          }
          if (--outstanding_ == 0) done_->count_down();
        },
    };
  }

 private:
  std::vector<std::uint64_t> received_;
  std::uint64_t outstanding_;
  std::uint64_t ack_every_;
  std::latch* done_;  // borrowed: outlives the system
};

// -- skynet ------------------------------------------------------------------

/// A skynet node for the ordinals [first, first + leaves). A leaf answers its
/// ordinal at once and stops; an inner node spawns up to 10 children, sums
/// their answers, answers that sum and stops. The root (no parent) answers
/// through `result`.
class SkynetNode : public caf::event_based_actor {
 public:
  SkynetNode(caf::actor_config& cfg, caf::actor parent, std::promise<std::uint64_t>* result,
             std::uint64_t first, std::uint64_t leaves)
      : caf::event_based_actor(cfg),
        parent_(std::move(parent)),
        result_(result),
        first_(first),
        leaves_(leaves) {}

  caf::behavior make_behavior() override {
    if (leaves_ == 1) {
      answer(first_);
      return {};  // no behaviour: the leaf terminates right away
    }
    // Split the range into up to 10 near-equal parts (exactly leaves/10 each
    // when leaves is a power of ten).
    pending_ = static_cast<unsigned>(std::min<std::uint64_t>(10, leaves_));
    std::uint64_t first = first_;
    for (unsigned i = 0; i < pending_; ++i) {
      std::uint64_t part = leaves_ / pending_ + (i < leaves_ % pending_ ? 1 : 0);
      spawn<SkynetNode>(caf::actor_cast<caf::actor>(this), nullptr, first, part);
      first += part;
    }
    return {
        [this](std::uint64_t part_sum) {
          sum_ += part_sum;
          if (--pending_ == 0) {
            answer(sum_);
            quit();
          }
        },
    };
  }

 private:
  void answer(std::uint64_t value) {
    if (parent_)
      send(parent_, value);
    else
      result_->set_value(value);
  }

  caf::actor parent_;
  std::promise<std::uint64_t>* result_;  // borrowed, root only
  std::uint64_t first_;
  std::uint64_t leaves_;
  std::uint64_t sum_ = 0;
  unsigned pending_ = 0;
};

// -- spawn_stop --------------------------------------------------------------

/// Where idle actors report their start and their destruction.
struct Tally {
  explicit Tally(std::uint64_t actors)
      : started(static_cast<std::ptrdiff_t>(actors)),
        destroyed(static_cast<std::ptrdiff_t>(actors)) {}
  std::latch started;
  std::latch destroyed;
};

/// An actor with no state of its own and a behaviour that is never used; it
/// reports when CAF has initialised it and when its destructor runs.
class IdleActor : public caf::event_based_actor {
 public:
  IdleActor(caf::actor_config& cfg, Tally* tally) : caf::event_based_actor(cfg), tally_(tally) {}

  ~IdleActor() override { tally_->destroyed.count_down(); }

  caf::behavior make_behavior() override {
    tally_->started.count_down();
    return {[](stop_atom) {}};  // a non-empty behaviour keeps the actor alive
  }

 private:
  Tally* tally_;  // borrowed: outlives the system
};

/// Spawns the idle actors in one handler and stops them in another. The
/// handle slots belong to the caller, pre-touched so that their pages do not
/// count as actor memory.
class Spawner : public caf::event_based_actor {
 public:
  Spawner(caf::actor_config& cfg, std::vector<caf::actor>* slots, Tally* tally)
      : caf::event_based_actor(cfg), slots_(slots), tally_(tally) {}

  caf::behavior make_behavior() override {
    // Both handlers leave every child queued on this worker's local deque.
    // CAF 0.17's `double_ended_queue::take_tail` walks the list to find the
    // new tail, holding both of the deque's spinlocks, so each steal by the
    // other worker costs O(queue length) and the run turns quadratic: 3 to 30 s for 100k actors on
    // two workers, and 1M did not finish spawning in 10 minutes. That is CAF under its defaults, so
    // it is measured as is; the caller picks the count.
    return {
        [this](spawn_atom) {
          for (auto& slot : *slots_) slot = spawn<IdleActor>(tally_);
        },
        [this](stop_atom) {
          for (auto& slot : *slots_) {
            send_exit(slot, caf::exit_reason::user_shutdown);
            slot = nullptr;
          }
        },
    };
  }

 private:
  std::vector<caf::actor>* slots_;  // borrowed: the caller waits on tally_
  Tally* tally_;                    // borrowed: outlives the system
};

}  // namespace

// -- request and reply -------------------------------------------------------

/// Asks `dest` with request(...).then(...), one request in flight, and keeps
/// each round trip's latency in a sample array sized before the run.
class Requester : public caf::event_based_actor {
 public:
  Requester(caf::actor_config& cfg, caf::actor dest, std::vector<std::uint32_t>* samples,
            std::latch* done, bool with_timeout)
      : caf::event_based_actor(cfg),
        dest_(std::move(dest)),
        samples_(samples),
        done_(done),
        with_timeout_(with_timeout) {}

  caf::behavior make_behavior() override {
    return {[this](start_atom) { ask(steady::now()); }};
  }

  void on_exit() override { dest_ = nullptr; }

 private:
  void ask(steady::time_point now) {
    t0_ = now;
    auto then = [this](rep_atom) {
      auto t = steady::now();
      (*samples_)[i_++] = static_cast<std::uint32_t>(
          std::min<std::int64_t>(std::chrono::nanoseconds(t - t0_).count(), UINT32_MAX));
      if (i_ == samples_->size()) {
        done_->count_down();
        return;
      }
      ask(t);
    };
    if (with_timeout_) {
      request(dest_, std::chrono::seconds(10), req_atom::value).then(then);
    } else {
      request(dest_, caf::infinite, req_atom::value).then(then);
    }
  }

  caf::actor dest_;
  std::vector<std::uint32_t>* samples_;
  std::latch* done_;
  bool with_timeout_;
  steady::time_point t0_;
  std::size_t i_ = 0;
};

// -- workloads ---------------------------------------------------------------

namespace {

thread_local unsigned message_bytes = 0;  // set_message_bytes

/// Sends the token that starts a relay run, with the payload if one is set.
void kick_off(const caf::actor& first, std::uint64_t hops) {
  if (message_bytes == 0) {
    caf::anon_send(first, token_atom::value, hops);
  } else {
    caf::anon_send(first, token_atom::value, hops, std::string(message_bytes, 'x'));
  }
}

}  // namespace

void set_message_bytes(unsigned bytes) { message_bytes = bytes; }

Timing ping_pong(unsigned workers, std::uint64_t messages) {
  std::latch done(1);
  Runtime rt(workers);
  auto ring = spawn_ring(rt.system(), 2, &done);
  auto start = steady::now();
  kick_off(ring.front(), messages);
  done.wait();
  Timing t;
  t.seconds = seconds_since(start);
  stop_all(ring);
  return t;
}

Timing pairs(unsigned workers, unsigned pairs, std::uint64_t messages_per_pair) {
  std::latch done(pairs);
  Runtime rt(workers);
  std::vector<caf::actor> actors;
  std::vector<caf::actor> firsts;
  for (unsigned p = 0; p < pairs; ++p) {
    auto pair = spawn_ring(rt.system(), 2, &done);
    firsts.push_back(pair.front());
    actors.insert(actors.end(), pair.begin(), pair.end());
  }
  auto start = steady::now();
  for (auto& first : firsts) kick_off(first, messages_per_pair);
  done.wait();
  Timing t;
  t.seconds = seconds_since(start);
  firsts.clear();
  stop_all(actors);
  return t;
}

Timing fan_in(unsigned workers, unsigned senders, std::uint64_t messages_per_sender,
              unsigned window) {
  if (senders == 0 || messages_per_sender == 0)
    return Timing{};  // nothing would ever count `done` down
  std::latch done(1);
  Runtime rt(workers);
  std::uint64_t ack_every = std::max(1u, window / 2);
  std::vector<caf::actor> actors;
  actors.push_back(
      rt.system().spawn<FanInReceiver>(senders, messages_per_sender, ack_every, &done));
  for (unsigned i = 0; i < senders; ++i)
    actors.push_back(rt.system().spawn<FanInSender>(actors.front(), std::uint32_t{i},
                                                    messages_per_sender, std::uint64_t{window}));
  auto start = steady::now();
  for (unsigned i = 1; i <= senders; ++i) caf::anon_send(actors[i], start_atom::value);
  done.wait();
  Timing t;
  t.seconds = seconds_since(start);
  stop_all(actors);
  return t;
}

Timing ring(unsigned workers, unsigned actors, std::uint64_t hops) {
  if (actors == 0) return Timing{};  // no ring to carry the token
  std::latch done(1);
  Runtime rt(workers);
  auto nodes = spawn_ring(rt.system(), actors, &done);
  auto start = steady::now();
  kick_off(nodes.front(), hops);
  done.wait();
  Timing t;
  t.seconds = seconds_since(start);
  stop_all(nodes);
  return t;
}

Timing skynet(unsigned workers, std::uint64_t leaves) {
  if (leaves == 0) return Timing{};  // a root without leaves would never answer
  std::promise<std::uint64_t> result;
  auto sum = result.get_future();
  Runtime rt(workers);
  reset_peak_rss();
  auto start = steady::now();
  rt.system().spawn<SkynetNode>(caf::actor{}, &result, std::uint64_t{0}, leaves);
  sum.wait();
  Timing t;
  t.seconds = seconds_since(start);
  t.peak_rss_bytes = peak_rss_bytes();
  // Every node stops by itself once it has answered.
  return t;
}

Timing spawn_stop(unsigned workers, std::uint64_t actors, bool from_actor) {
  Tally tally(actors);
  // Default-constructed handles write every slot, so the vector's pages are
  // resident before the baseline is taken.
  std::vector<caf::actor> slots(actors);
  Runtime rt(workers);
  caf::actor spawner;
  if (from_actor) spawner = rt.system().spawn<Spawner>(&slots, &tally);
  GrowthProbe growth;

  // Phase 1: spawn, timed until every actor has been initialised and is idle.
  auto start = steady::now();
  if (from_actor) {
    caf::anon_send(spawner, spawn_atom::value);
  } else {
    for (auto& slot : slots) slot = rt.system().spawn<IdleActor>(&tally);
  }
  tally.started.wait();
  double spawn_seconds = seconds_since(start);
  double bytes_per_actor = growth.per_item(static_cast<double>(actors));  // untimed

  // Phase 2: stop, timed until the last destructor has run.
  start = steady::now();
  if (from_actor) {
    caf::anon_send(spawner, stop_atom::value);
  } else {
    for (auto& slot : slots) {
      caf::anon_send_exit(slot, caf::exit_reason::user_shutdown);
      slot = nullptr;  // the last strong reference goes with the actor
    }
  }
  tally.destroyed.wait();
  Timing t;
  t.seconds = spawn_seconds + seconds_since(start);
  t.bytes_per_actor = bytes_per_actor;
  if (from_actor) caf::anon_send_exit(spawner, caf::exit_reason::user_shutdown);
  return t;
}

Timing request_reply(unsigned workers, std::uint64_t round_trips, bool with_timeout) {
  std::vector<std::uint32_t> samples(round_trips);
  std::latch done(1);
  Timing t;
  {
    Runtime rt(workers);
    auto responder =
        rt.system().spawn([]() -> caf::behavior { return {[](req_atom) { return rep_atom::value; }}; });
    auto requester = rt.system().spawn<Requester>(responder, &samples, &done, with_timeout);
    auto start = steady::now();
    caf::anon_send(requester, start_atom::value);
    done.wait();
    t.seconds = seconds_since(start);
    caf::anon_send_exit(requester, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(responder, caf::exit_reason::user_shutdown);
  }
  set_percentiles(t, samples);
  return t;
}

Timing outside_rtt(unsigned workers, std::uint64_t round_trips, bool parked) {
  std::vector<std::uint32_t> samples(round_trips);
  double measured = 0;
  {
    Runtime rt(workers);
    auto echo =
        rt.system().spawn([]() -> caf::behavior { return {[](std::uint64_t n) { return n; }}; });
    caf::scoped_actor self{rt.system()};
    auto ask = [&](std::uint64_t n) {
      std::uint64_t got = ~n;
      self->request(echo, std::chrono::seconds(10), n)
          .receive([&](std::uint64_t r) { got = r; },
                   [](caf::error&) { throw std::runtime_error("outside_rtt: no answer"); });
      if (got != n) throw std::runtime_error("outside_rtt: a wrong answer");
    };
    ask(0);  // unmeasured, as shoal's
    for (std::uint64_t i = 0; i < round_trips; ++i) {
      // A benchmark may sleep: the pause lets the workers park, untimed.
      if (parked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      auto t0 = steady::now();
      ask(i);
      samples[i] = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - t0).count());
      measured += samples[i];
    }
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  }
  Timing t{measured * 1e-9};
  set_percentiles(t, samples);
  return t;
}

Timing idle(unsigned workers, unsigned actors, double settle_seconds, double window_seconds) {
  Runtime rt(workers);
  std::vector<caf::actor> pids;
  caf::scoped_actor self{rt.system()};
  for (unsigned i = 0; i < actors; ++i) {
    pids.push_back(
        rt.system().spawn([]() -> caf::behavior { return {[](std::uint64_t x) { return x; }}; }));
  }
  for (auto& p : pids) self->send(p, std::uint64_t{1});
  for (unsigned i = 0; i < actors; ++i) self->receive([](std::uint64_t) {});
  // A benchmark may sleep: what it measures is the cost of doing nothing.
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_seconds));
  double cpu0 = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(window_seconds));
  Timing t{process_cpu_seconds() - cpu0};
  t.items = window_seconds;
  stop_all(pids);
  return t;
}

}  // namespace shoal::bench::caf_peer
