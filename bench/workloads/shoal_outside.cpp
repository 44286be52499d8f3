// The embedding workloads, shoal side: a thread that is no actor (the
// benchmark's main thread, standing in for a server's own thread) asks an
// actor and takes the answer — blocking in Future::get(), or through a
// CompletionQueue its epoll loop waits on — and, to put those beside what
// the machine allows, the cost of one thread waking another.
#include <sched.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/workloads/shoal_workloads.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/completion_queue.hpp"
#include "shoal/detail/config.hpp"
#include "shoal/guest_runner.hpp"

namespace shoal::bench::native {

namespace {

using clock = std::chrono::steady_clock;

struct Ask {
  using reply_type = std::uint64_t;
  std::uint64_t n;
};

struct Echo : Handles<Echo, Ask> {
  void on(Context& ctx, Ask& a) { ctx.respond(a.n); }
};

std::uint32_t ns_since(clock::time_point t0) {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
}

/// Lets every worker park before the next request (and is not timed).
/// A benchmark may sleep: the pause is what it measures around.
void let_workers_park() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

/// An epoll instance watching one descriptor; closed with it.
class Epoll {
 public:
  explicit Epoll(int fd) : ep_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (ep_ < 0) throw std::runtime_error("epoll_create1 failed");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) throw std::runtime_error("epoll_ctl failed");
  }
  ~Epoll() { ::close(ep_); }
  Epoll(const Epoll&) = delete;
  Epoll& operator=(const Epoll&) = delete;
  /// One epoll_wait: `timeout_ms` as epoll's (0: poll, -1: block).
  int wait(int timeout_ms) {
    epoll_event ev;
    return ::epoll_wait(ep_, &ev, 1, timeout_ms);
  }

 private:
  int ep_;
};

}  // namespace

Timing outside_rtt(unsigned workers, std::uint64_t round_trips, bool parked) {
  return outside_rtt_as(workers, round_trips, parked, /*guest=*/false);
}

Timing outside_rtt_as(unsigned workers, std::uint64_t round_trips, bool parked, bool guest) {
  ActorSystem system(system_config(workers));
  Pid echo = system.spawn<Echo>();
  std::vector<std::uint32_t> samples(round_trips);
  // One unmeasured round trip: the actor has run once, the stacks are warm.
  system.request_future(echo, Ask{0}, std::chrono::seconds(10)).get();
  // guest: this thread runs the mailbox its request makes runnable if every
  // worker sleeps (GuestRunner), as an embedder's thread would.
  std::optional<GuestRunner> runner;
  if (guest) runner.emplace(system, "main");
  double measured = 0;
  for (std::uint64_t i = 0; i < round_trips; ++i) {
    if (parked) let_workers_park();
    const auto t0 = clock::now();
    if (runner) runner->collect();
    Future<std::uint64_t> f = system.request_future(echo, Ask{i}, std::chrono::seconds(10));
    if (runner) runner->run();
    const std::uint64_t got = f.get();
    samples[i] = ns_since(t0);
    measured += samples[i];
    if (got != i) throw std::runtime_error("outside_rtt: a wrong answer");
  }
  system.shutdown();
  Timing t{measured * 1e-9};
  set_percentiles(t, samples);
  return t;
}

Timing outside_rtt_queue(unsigned workers, std::uint64_t round_trips, bool parked, QueueWait how) {
  ActorSystem system(system_config(workers));
  CompletionQueue queue(system);
  Epoll loop(queue.fd());
  // A loop that polls tells the queue, so the answering worker writes no
  // eventfd (and the drain reads none).
  queue.set_polling(how == QueueWait::poll);
  Pid echo = system.spawn<Echo>();
  std::vector<std::uint32_t> samples(round_trips + 1);
  double measured = 0;
  // Round trip 0 is unmeasured (as in outside_rtt).
  for (std::uint64_t i = 0; i <= round_trips; ++i) {
    if (parked && i != 0) let_workers_park();
    bool answered = false;
    const auto t0 = clock::now();
    system.request_future(echo, Ask{i}, std::chrono::seconds(10))
        .then(queue, [&, i, t0](Result<std::uint64_t> r) {
          samples[i] = ns_since(t0);
          if (!r.ok() || r.value() != i) throw std::runtime_error("outside_rtt: a wrong answer");
          answered = true;
        });
    for (unsigned empty = 0; !answered;) {
      // What a server's loop does: wait on its descriptors, the queue's
      // among them, and drain the queue when it is readable. One that
      // polls lets another thread on its CPU run once it has had nothing
      // for a while.
      if (how == QueueWait::poll ? (queue.pending() || loop.wait(0) > 0) : loop.wait(-1) > 0) {
        queue.drain();
      } else if (how == QueueWait::poll && ++empty % 64 == 0) {
        sched_yield();
      }
    }
    if (i != 0) measured += samples[i];
  }
  system.shutdown();
  samples.erase(samples.begin());
  Timing t{measured * 1e-9};
  set_percentiles(t, samples);
  return t;
}

Timing thread_wake(std::uint64_t wakes) {
  // One thread wakes another that sleeps in std::atomic::wait (a futex once
  // its short spin is over: the waker lets it fall asleep first); the woken
  // thread takes the time as it returns. Then it hands the turn back.
  std::atomic<std::uint64_t> turn{0};
  clock::time_point t0;  // written before the turn's release store, read after its acquire
  std::vector<std::uint32_t> samples(wakes);
  std::thread other([&] {
    for (std::uint64_t i = 0; i < wakes; ++i) {
      const std::uint64_t want = 2 * i + 1;
      // acquire: pairs with the main thread's release store of the turn.
      for (std::uint64_t t; (t = turn.load(std::memory_order_acquire)) != want;) turn.wait(t);
      samples[i] = ns_since(t0);
      // release: pairs with the main thread's acquire load below.
      turn.store(want + 1, std::memory_order_release);
      turn.notify_one();
    }
  });
  double measured = 0;
  for (std::uint64_t i = 0; i < wakes; ++i) {
    let_workers_park();  // the other thread is asleep by now
    t0 = clock::now();
    // release: pairs with the other thread's acquire load; t0 goes with it.
    turn.store(2 * i + 1, std::memory_order_release);
    turn.notify_one();
    const std::uint64_t want = 2 * i + 2;
    // acquire: pairs with the other thread's release store (samples[i]).
    for (std::uint64_t t; (t = turn.load(std::memory_order_acquire)) != want;) turn.wait(t);
    measured += samples[i];
  }
  other.join();
  Timing t{measured * 1e-9};
  set_percentiles(t, samples);
  return t;
}

Timing line_bounce(std::uint64_t round_trips) {
  // Two threads that both spin hand one counter back and forth: each round
  // trip moves its cache line to the other CPU and back, the least any
  // cross-thread request and answer cost (outside-rtt/busy moves several
  // lines each way). Timed per round trip, a clock read included.
  alignas(64) std::atomic<std::uint64_t> turn{0};
  std::vector<std::uint32_t> samples(round_trips);
  std::thread other([&] {
    for (std::uint64_t i = 0; i < round_trips; ++i) {
      const std::uint64_t want = 2 * i + 1;
      // acquire: pairs with the main thread's release store of the turn.
      while (turn.load(std::memory_order_acquire) != want) detail::cpu_relax();
      // release: pairs with the main thread's acquire load below.
      turn.store(want + 1, std::memory_order_release);
    }
  });
  double measured = 0;
  for (std::uint64_t i = 0; i < round_trips; ++i) {
    const auto t0 = clock::now();
    // release: pairs with the other thread's acquire load.
    turn.store(2 * i + 1, std::memory_order_release);
    // acquire: pairs with the other thread's release store.
    while (turn.load(std::memory_order_acquire) != 2 * i + 2) detail::cpu_relax();
    samples[i] = ns_since(t0);
    measured += samples[i];
  }
  other.join();
  Timing t{measured * 1e-9};
  set_percentiles(t, samples);
  return t;
}

}  // namespace shoal::bench::native
