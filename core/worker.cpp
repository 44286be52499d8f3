#include "core/worker.hpp"

#include <array>
#include <chrono>

#include "core/actor_cell.hpp"
#include "core/scheduler.hpp"

namespace shoal {

namespace {

// Every this many ticks the global queue is polled before local work, so
// mailboxes scheduled from outside threads cannot starve (Tokio uses 61: a
// prime, so it does not beat with other periodic work).
constexpr std::uint32_t global_interval = 61;
// LIFO-slot runs in a row before the slot goes to the back of the run queue.
constexpr std::uint32_t max_lifo_streak = 8;
// Mailboxes taken from the global queue at once (the rest go to the run queue).
constexpr std::size_t global_batch = 32;

std::uint64_t next_random(std::uint64_t& s) noexcept {
  // xorshift64*: enough to pick steal victims.
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1DULL;
}

}  // namespace

Worker::Worker(Scheduler& sched, unsigned index)
    : sched_(sched),
      index_(index),
      rng_(0x9E3779B97F4A7C15ULL * (index + 1)),
      global_consumer_(sched.global_queue()),
      global_producer_(sched.global_queue()) {}

// -- queueing ------------------------------------------------------------------------

void Worker::push_back(ActorCell* cell) noexcept {
  if (!queue_.try_push(cell)) spill(cell);
  sched_.notify_one();
}

void Worker::spill(ActorCell* extra) noexcept {
  // The run queue is full: move half of it and `extra` to the global queue,
  // where every worker can take them (Tokio's overflow policy).
  std::array<ActorCell*, RunQueue<ActorCell>::capacity / 2 + 1> batch;
  std::size_t n = queue_.pop_many(
      batch.size() - 1, [&, i = std::size_t{0}](ActorCell* c) mutable { batch[i++] = c; });
  batch[n++] = extra;
  if (!sched_.global_queue().enqueue_bulk(global_producer_, batch.data(), n)) {
    std::fprintf(stderr, "shoal: out of memory growing the global queue\n");
    std::abort();
  }
}

// -- finding work ----------------------------------------------------------------------

ActorCell* Worker::pop_global() {
  std::array<ActorCell*, global_batch> batch;
  std::size_t want = std::min(global_batch, RunQueue<ActorCell>::capacity - queue_.size());
  if (want == 0) want = 1;
  std::size_t n = sched_.global_queue().try_dequeue_bulk(global_consumer_, batch.data(), want);
  if (n == 0) return nullptr;
  for (std::size_t i = 1; i < n; ++i) {
    if (!queue_.try_push(batch[i])) spill(batch[i]);
  }
  if (n > 1) sched_.notify_one();
  return batch[0];
}

ActorCell* Worker::next_local() {
  if (--global_countdown_ == 0) {
    global_countdown_ = global_interval;
    // A busy worker's timers are looked at here too (due sends go to the
    // LIFO slot, behind what the global queue gives now).
    poll_timers();
    if (ActorCell* c = pop_global()) return c;
  }
  if (lifo_slot_ != nullptr) {
    ActorCell* c = lifo_slot_;
    lifo_slot_ = nullptr;
    if (lifo_streak_++ < max_lifo_streak || queue_.size() == 0) return c;
    // Streak used up and others are waiting: the slot holder goes behind them.
    push_back(c);
  }
  lifo_streak_ = 0;
  if (ActorCell* c = queue_.try_pop()) return c;
  return pop_global();
}

ActorCell* Worker::steal() {
  const unsigned n = sched_.worker_count();
  if (n <= 1) return nullptr;
  unsigned start = static_cast<unsigned>(next_random(rng_) % n);
  for (unsigned k = 0; k < n; ++k) {
    unsigned v = (start + k) % n;
    if (v == index_) continue;
    if (ActorCell* c = sched_.worker(v).queue().steal_into(queue_)) return c;
  }
  return nullptr;
}

ActorCell* Worker::search() {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + sched_.config().spin_before_park;
  for (std::uint32_t i = 0;; ++i) {
    if (!searching_) searching_ = sched_.try_begin_search();
    ActorCell* c = searching_ ? steal() : nullptr;
    if (c == nullptr) c = pop_global();
    if (c != nullptr) return c;
    if (sched_.stopping()) return nullptr;
    if ((i & 7) == 7) {
      if (poll_timers()) {
        if (ActorCell* t = next_local()) return t;
      }
      if (clock::now() >= deadline) return nullptr;
    }
    for (int k = 0; k < 16; ++k) detail::cpu_relax();
  }
}

bool Worker::poll_timers() {
  auto& inbox = sched_.timer_inbox();
  if (inbox.size_approx() != 0) {
    std::array<Timer*, 32> batch;
    while (std::size_t n = inbox.try_dequeue_bulk(batch.data(), batch.size())) {
      for (std::size_t i = 0; i < n; ++i) timers_.insert(batch[i]);
    }
  }
  if (timers_.empty()) return false;
  const std::uint64_t now = sched_.current_tick();
  if (timers_.next_expiry() > now) return false;
  return timers_.advance(now) != 0;
}

void Worker::park() {
  bool last_searcher = sched_.before_park(index_, searching_);
  searching_ = false;
  // The last searcher re-checks every queue after leaving the count (the
  // fence is inside has_pending_work); a producer that saw it still searching
  // relied on this look.
  if (last_searcher && sched_.has_pending_work()) sched_.notify_one();
  if (sched_.stopping()) return;
  if (timers_.empty()) {
    parker_.park();
    // notify_one counted us as searching when it woke us.
    searching_ = true;
    return;
  }
  // Sleep no longer than until the earliest timer.
  const auto wait = sched_.tick * static_cast<std::int64_t>(timers_.next_expiry()) - sched_.now();
  if (wait > std::chrono::nanoseconds::zero() && parker_.park_for(wait)) {
    searching_ = true;  // woken by notify_one, as above
    return;
  }
  // Timed out: we count ourselves awake again, unless a waker took us off
  // the sleepers meanwhile (it counted us; its unpark is on the way: take it,
  // or it would cut a later sleep short).
  if (!sched_.cancel_park(index_)) {
    parker_.park();
    searching_ = true;
  }
}

// -- the loop ----------------------------------------------------------------------

void Worker::run() {
  current_ = this;
  while (!sched_.stopping()) {
    ActorCell* c = next_local();
    if (c == nullptr && poll_timers()) c = next_local();
    if (c == nullptr) c = search();
    if (c == nullptr) {
      park();
      continue;
    }
    if (searching_) [[unlikely]] {
      // A searcher (or a worker just woken, which counts as one) that found
      // work and was the last searcher wakes another, so a burst of work
      // spreads over the workers one wake-up at a time.
      searching_ = false;
      if (sched_.end_search()) sched_.notify_one();
    }
    c->run();
  }
  current_ = nullptr;
}

}  // namespace shoal
