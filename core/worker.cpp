#include "core/worker.hpp"

#include <sched.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <utility>

#include "core/scheduler.hpp"
#include "shoal/detail/actor_cell.hpp"
#include "shoal/log.hpp"

namespace shoal::detail {

namespace {

// Every this many ticks the global queue is polled before local work, so
// mailboxes scheduled from outside threads cannot starve (Tokio uses 61: a
// prime, so it does not beat with other periodic work).
constexpr std::uint32_t global_interval = 61;
// LIFO-slot runs in a row, while others wait, before the slot holder goes onto
// the run queue and the oldest entry there runs.
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
      global_producer_(sched.global_queue()) {
  // Here, not in run(): stats() may read it as soon as the scheduler exists.
  counters_.start_tick = detail::ticks();
}

// -- queueing ------------------------------------------------------------------------

void Worker::push_local(ActorCell* cell) noexcept {
  if (!queue_.try_push(cell)) spill(cell);
  sched_.notify_one();
}

void Worker::push_back(ActorCell* cell) noexcept {
  // The back of all runnable work: the owner runs its run queue (newest
  // first) before it looks here again, unless global_interval comes first.
  enqueue_global(&cell, 1);
  sched_.notify_one();
}

void Worker::enqueue_global(ActorCell* const* cells, std::size_t n) noexcept {
  if (!sched_.global_queue().enqueue_bulk(global_producer_, cells, n)) {
    log(LogLevel::error, "worker", "out of memory growing the global queue");
    std::abort();
  }
}

void Worker::spill(ActorCell* extra) noexcept {
  // The run queue is full: move its older half and `extra` to the global
  // queue, where every worker can take them (Tokio's overflow policy).
  std::array<ActorCell*, RunQueue<ActorCell>::capacity / 2 + 1> batch;
  std::size_t n = queue_.pop_many(
      batch.size() - 1, [&, i = std::size_t{0}](ActorCell* c) mutable { batch[i++] = c; });
  batch[n++] = extra;
  enqueue_global(batch.data(), n);
}

// -- finding work ----------------------------------------------------------------------

ActorCell* Worker::pop_global() {
  std::array<ActorCell*, global_batch> batch;
  std::size_t want = std::min(global_batch, RunQueue<ActorCell>::capacity - queue_.size());
  if (want == 0) want = 1;
  std::size_t n = sched_.global_queue().try_dequeue_bulk(global_consumer_, batch.data(), want);
  if (n == 0) return nullptr;
  // Newest first onto the run queue, which pops newest first: the batch
  // runs in the global queue's order (and thieves take its tail).
  for (std::size_t i = n - 1; i > 0; --i) {
    if (!queue_.try_push(batch[i])) spill(batch[i]);
  }
  if (n > 1) sched_.notify_one();
  return batch[0];
}

ActorCell* Worker::next_local() {
  if (--global_countdown_ == 0) {
    global_countdown_ = global_interval;
    refresh_trace();
    // A busy worker's timers are looked at here too (due sends go to the
    // LIFO slot, behind what the global queue gives now).
    poll_timers();
    if (ActorCell* c = pop_global()) return c;
    // The run queue runs newest first: its oldest entry gets a turn here,
    // so a stream of new work cannot keep it waiting for ever.
    if (ActorCell* c = queue_.steal_one()) return c;
  }
  // relaxed: only this thread stores a cell in the slot (the monitor only
  // empties it; after_take settles that race).
  if (ActorCell* c = lifo_slot_.load(std::memory_order_relaxed); c != nullptr) {
    lifo_slot_.store(nullptr, std::memory_order_relaxed);
    c = after_take(c);
    if (c != nullptr) {
      if (lifo_streak_++ < max_lifo_streak || queue_.size() == 0) return c;
      // Streak used up and others are waiting: the oldest of them runs now,
      // the slot holder after it (on top of the run queue).
      push_local(c);
      lifo_streak_ = 0;
      if (ActorCell* oldest = queue_.steal_one()) return oldest;
    }
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
    counters_.steals_tried.add();
    // What else was stolen is on our run queue now; no notify here: when
    // this searcher finds work, the run loop wakes another worker if it was
    // the last searcher (end_search) and work is left (our run queue
    // counts), and that one can steal from us.
    ActorCell* c = sched_.worker(v).queue().steal_into(queue_);
    if (trace_ != nullptr && (c != nullptr || trace_->ring.pushed() == 0 ||
                              counters_.steals_tried.get() % 64 == 0)) [[unlikely]] {
      // A won steal always; a failed one now and then (a spinning worker
      // tries thousands per millisecond, which would flood the ring).
      trace_->ring.push({.ts = detail::ticks(),
                         .kind = TraceKind::steal,
                         .x = c != nullptr ? 1u : 0u,
                         .a = v});
    }
    if (c != nullptr) {
      counters_.steals_won.add();
      return c;
    }
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
      // A search can outlast a scheduling round (the yield below may give
      // the core away for a time slice): look at the recorder again so a
      // timer fired here is traced once tracing is on.
      refresh_trace();
      if (poll_timers()) {
        if (ActorCell* t = next_local()) return t;
      }
      if (clock::now() >= deadline) return nullptr;
      // Let another runnable thread on this core go first (it returns at
      // once when there is none): with more busy threads than cores — an
      // io thread, a second process — a worker that only pauses holds the
      // core the thread it waits for needs, for a whole time slice.
      sched_yield();
    }
    for (int k = 0; k < 16; ++k) detail::cpu_relax();
  }
}

namespace {
/// A timer-mail item: the timer, and whether it is a cancel (the low bit).
struct TimerMail {
  Timer* timer;
  bool cancel;
};
TimerMail decode(std::uintptr_t m) noexcept {
  return {reinterpret_cast<Timer*>(m & ~std::uintptr_t{1}), (m & 1) != 0};
}
}  // namespace

void Worker::post_timer(Timer* t, bool cancel, bool wake) noexcept {
  if (!timer_mail_.enqueue(reinterpret_cast<std::uintptr_t>(t) | (cancel ? 1u : 0u))) {
    log(LogLevel::error, "worker", "out of memory growing a timer queue");
    std::abort();
  }
  // Store→load against park(): it stores parked_ then loads the flag; we
  // store the flag then load parked_ (seq_cst both sides), so either it sees
  // the mail and does not sleep, or we see it parked and wake it.
  has_timer_mail_.store(true, std::memory_order_seq_cst);
  // A cancel does not wake a sleeper: a wake-up costs the canceller (a
  // worker sending an answer, say) 5–18 µs on a VM. Its timer is either in
  // the wheel, and the sleeper wakes by its deadline at the latest and
  // takes the mail before it fires anything (poll_timers), or it fired
  // already and the cancel only gives back a reference. What the
  // cancelled timers hold (a future, a message) waits for that, so once
  // `cancels_before_wake` cancels are queued the sleeper is woken after
  // all: the memory kept is bounded, one wake-up per that many cancels.
  if (cancel) {
    // The queue's size only for a sleeper (an awake owner takes its mail
    // anyway): most cancels go to a worker that is awake.
    if (parked_.load(std::memory_order_seq_cst) &&
        timer_mail_.size_approx() >= cancels_before_wake) {
      parker_.unpark();
    }
    return;
  }
  if (wake) wake_if_parked();
}

void Worker::take_timer_mail() {
  // relaxed first look: the common case is no mail, one plain load. The
  // acquire exchange pairs with the seq_cst store in post_timer (and
  // moodycamel orders the items themselves).
  if (!has_timer_mail_.load(std::memory_order_relaxed) ||
      !has_timer_mail_.exchange(false, std::memory_order_acquire)) {
    return;
  }
  std::uintptr_t m;
  while (timer_mail_.try_dequeue(m)) {
    auto [t, cancel] = decode(m);
    if (cancel) {
      // A cancel: unlink if it is still here (not yet fired, and its arm
      // already arrived), then give back the cancel's own reference.
      if (t->linked()) {
        timers_.remove(t);
        t->drop();  // the wheel's reference
      }
      t->drop();
    } else if (t->is_cancelled()) {
      t->drop();  // cancelled on its way here: never linked
    } else {
      timers_.insert(t);
    }
  }
}

void Worker::discard_timer_mail() noexcept {
  std::uintptr_t m;
  while (timer_mail_.try_dequeue(m)) {
    auto [t, cancel] = decode(m);
    if (cancel) {
      t->drop();  // the wheels are discarded: nothing is linked any more
    } else {
      t->discard();
    }
  }
}

bool Worker::poll_timers() {
  WheelUse use(*this);
  take_timer_mail();
  if (timers_.empty()) return false;
  const std::uint64_t now = sched_.current_tick();
  if (timers_.next_expiry() > now) return false;
  const bool fired = timers_.advance(now) != 0;
  drop_long_run_flag();  // raised while timers fired, no handler ran
  return fired;
}

void Worker::note_woke() noexcept {
  // relaxed (both): only this thread writes it; the monitor's loads of it
  // (progress()) may be stale, as the comment there says.
  woke_.store(woke_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void Worker::drop_long_run_flag() noexcept {
  // relaxed (both): pair with flag_long_run's release store; a dropped flag's data is never read
  if (long_run_.raised.load(std::memory_order_relaxed)) [[unlikely]] {
    long_run_.raised.store(false, std::memory_order_relaxed);
    // The monitor marked the stretch it flagged; moving progress() tells it
    // that stretch is over, so the run that follows can be flagged again.
    note_woke();
  }
}

void Worker::insert_timer(Timer* t) noexcept {
  if (detail::expiring_wheel == this) {
    timers_.insert(t);  // the monitor, inside expire_for_stalled (wheel_mu_ held)
    return;
  }
  WheelUse use(*this);
  timers_.insert(t);
}

bool Worker::remove_timer(Timer* t) noexcept {
  WheelUse use(*this);
  if (!t->linked()) return false;
  timers_.remove(t);
  return true;
}

// -- the wheel against the monitor (see worker.hpp) --------------------------------

Worker::WheelUse::WheelUse(Worker& w) noexcept : w_(w), outer_(w.wheel_depth_++ == 0) {
  if (!outer_) return;  // the outer use marked (or locked) already
  // relaxed: the fence pair orders it (the monitor's process_fence).
  w_.in_wheel_.store(true, std::memory_order_relaxed);
  detail::light_fence();
  // acquire: pairs with the monitor's release clear of the flag, so what it
  // did to the wheel is visible to this use.
  if (w_.wheel_flag_.load(std::memory_order_acquire)) [[unlikely]] {
    // The monitor may be in the wheel: step out of the fast path and wait.
    w_.in_wheel_.store(false, std::memory_order_relaxed);  // relaxed: the lock orders the rest
    w_.wheel_mu_.lock();
    locked_ = true;
  }
}

Worker::WheelUse::~WheelUse() {
  --w_.wheel_depth_;
  if (!outer_) return;
  // relaxed: a hint for the monitor (may_have_timers), stale at worst by a look.
  w_.has_timers_.store(!w_.timers_.empty(), std::memory_order_relaxed);
  if (locked_) {
    w_.wheel_mu_.unlock();
  } else {
    // release: pairs with the monitor's acquire load; this use's changes to
    // the wheel are visible to a monitor that sees the wheel free.
    w_.in_wheel_.store(false, std::memory_order_release);
  }
}

std::size_t Worker::expire_for_stalled(std::uint64_t progress) noexcept {
  std::lock_guard lock(wheel_mu_);
  // relaxed: process_fence orders it before the load below and before every
  // load of the owner's after the fence (WheelUse).
  wheel_flag_.store(true, std::memory_order_relaxed);
  detail::process_fence();
  std::size_t fired = 0;
  // acquire: pairs with WheelUse's release; the owner's last use of the
  // wheel is visible. A use begun after the fence waits for wheel_mu_.
  if (!in_wheel_.load(std::memory_order_acquire) && this->progress() == progress) {
    detail::expiring_wheel = this;
    take_timer_mail();
    const std::uint64_t now = sched_.current_tick();
    if (!timers_.empty() && timers_.next_expiry() <= now) fired = timers_.advance(now);
    detail::expiring_wheel = nullptr;
    // relaxed: as in ~WheelUse.
    has_timers_.store(!timers_.empty(), std::memory_order_relaxed);
  }
  // release: pairs with WheelUse's acquire load of the flag.
  wheel_flag_.store(false, std::memory_order_release);
  return fired;
}

void Worker::park() {
  bool last_searcher = sched_.before_park(index_, searching_);
  searching_ = false;
  // The last searcher re-checks every queue after leaving the count (the
  // fence is inside has_pending_work); a producer that saw it still searching
  // relied on this look.
  if (last_searcher && sched_.has_pending_work()) sched_.notify_one();
  if (sched_.stopping()) return;
  parked_.store(true, std::memory_order_seq_cst);  // see post_timer
  counters_.parks.add();
  const std::uint64_t asleep = trace_ != nullptr ? detail::ticks() : 0;
  if (!has_timer_mail_.load(std::memory_order_seq_cst)) {
    std::uint64_t next = TimerWheel::never;
    {
      WheelUse use(*this);
      if (!timers_.empty()) next = timers_.next_expiry();
    }
    if (next == TimerWheel::never) {
      parker_.park();
    } else {
      // Sleep no longer than until the earliest timer.
      const auto wait = sched_.tick * static_cast<std::int64_t>(next) - sched_.now();
      if (wait > std::chrono::nanoseconds::zero()) parker_.park_for(wait);
    }
  }
  // relaxed: only post_timer reads it, and a stale `true` costs one unpark.
  parked_.store(false, std::memory_order_relaxed);
  // Who woke us? notify_one takes a worker off the sleepers and counts it
  // awake and searching; a timeout, timer mail or a stale unpark does not.
  // (A wake-up token left over from one of those only makes a later park
  // return early, which comes back here.)
  searching_ = !sched_.cancel_park(index_);
  if (searching_) counters_.wakeups.add();  // a waker took us off the sleepers
  if (trace_ != nullptr) {
    const std::uint64_t now = detail::ticks();
    trace_->ring.push({.ts = asleep,
                       .dur = static_cast<std::uint32_t>(std::min<std::uint64_t>(now - asleep, UINT32_MAX)),
                       .kind = TraceKind::park,
                       .x = searching_ ? 1u : 0u});
  }
  refresh_trace();
}

ActorCell* Worker::idle() {
  const std::uint64_t since = detail::ticks();
  counters_.idle_since.set(since);
  ActorCell* c = nullptr;
  while (!sched_.stopping()) {
    c = search();
    if (c != nullptr) break;
    park();
    c = next_local();
    if (c == nullptr && poll_timers()) c = next_local();
    if (c != nullptr) break;
  }
  counters_.idle_since.set(0);
  note_woke();
  sched_.note_busy();  // after the store above: the monitor may be asleep
  drop_long_run_flag();  // raised while no handler ran
  counters_.idle_ticks.add(detail::ticks() - since);
  return c;
}

void Worker::refresh_trace() noexcept {
  trace_ = sched_.recorder().trace_for(index_);
  detail::active_trace = trace_;
}

// -- running a mailbox -------------------------------------------------------------------

namespace {
/// What one run adds to the counters: one bucket increment, usually.
inline void count(WorkerCounters& counters, const RunStats& r) noexcept {
  counters.batch_sizes.record(r.user);
  if (r.system != 0) counters.system_messages.add(r.system);
}
}  // namespace

void Worker::run_mailbox(ActorCell* cell, WorkerCounters& counters,
                         detail::WorkerTrace* trace) noexcept {
  if (trace != nullptr) [[unlikely]] {
    run_traced(cell, counters, *trace, /*may_hold=*/false, detail::no_long_run_watch);
    return;
  }
  count(counters, cell->run());
}

RunStats Worker::run_traced(ActorCell* cell, WorkerCounters& counters, detail::WorkerTrace& t,
                            bool may_hold, detail::LongRunWatch& watch) noexcept {
  t.actor = cell->id();  // before the run: the cell may be gone after it
  t.run_ts = detail::ticks();
  if (const std::uint32_t epoch = t.epoch(); cell->trace_epoch() != epoch) [[unlikely]] {
    // Its first run in this naming epoch (flight_recorder.hpp).
    cell->set_trace_epoch(epoch);
    const std::string_view type = cell->type_name();
    t.ring.push({.ts = t.run_ts,
                 .kind = TraceKind::actor_type,
                 .x = static_cast<std::uint32_t>(std::min<std::size_t>(type.size(), 0xffffff)),
                 .a = t.actor,
                 .b = reinterpret_cast<std::uintptr_t>(type.data())});
  }
  const std::uint64_t flows = t.flow_seq;
  const RunStats r = cell->run(may_hold, watch);
  const std::uint64_t end = detail::ticks();
  t.ring.push({.ts = t.run_ts,
               .dur = static_cast<std::uint32_t>(std::min<std::uint64_t>(end - t.run_ts, UINT32_MAX)),
               .kind = TraceKind::run,
               .x = static_cast<std::uint32_t>(std::min<std::uint64_t>(t.flow_seq - flows, 0xffffff)),
               .a = t.actor,
               .b = std::uint64_t{r.user} | std::uint64_t{r.system} << 32,
               .c = r.first_mark,
               .d = (flows + 1) << 9 | t.worker << 1});
  t.after_push();
  t.actor = 0;
  t.run_ts = 0;
  count(counters, r);
  return r;
}

// -- holding a drained mailbox -------------------------------------------------------------
//
// Ping-pong on one worker: A's handler sends to B, which goes to the LIFO
// slot; A's run ends. Going idle costs A two CASes (Mailbox::finish_run),
// and B's reply then finds A idle and pays a fetch_add to wake it: four
// locked instructions per message with the send's exchange. Instead the
// worker keeps A owned while B runs (A is held): B's reply is one exchange
// and notifies nobody; after B's run the worker sees A's mail and puts A in
// the LIFO slot — one locked instruction per message.
//
// A cell is held only while something is about to run here (the LIFO slot
// is full), and for one run only: then it runs again or is released. Its
// mail from other threads waits for that one run, as the LIFO slot's does;
// it cannot be stolen meanwhile. A held cell is never in a queue, so the
// cell that just ran is never the held one.

void Worker::after_run(ActorCell* cell, bool held) noexcept {
  // relaxed (all loads of held_ and lifo_slot_ here): only this thread
  // stores cells in them; the monitor only empties them (after_take).
  if (held_.load(std::memory_order_relaxed) != nullptr) settle_held();
  if (!held) return;
  if (lifo_slot_.load(std::memory_order_relaxed) != nullptr) {
    // release: pairs with the monitor's acquire exchange (the run's writes
    // to the cell go with it).
    held_.store(cell, std::memory_order_release);
  } else {
    cell->end_hold();
  }
}

void Worker::settle_held() noexcept {
  ActorCell* c = held_.load(std::memory_order_relaxed);
  held_.store(nullptr, std::memory_order_relaxed);
  c = after_take(c);
  if (c == nullptr) return;  // the monitor took it
  if (!c->looks_runnable()) {
    c->end_hold();  // idle, or back in the run queue if mail just came
  } else {
    counters_.held_reruns.add();
    if (lifo_slot_.load(std::memory_order_relaxed) == nullptr) {
      // release: as in schedule_local. Still owned: it runs next without a
      // wake-up.
      lifo_slot_.store(c, std::memory_order_release);
    } else {
      push_local(c);
    }
  }
}

// -- giving up a stalled worker's cells (see worker.hpp) ---------------------------

Worker::Given Worker::give_up_stalled(std::uint64_t progress) noexcept {
  std::lock_guard lock(stall_mu_);
  if (!stall_flag_.load(std::memory_order_relaxed)) {
    // relaxed: process_fence orders it before the loads below and before
    // every load of the owner's that follows the fence (after_take).
    stall_flag_.store(true, std::memory_order_relaxed);
    detail::process_fence();
  }
  // After the fence the owner's stores so far are visible: if it finished
  // the run meanwhile it is not stalled, and it keeps its cells (it will
  // clear the flag at its next take).
  if (this->progress() != progress) return {};
  Given g;
  // acquire (both exchanges): pairs with the owner's release stores; what
  // the owner wrote to the cell before leaving it there is visible here.
  ActorCell* s = lifo_slot_.load(std::memory_order_relaxed);
  if (s != nullptr && lifo_slot_.compare_exchange_strong(s, nullptr, std::memory_order_acquire,
                                                         std::memory_order_relaxed)) {
    g.slot = s;
    taken_.push_back(s);
  }
  ActorCell* h = held_.load(std::memory_order_relaxed);
  if (h != nullptr && held_.compare_exchange_strong(h, nullptr, std::memory_order_acquire,
                                                    std::memory_order_relaxed)) {
    g.held = h;
    taken_.push_back(h);
  }
  if (g.slot != nullptr || g.held != nullptr)
    counters_.stalls_given_up.add();  // the monitor: its only writer
  return g;
}

ActorCell* Worker::reconcile(ActorCell* mine) noexcept {
  std::lock_guard lock(stall_mu_);
  for (ActorCell* t : taken_) {
    if (t == mine) mine = nullptr;  // read before the monitor took it: not ours
  }
  taken_.clear();
  // relaxed: under stall_mu_; the monitor sets it again (and fences) under it.
  stall_flag_.store(false, std::memory_order_relaxed);
  return mine;
}

// -- the loop ----------------------------------------------------------------------

void Worker::run() {
  current_ = this;
  // The monitor may have looked before this thread began and taken the
  // wait for a run; what it flagged then is nobody's.
  note_woke();
  drop_long_run_flag();
  detail::long_run_watch = &long_run_;
  refresh_trace();
  while (!sched_.stopping()) {
    ActorCell* c = next_local();
    if (c == nullptr &&
        held_.load(std::memory_order_relaxed) != nullptr) {  // relaxed: as in after_run
      // Rare: a cell is held only while the LIFO slot is full, but when the
      // slot's streak is used up next_local moves it to the run queue, where
      // thieves may take everything before the pop. A worker must never
      // search or park holding a cell: settle it first.
      settle_held();
      c = next_local();
    }
    if (c == nullptr && poll_timers()) c = next_local();
    if (c == nullptr) c = idle();
    if (c == nullptr) continue;  // stopping
    if (searching_) [[unlikely]] {
      // A searcher (or a worker just woken, which counts as one) that found
      // work and was the last searcher wakes another if more work waits, so
      // a burst spreads over the workers one wake-up at a time, while a lone
      // message (an outside thread's request to sleeping workers) wakes
      // one worker, not two: the second's search shared the two vCPUs with
      // the asker and the first (p50 13 µs, against 32 µs waking it always
      // or after the run). has_pending_work's fence pairs with notify_one's:
      // a producer that saw us still searching skipped its wake-up, and its
      // work is visible to this look.
      searching_ = false;
      if (sched_.end_search() && sched_.has_pending_work()) sched_.notify_one();
    }
    RunStats r;
    if (trace_ == nullptr) [[likely]] {
      r = c->run(/*may_hold=*/true, long_run_);
      count(counters_, r);  // run_mailbox, inlined
    } else {
      r = run_traced(c, counters_, *trace_, /*may_hold=*/true, long_run_);
    }
    after_run(c, r.held);
  }
  // Stopping: nothing holds a cell past the loop. relaxed: as in after_run.
  if (held_.load(std::memory_order_relaxed) != nullptr) settle_held();
  trace_ = nullptr;
  detail::active_trace = nullptr;
  detail::long_run_watch = &detail::no_long_run_watch;
  current_ = nullptr;
}

}  // namespace shoal::detail
