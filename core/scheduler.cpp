#include "core/scheduler.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "core/detail/stats_snapshot.hpp"
#include "shoal/detail/actor_cell.hpp"
#include "shoal/guest_runner.hpp"
#include "shoal/log.hpp"

namespace shoal::detail {

// -- lifecycle ---------------------------------------------------------------------

namespace {
unsigned worker_count_of(const SchedulerConfig& c) {
  unsigned n = c.workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  if (n > 0xffff) throw std::invalid_argument("shoal: at most 65535 workers");
  return n;
}
}  // namespace

Scheduler::Scheduler(const SchedulerConfig& config)
    : config_(config),
      recorder_(config.deterministic ? 1 : worker_count_of(config), config.trace_events),
      rng_(config.seed) {
  const unsigned n = worker_count_of(config_);
  det_counters_.start_tick = detail::ticks();
  if (!config_.deterministic) {
    workers_.reserve(n);
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
    // relaxed: no worker runs yet; start() publishes by creating the threads.
    idle_state_.store(n * one_unparked, std::memory_order_relaxed);
  }
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  if (started_ || config_.deterministic) return;
  started_ = true;
  long cpus = 0;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (config_.pin_workers && sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    cpus = CPU_COUNT(&allowed);
  }
  // The monitor first: the workers read monitor_ (note_busy) from their start.
  // Taking from stalled workers needs the asymmetric fence that makes using
  // a worker's slot and wheel safe (worker.hpp); reporting long handlers
  // does not.
  const bool takes_stalled =
      config_.stall_after > std::chrono::nanoseconds::zero() && detail::enable_process_fence();
  if (takes_stalled || config_.long_handler > std::chrono::nanoseconds::zero()) {
    monitor_ = std::make_unique<Monitor>(*this, takes_stalled);
    monitor_->start();
  }
  for (auto& w : workers_) {
    w->thread() = std::thread([wp = w.get()] { wp->run(); });
    if (cpus > 0) {
      // Pin worker i to the i-th CPU this process may use.
      long want = static_cast<long>(w->index()) % cpus;
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed) || want-- != 0) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (pthread_setaffinity_np(w->thread().native_handle(), sizeof one, &one) != 0) {
          log(LogLevel::warning, "scheduler",
              "could not pin worker " + std::to_string(w->index()) + " to cpu " +
                  std::to_string(cpu));
        }
        break;
      }
    }
  }
}

void Scheduler::stop() {
  // seq_cst: also the store half of a store→load pair with add_timer (see
  // there); the acquire load in stopping() pairs with it as a release.
  stopping_.store(true, std::memory_order_seq_cst);
  if (monitor_) monitor_->stop();  // first: it may hand cells to the workers
  for (auto& w : workers_) w->parker().unpark();
  for (auto& w : workers_) {
    if (w->thread().joinable()) w->thread().join();
  }
  // Nothing runs any more: the pending timers will never fire.
  for (auto& w : workers_) w->timers().discard_all();
  det_timers_.discard_all();
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with post_timer_or_discard's
  for (auto& w : workers_) w->discard_timer_mail();
}

// -- timers ------------------------------------------------------------------------

void Scheduler::add_timer(Timer* t, std::chrono::nanoseconds delay) noexcept {
  (void)arm_timer(t, delay, /*wake=*/true);
}

bool Scheduler::add_timer_wake_later(Timer* t, std::chrono::nanoseconds delay) noexcept {
  return arm_timer(t, delay, /*wake=*/false);
}

void Scheduler::wake_timer_owner(const Timer* t) noexcept {
  workers_[t->owner()]->wake_if_parked();
}

bool Scheduler::arm_timer(Timer* t, std::chrono::nanoseconds delay, bool wake) noexcept {
  if (delay < std::chrono::nanoseconds::zero()) delay = std::chrono::nanoseconds::zero();
  // Rounded up: a timer never fires before its delay has passed.
  const auto at = now() + delay;
  t->set_deadline(static_cast<std::uint64_t>((at + tick - std::chrono::nanoseconds(1)) / tick));
  Worker* w = Worker::current();
  // The monitor expiring a stalled worker's timers re-arms into that wheel.
  if (w == nullptr) w = detail::expiring_wheel;
  if (w != nullptr && &w->scheduler() == this) {
    t->set_owner(w->index());
    w->insert_timer(t);  // expired, or discarded after the worker is joined
    return false;
  }
  if (stopping_.load(std::memory_order_seq_cst)) {
    t->discard();
    return false;
  }
  if (config_.deterministic) {
    det_timers_.insert(t);
    return false;
  }
  // From outside. The owner is read by whoever cancels the timer: set
  // before the timer is handed on (posted, or its future published).
  const unsigned owner = pick_timer_owner();
  t->set_owner(owner);
  post_timer_or_discard(owner, t, /*cancel=*/false, wake);
  return !wake;
}

unsigned Scheduler::pick_timer_owner() noexcept {
  const auto n = static_cast<unsigned>(workers_.size());
  // relaxed: pairs with no other access; only spreading the timers matters.
  const unsigned start = next_timer_owner_.fetch_add(1, std::memory_order_relaxed) % n;
  // An awake idle worker (searching) takes the mail at once without a
  // wake-up. Not a busy one: it may be inside a long handler — perhaps the
  // one the timeout is for — and would take the mail only after it. A
  // stale look only picks one that must be woken, which post_timer or
  // wake_timer_owner do.
  for (unsigned k = 0; k < n; ++k) {
    const Worker& w = *workers_[(start + k) % n];
    if (!w.looks_parked() && w.is_idle()) return (start + k) % n;
  }
  // Else a sleeper: the one notify_one takes next, so the wake-up that
  // follows (the request's, if it wakes one) is the timer's too. If none
  // sleeps, every worker is busy: the next in turn.
  std::lock_guard lock(idle_mu_);
  return sleepers_.empty() ? start : sleepers_.back();
}

void Scheduler::cancel_timer(Timer* t) noexcept {
  Worker* w = Worker::current();
  const bool deterministic = config_.deterministic;
  if (deterministic) {
    if (t->linked()) {
      det_timers_.remove(t);
      t->drop();  // the wheel's reference
    }
    t->drop();  // the caller's
    return;
  }
  if (w != nullptr && &w->scheduler() == this && w->index() == t->owner()) {
    // The owner's own thread: unlink now (if its arm has arrived).
    if (w->remove_timer(t)) t->drop();  // the wheel's reference
    t->drop();                          // the caller's
    return;
  }
  if (stopping_.load(std::memory_order_seq_cst)) {
    t->drop();  // the wheels are (being) discarded; they give back their own
    return;
  }
  post_timer_or_discard(t->owner(), t, /*cancel=*/true);
}

void Scheduler::post_timer_or_discard(unsigned owner, Timer* t, bool cancel, bool wake) noexcept {
  Worker& w = *workers_[owner];
  w.post_timer(t, cancel, wake);
  // Store→load with stop(): either stop() drains the mail after our post,
  // or we see its flag and drain it ourselves (seq_cst fences both sides).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (stopping_.load(std::memory_order_seq_cst)) w.discard_timer_mail();
}

std::size_t Scheduler::advance_time(std::chrono::nanoseconds d) {
  // relaxed: test thread only (see now()).
  virtual_now_.fetch_add(d.count(), std::memory_order_relaxed);
  return det_timers_.advance(current_tick());
}

// -- making work runnable ----------------------------------------------------------

void Scheduler::schedule_external(ActorCell* cell) noexcept {
  // As in schedule(): a send inside a traced run shows as its flow.
  const bool traced = detail::active_trace != nullptr && detail::active_trace->run_ts == 0;
  if (config_.deterministic) {
    if (traced) [[unlikely]]
      trace_scheduled(cell, ScheduledWhere::global_queue);
    ready_.push_back(cell);
    return;
  }
  if (GuestRunner* g = detail::collecting_guest; g != nullptr && &g->scheduler_ == this) {
    // Kept only while every worker is parked: a worker that is awake (running
    // or spinning) takes the mailbox from the global queue without a wake-up.
    // relaxed: a hint either way. Read stale, the mailbox runs here although a
    // worker just woke, or it is queued below and notify_one() (which orders
    // itself with the parking workers) wakes one: both are correct. stopping_:
    // after stop() began, no guest runs start (acquire pairs with its store).
    if (unparked_of(idle_state_.load(std::memory_order_relaxed)) == 0 &&
        !stopping_.load(std::memory_order_acquire)) {
      if (traced) [[unlikely]]
        trace_scheduled(cell, ScheduledWhere::guest);
      g->keep(cell);
      return;
    }
  }
  if (traced) [[unlikely]]
    trace_scheduled(cell, ScheduledWhere::global_queue);
  // Implicit producer per outside thread: moodycamel keeps each thread's
  // pushes in order, and order across mailboxes does not matter here.
  if (!global_.enqueue(cell)) {
    log(LogLevel::error, "scheduler", "out of memory growing the global queue");
    std::abort();
  }
  notify_one();
}

void Scheduler::reschedule(ActorCell* cell, bool had_turn) noexcept {
  Worker* w = Worker::current();
  if (w != nullptr && &w->scheduler() == this) {
    if (had_turn) {
      w->push_back(cell);
    } else {
      w->push_local(cell);
    }
  } else {
    // A mailbox that used its batch in a guest run goes to the workers, not
    // back to the guest: a flood must not keep the guest from its own work.
    GuestRunner* g = std::exchange(detail::collecting_guest, nullptr);
    schedule_external(cell);
    detail::collecting_guest = g;
  }
}

// -- idle protocol -----------------------------------------------------------------

void Scheduler::notify_one() noexcept {
  // Store→load: the caller's queue push must be ordered before this read of
  // the idle state; the worker side fences between its state RMW and its
  // queue re-check (Worker::park). seq_cst fences on both sides.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const auto n = static_cast<std::uint32_t>(workers_.size());
  std::uint32_t s = idle_state_.load(std::memory_order_seq_cst);
  if (searching_of(s) != 0 || unparked_of(s) >= n) return;
  unsigned index;
  {
    std::lock_guard lock(idle_mu_);
    s = idle_state_.load(std::memory_order_seq_cst);
    if (searching_of(s) != 0 || unparked_of(s) >= n || sleepers_.empty()) return;
    index = sleepers_.back();
    sleepers_.pop_back();
    // The woken worker starts out searching (Worker::park sets its flag).
    idle_state_.fetch_add(one_searching + one_unparked, std::memory_order_seq_cst);
  }
  workers_[index]->parker().unpark();
}

bool Scheduler::try_begin_search() noexcept {
  const auto n = static_cast<std::uint32_t>(workers_.size());
  std::uint32_t s = idle_state_.load(std::memory_order_seq_cst);
  // At most half the workers search (at least one): more only burn CPU.
  if (2 * searching_of(s) >= std::max(n, 2u)) return false;
  idle_state_.fetch_add(one_searching, std::memory_order_seq_cst);
  // Pairs with the fence in notify_one: work queued before a producer saw
  // "nobody searching" is visible to this searcher's first look.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return true;
}

bool Scheduler::end_search() noexcept {
  return searching_of(idle_state_.fetch_sub(one_searching, std::memory_order_seq_cst)) == 1;
}

bool Scheduler::before_park(unsigned index, bool searching) {
  std::lock_guard lock(idle_mu_);
  std::uint32_t dec = one_unparked + (searching ? one_searching : 0);
  std::uint32_t prev = idle_state_.fetch_sub(dec, std::memory_order_seq_cst);
  sleepers_.push_back(index);
  return searching && searching_of(prev) == 1;
}

bool Scheduler::cancel_park(unsigned index) {
  std::lock_guard lock(idle_mu_);
  auto it = std::find(sleepers_.begin(), sleepers_.end(), index);
  if (it == sleepers_.end()) return false;
  sleepers_.erase(it);
  idle_state_.fetch_add(one_unparked, std::memory_order_seq_cst);
  return true;
}

bool Scheduler::has_pending_work() const noexcept {
  // Pairs with the fence in notify_one (see there).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (global_.size_approx() != 0) return true;
  for (const auto& w : workers_) {
    if (w->queue().size() != 0) return true;
  }
  return false;
}

bool Scheduler::looks_quiet(std::uint64_t& progress) const noexcept {
  progress = 0;
  bool quiet = true;
  for (const auto& w : workers_) {
    progress += w->progress();
    quiet &= w->is_idle() && !w->has_local_cells() && w->queue().size() == 0;
  }
  return quiet && !has_pending_work();
}

// -- statistics and tracing -----------------------------------------------------------

std::vector<WorkerStats> Scheduler::worker_stats() const {
  const std::uint64_t now = detail::ticks();
  const double npt = detail::ns_per_tick();
  std::vector<WorkerStats> out;
  if (config_.deterministic) {
    out.push_back(detail::snapshot_of(det_counters_, 0, now, npt));
    return out;
  }
  for (const auto& w : workers_) out.push_back(detail::snapshot_of(w->counters(), w->index(), now, npt));
  return out;
}

std::vector<WorkerStats> Scheduler::guest_stats() const {
  const std::uint64_t now = detail::ticks();
  const double npt = detail::ns_per_tick();
  std::vector<WorkerStats> out;
  std::lock_guard lock(guests_mu_);
  for (std::size_t i = 0; i < guests_.size(); ++i) {
    out.push_back(detail::snapshot_of(guests_[i]->counters(), static_cast<unsigned>(i), now, npt));
    out.back().name = guests_[i]->name();
    out.back().busy_ns = out.back().idle_ns = 0;  // a guest's time is its own work's
  }
  return out;
}

void Scheduler::add_guest(GuestRunner* g) {
  std::lock_guard lock(guests_mu_);
  guests_.push_back(g);
}

void Scheduler::remove_guest(GuestRunner* g) {
  std::lock_guard lock(guests_mu_);
  std::erase(guests_, g);
}

void Scheduler::trace_scheduled(ActorCell* cell, ScheduledWhere where) noexcept {
  detail::WorkerTrace* t = detail::active_trace;
  if (t == nullptr) return;
  t->ring.push({.ts = detail::ticks(),
                .kind = TraceKind::scheduled,
                .x = static_cast<std::uint32_t>(where),
                .a = cell->id(),
                .b = t->actor});
}

// -- deterministic mode ------------------------------------------------------------

bool Scheduler::run_one() {
  if (ready_.empty()) return false;
  std::uniform_int_distribution<std::size_t> pick(0, ready_.size() - 1);
  std::size_t i = pick(rng_);
  ActorCell* cell = ready_[i];
  ready_[i] = ready_.back();
  ready_.pop_back();
  // The test thread records as worker 0 while it runs a mailbox.
  detail::WorkerTrace* t = recorder_.trace_for(0);
  detail::active_trace = t;
  Worker::run_mailbox(cell, det_counters_, t);
  detail::active_trace = nullptr;
  return true;
}

std::size_t Scheduler::run_until_idle(std::size_t max_runs) {
  std::size_t runs = 0;
  while (runs < max_runs && run_one()) ++runs;
  return runs;
}

}  // namespace shoal::detail
