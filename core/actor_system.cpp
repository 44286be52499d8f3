#include "shoal/actor_system.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/detail/signal_dump.hpp"
#include "core/detail/stats_snapshot.hpp"
#include "core/detail/system_access.hpp"
#include "core/flight_recorder.hpp"
#include "core/scheduler.hpp"
#include "shoal/log.hpp"

namespace shoal {

namespace {

// Ids are handed out in blocks per thread so concurrent spawns do not share
// one counter's cache line; ids are unique per process, which is more than a
// system needs.
std::atomic<std::uint64_t> next_id_block{1};
constexpr std::uint64_t id_block_size = 1024;

}  // namespace

std::uint64_t ActorSystem::new_actor_id() noexcept {
  SHOAL_TLS_INITIAL_EXEC thread_local std::uint64_t next = 0;  // one load on the spawn path
  SHOAL_TLS_INITIAL_EXEC thread_local std::uint64_t end = 0;
  if (next == end) {
    // relaxed: only uniqueness matters; the RMW guarantees it.
    next = next_id_block.fetch_add(id_block_size, std::memory_order_relaxed);
    end = next + id_block_size;
  }
  return next++;
}

// -- lifecycle ---------------------------------------------------------------------------

ActorSystem::ActorSystem(SystemConfig config)
    : config_(std::move(config)),
      guardian_(config_.guardian ? config_.guardian : default_strategy()),
      default_child_(default_strategy()),
      dead_letters_(config_.on_dead_letter),
      scheduler_(std::make_unique<detail::Scheduler>(config_.scheduler)),
      live_shards_(scheduler_->worker_count() + 1) {
  live_ = std::make_unique<LiveShard[]>(live_shards_);
  scheduler_->start();
}

ActorSystem::~ActorSystem() { shutdown(); }

void ActorSystem::shutdown() {
  if (shutting_down_.exchange(true, std::memory_order_seq_cst)) {
    // Someone else is shutting down: wait for them to finish.
    std::unique_lock lock(shutdown_mu_);
    shutdown_cv_.wait(lock, [&] { return shut_down_; });
    return;
  }
  // No spawn can link after this point: link_live checks the flag under the
  // shard lock we take here.
  std::vector<Pid> all;
  for (std::size_t i = 0; i < live_shards_; ++i) {
    std::lock_guard lock(live_[i].mu);
    for (detail::ActorCell* c : live_[i].slots) {
      if (c != nullptr) all.emplace_back(c);
    }
  }
  for (const Pid& p : all) stop(p);
  all.clear();
  if (scheduler_->deterministic()) {
    scheduler_->run_until_idle();
  } else {
    std::unique_lock lock(shutdown_mu_);
    // Each shard is read under its lock: an actor that unlinks after we read
    // its shard sees shutting_down_ (set before) and notifies us. No listed
    // actor left means no actor left: every child's parent waits for it.
    shutdown_cv_.wait(lock, [&] { return listed_actors() == 0; });
  }
  scheduler_->stop();
  {
    std::lock_guard lock(names_mu_);
    names_.clear();
    name_of_.clear();
  }
  std::lock_guard lock(shutdown_mu_);
  shut_down_ = true;
  shutdown_cv_.notify_all();
}

// -- spawning ------------------------------------------------------------------------------

Pid ActorSystem::spawn(const Props& props) {
  return spawn_wrapped(nullptr, {}, &props, [&] { return spawn_from(props, nullptr); });
}

Pid ActorSystem::spawn_from(const Props& props, detail::ActorCell* parent, std::string* name) {
  std::uint32_t throughput = props.throughput() != 0 ? props.throughput() : config_.throughput;
  // The cell keeps the Props (producer for restarts, strategy for its children).
  auto* cell = new detail::ActorCell(this, new_actor_id(), std::make_shared<const Props>(props),
                                     throughput, parent);
  if (name != nullptr) cell->named = true;  // before publication: release_name reads it
  return register_cell(cell, parent);
}

Pid ActorSystem::register_cell(detail::ActorCell* cell, detail::ActorCell* parent) {
  // Read before publication: once the cell is in the live table, shutdown
  // may stop it and a worker may be writing its owner-only flags.
  const bool first_run = cell->needs_first_run();
  cell->init_middleware();
  Pid pid = cell->begin_life();
  // Adopted before it is published: a child stopped (by shutdown) and gone
  // the moment it is live must already be in its parent's list.
  bool stop_at_once = false;
  if (parent != nullptr) {
    try {
      stop_at_once = parent->adopt_child(cell);
    } catch (...) {  // bad_alloc making the parent's extras
      cell->abandon();
      throw;
    }
  }
  // Listed: see LiveShard. A child is not: it is stopped with its parent.
  const bool listed = parent == nullptr || cell->is_instrumented();
  bool live = false;
  if (listed) {
    try {
      live = link_live(cell);
    } catch (...) {  // bad_alloc growing the live table
      if (parent != nullptr) parent->disown_child(cell);
      cell->abandon();
      throw;
    }
  } else {
    // relaxed: the flag only decides the error. A child spawned just as
    // shutdown begins is adopted already, so it is stopped with its parent
    // either way (adopt_child or stop_children).
    live = !shutting_down_.load(std::memory_order_relaxed);
  }
  if (!live) {
    if (parent != nullptr) parent->disown_child(cell);
    cell->abandon();
    throw SpawnError("shoal: spawn after shutdown began");
  }
  count_actors(1);  // before it can run, so before it can die
  // Born scheduled (set_first_actor): the first run delivers Started.
  if (first_run) scheduler_->schedule(cell);
  if (stop_at_once) cell->request_stop();
  return pid;
}

SpawnResult ActorSystem::spawn_named(const Props& props, std::string name) {
  std::string asked = name;
  return spawn_named_wrapped(props, nullptr, asked, std::move(name));
}

SpawnResult ActorSystem::spawn_named_wrapped(const Props& props, detail::ActorCell* parent,
                                             std::string_view asked, std::string full) {
  if (config_.spawn_middleware.empty()) return spawn_named_impl(props, parent, std::move(full));
  SpawnResult r{Pid(), SpawnErrc::refused};  // unless a middleware calls next()
  spawn_wrapped(parent, asked, &props, [&] {
    r = spawn_named_impl(props, parent, std::move(full));
    return r.pid;
  });
  return r;
}

SpawnResult ActorSystem::spawn_named_child(const Props& props, detail::ActorCell& parent,
                                           std::string_view name) {
  std::string full = name_of(Pid(&parent));
  if (full.empty()) full.append("$").append(std::to_string(parent.id()));
  full.append("/").append(name);
  return spawn_named_wrapped(props, &parent, name, std::move(full));
}

SpawnResult ActorSystem::spawn_named_impl(const Props& props, detail::ActorCell* parent,
                                          std::string name) {
  // Holding names_mu_ across the spawn makes check-and-insert atomic, and the
  // new actor cannot release its name (release_name takes names_mu_) before
  // it is listed. The producer runs under the lock: keep it cheap.
  std::lock_guard lock(names_mu_);
  if (names_.find(name) != names_.end()) return {Pid(), SpawnErrc::name_taken};
  Pid pid;
  try {
    pid = spawn_from(props, parent, &name);
  } catch (const SpawnError&) {
    return {Pid(), SpawnErrc::shut_down};
  }
  name_of_.emplace(pid.id(), name);
  names_.emplace(std::move(name), pid);
  return {std::move(pid), SpawnErrc::ok};
}

Pid ActorSystem::lookup(std::string_view name) const {
  std::lock_guard lock(names_mu_);
  auto it = names_.find(std::string(name));
  return it == names_.end() ? Pid() : it->second;
}

std::string ActorSystem::name_of(const Pid& pid) const {
  std::lock_guard lock(names_mu_);
  auto it = name_of_.find(pid.id());
  return it == name_of_.end() ? std::string() : it->second;
}

bool ActorSystem::link_live(detail::ActorCell* cell) {
  int w = scheduler_->current_worker_index();
  std::size_t shard = w < 0 ? 0 : static_cast<std::size_t>(w) + 1;
  LiveShard& s = live_[shard];
  std::lock_guard lock(s.mu);
  // relaxed is not enough here: the flag is read under the lock shutdown()
  // takes after setting it, but it is set outside that lock.
  if (shutting_down_.load(std::memory_order_seq_cst)) return false;
  cell->live_shard = static_cast<std::uint16_t>(shard);
  if (!s.free.empty()) {
    cell->live_slot = s.free.back();
    s.free.pop_back();
    s.slots[cell->live_slot] = cell;
  } else {
    // Keep free.capacity() >= slots.size(), so unlink_live never allocates.
    if (s.free.capacity() <= s.slots.size()) s.free.reserve(2 * s.slots.size() + 64);
    cell->live_slot = static_cast<std::uint32_t>(s.slots.size());
    s.slots.push_back(cell);
  }
  ++s.listed;
  return true;
}

std::uint64_t ActorSystem::unlink_live(detail::ActorCell* cell) noexcept {
  LiveShard& s = live_[cell->live_shard];
  std::lock_guard lock(s.mu);
  s.slots[cell->live_slot] = nullptr;
  s.free.push_back(cell->live_slot);  // never allocates: see link_live
  return --s.listed;
}

std::uint64_t ActorSystem::listed_actors() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < live_shards_; ++i) {
    std::lock_guard lock(live_[i].mu);
    n += live_[i].listed;
  }
  return n;
}

void ActorSystem::count_actors(std::int64_t delta) noexcept {
  const int w = scheduler_->current_worker_index();
  if (w < 0) {
    // Any outside thread: shard 0 has many writers. release: as below.
    live_[0].actors.fetch_add(delta, std::memory_order_release);
    return;
  }
  // This worker is the shard's only writer: no locked instruction needed.
  // relaxed load: our own last store. release store: pairs with the
  // acquire loads in live_actors(), so whoever counts an actor out also
  // sees what its death did (its actor destroyed, its mail drained).
  std::atomic<std::int64_t>& a = live_[static_cast<std::size_t>(w) + 1].actors;
  a.store(a.load(std::memory_order_relaxed) + delta, std::memory_order_release);
}

std::uint64_t ActorSystem::live_actors() const noexcept {
  std::int64_t n = 0;
  for (std::size_t i = 0; i < live_shards_; ++i) {
    n += live_[i].actors.load(std::memory_order_acquire);  // acquire: see count_actors
  }
  // A child counted in on one shard and out on another may be seen out
  // before in while both happen: never report less than nothing.
  return n < 0 ? 0 : static_cast<std::uint64_t>(n);
}

// -- statistics and tracing --------------------------------------------------------------

namespace {
bool went(bool queued) noexcept { return queued; }
bool went(SendResult r) noexcept { return r == SendResult::delivered; }

/// An observed user send to a local actor: stamps `e` (an instrumented
/// target: the stamp the receiver measures the wait by, which is the flow
/// id too; else, while tracing, a flow id), queues it with `push(e)` and,
/// only if it was queued, records the flow's start (timed before the push:
/// the receiver may run at once) and counts it into the target's
/// statistics. Once pushed, `e` is the receiver's: only copies are read.
template <class Push>
auto push_observed(const Pid& to, detail::ActorCell* cell, Envelope* e, Push&& push) noexcept {
  detail::WorkerTrace* t = detail::active_trace;
  ActorStats* s = to.is_instrumented() ? cell->actor_stats() : nullptr;
  if (s == nullptr) {
    if (t != nullptr) mark_of(*e) = t->next_flow();
    return push(e);
  }
  const std::uint64_t now = detail::ticks();
  const std::uint64_t stamp = detail::make_stamp(now, t != nullptr ? t->worker : detail::no_worker);
  mark_of(*e) = stamp;
  const std::uint64_t sent_at = t != nullptr ? t->now() : 0;
  const auto r = push(e);
  if (went(r)) {
    if (t != nullptr) {
      t->ring.push({.ts = sent_at, .kind = TraceKind::flow_out, .a = stamp, .b = t->actor});
    }
    s->note_enqueued(now);  // `to` keeps the cell, and so its statistics, alive
  }
  return r;
}
}  // namespace

void ActorSystem::deliver_observed(const Pid& to, Envelope* e) noexcept {
  if (!to.is_actor()) {
    to.process()->post(e);  // a request future (remote proxies later)
    return;
  }
  auto* cell = static_cast<detail::ActorCell*>(to.process());
  // A refused message (a stop) is a dead letter, neither traced nor counted.
  push_observed(to, cell, e, [cell](Envelope* m) { return cell->post_user(m); });
}

bool ActorSystem::wait_until_idle(std::chrono::nanoseconds timeout,
                                  std::chrono::nanoseconds settle) {
  detail::Scheduler& s = *scheduler_;
  if (s.deterministic()) return s.nothing_runnable();
  if (s.current_worker_index() >= 0) {
    throw std::logic_error("shoal: wait_until_idle() on a worker would wait for itself");
  }
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  // Saturated: nanoseconds::max() means no limit.
  const auto end = timeout >= clock::time_point::max() - start
                       ? clock::time_point::max()
                       : start + std::chrono::duration_cast<clock::duration>(timeout);
  std::uint64_t before = 0;
  bool was_quiet = false;
  for (int looks = 1;; ++looks) {
    std::uint64_t progress = 0;
    const bool quiet = s.looks_quiet(progress);
    if (quiet && was_quiet && progress == before) return true;
    was_quiet = quiet;
    before = progress;
    const auto now = clock::now();
    if (now >= end && looks >= 2) return false;  // two looks at least, even with no time
    // A library wait, not a test's: the system is polled, not signalled.
    std::this_thread::sleep_for(std::min<clock::duration>(settle, end - now));
  }
}

SendResult ActorSystem::try_deliver(const Pid& to, Envelope* e) noexcept {
  // What this thread's handler holds goes first, as in deliver().
  if (detail::outbox.first != nullptr) [[unlikely]]
    detail::flush_outbox();
  if (!to.is_actor()) {
    to.process()->post(e);
    return SendResult::delivered;
  }
  auto* cell = static_cast<detail::ActorCell*>(to.process());
  return push_observed(to, cell, e, [cell](Envelope* m) { return cell->try_post_user(m); });
}

namespace {
/// Pids of the live actors `keep` accepts, taken under each shard's lock.
template <class Shards, class Keep>
std::vector<Pid> live_pids(Shards& shards, std::size_t n, Keep&& keep) {
  std::vector<Pid> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::lock_guard lock(shards[i].mu);
    for (detail::ActorCell* c : shards[i].slots) {
      if (c != nullptr && keep(*c)) out.emplace_back(c);
    }
  }
  return out;
}
}  // namespace

SystemStats ActorSystem::stats() const {
  SystemStats s;
  s.workers = scheduler_->worker_stats();
  s.guests = scheduler_->guest_stats();
  s.dead_letters = dead_letters_.total();
  const std::uint64_t now = detail::ticks();
  const double npt = detail::ns_per_tick();
  s.uptime_ns = static_cast<double>(now - start_tick_) * npt;
  // Snapshots outside the locks: a Pid keeps each cell's statistics alive.
  for (const Pid& p : live_pids(live_, live_shards_,
                                [](const detail::ActorCell& c) { return c.is_instrumented(); })) {
    const auto* cell = static_cast<const detail::ActorCell*>(p.process());
    s.actors.push_back(detail::snapshot_of(*cell->actor_stats(), p.id(), name_of(p), now, npt));
  }
  std::sort(s.actors.begin(), s.actors.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return s;
}

Trace ActorSystem::trace() const {
  Trace t;
  t.ns_per_tick = detail::ns_per_tick();
  t.lanes = scheduler_->recorder().read(&t.guest_names);
  // The lanes name the actors' types (TraceKind::actor_type: a static
  // string of this process); a Trace holds names instead.
  // So do long_handler events the message types: an index into
  // Trace::message_types replaces the name's address.
  std::unordered_map<std::uint64_t, std::string_view> types;
  std::unordered_set<std::uint64_t> ids;
  std::unordered_map<std::uint64_t, std::uint64_t> message_type_index;  // address → index
  for (auto& lane : t.lanes) {
    for (TraceEvent& e : lane) {
      if (e.kind == TraceKind::actor_type) {
        types.emplace(e.a, std::string_view(reinterpret_cast<const char*>(e.b), e.x));
      } else if (e.kind == TraceKind::run || e.kind == TraceKind::scheduled) {
        ids.insert(e.a);
      } else if (e.kind == TraceKind::long_handler) {
        ids.insert(e.a);
        auto [it, added] = message_type_index.emplace(e.b, t.message_types.size());
        if (added) t.message_types.emplace_back(reinterpret_cast<const char*>(e.b), e.x);
        e.b = it->second;
        e.x = 0;
      }
    }
    std::erase_if(lane, [](const TraceEvent& e) { return e.kind == TraceKind::actor_type; });
  }
  // Registered names of the live ones, else type and id; unnamed: "#id".
  {
    std::lock_guard lock(names_mu_);
    for (std::uint64_t id : ids) {
      if (auto n = name_of_.find(id); n != name_of_.end()) {
        t.names.emplace(id, n->second);
      } else if (auto ty = types.find(id); ty != types.end()) {
        t.names.emplace(id, std::string(ty->second) + " #" + std::to_string(id));
      }
    }
  }
  // A trace without its statistics beats none: to_json throws on a name
  // that is not UTF-8, and a file holds at most max_trace_stats_bytes.
  try {
    t.stats_json = stats().to_json();
  } catch (const nlohmann::json::exception&) {
    t.stats_json.clear();
  }
  if (t.stats_json.size() > max_trace_stats_bytes) t.stats_json.clear();
  return t;
}

void ActorSystem::dump_trace(const std::string& path) const { save_trace(trace(), path); }

void ActorSystem::dump_trace_on_signal(int signo, std::string path) {
  signal_dump_.reset();
  signal_dump_ = std::make_unique<detail::SignalDump>(signo, [this, path = std::move(path)] {
    try {
      dump_trace(path);
    } catch (const std::exception& e) {
      log(LogLevel::error, "actor system", std::string("trace dump failed: ") + e.what());
    }
  });
}

// -- stopping and dying ----------------------------------------------------------------------

void ActorSystem::stop(const Pid& pid) {
  if (pid.empty()) return;
  if (pid.process()->kind() == Process::Kind::remote) {
    pid.process()->post(emplace_envelope<detail::StopRequest>());
    return;
  }
  if (!pid.process()->is_actor()) return;
  static_cast<detail::ActorCell*>(pid.process())->request_stop();
}

// -- timers ----------------------------------------------------------------------------------

TimerHandle ActorSystem::schedule_send(const Pid& to, Envelope* e, std::chrono::nanoseconds delay,
                                       bool system, detail::CloneFn clone,
                                       std::chrono::nanoseconds interval, bool handle) {
  if (to.empty()) {
    dead_letter(e, 0, DeadLetterReason::empty_pid);
    return {};
  }
  detail::ScheduledSend* t;
  try {
    t = new detail::ScheduledSend(*this, to, e, system, handle ? 2 : 1, clone, interval);
  } catch (...) {
    destroy_envelope(e);
    throw;
  }
  TimerHandle h = handle ? TimerHandle(t) : TimerHandle();
  scheduler_->add_timer(t, delay);  // t may be gone from here on: only h refers to it
  return h;
}

void ActorSystem::deliver_scheduled(const Pid& to, Envelope* e, bool system) noexcept {
  if (system) {
    post_system(to, e);
  } else {
    deliver(to, e);
  }
}

Future<Terminated> ActorSystem::terminated_future(const Pid& pid, std::chrono::nanoseconds timeout,
                                                  bool poison) {
  auto* core = new detail::FutureCore(*this);
  Future<Terminated> f(core);
  if (pid.empty() || !pid.process()->is_actor()) {
    core->fail(RequestErrc::dead_letter, DeadLetterReason::empty_pid);
    return f;
  }
  if (timeout > std::chrono::nanoseconds::zero()) core->arm(timeout);
  // The future watches the actor: a system message, handled before the stop
  // flag (and so before a poison pill); a gone actor answers not_found.
  try {
    post_system(pid, emplace_envelope<detail::Watch>(f.pid()));
    if (poison) {
      this->poison(pid);
    } else {
      stop(pid);
    }
  } catch (...) {
    core->sent();  // arm()'s other half: the timer's owner must see it
    throw;
  }
  core->sent();
  return f;
}

void ActorSystem::release_name(detail::ActorCell& cell) noexcept {
  if (!cell.named) return;
  std::lock_guard lock(names_mu_);
  auto name = name_of_.find(cell.id());
  if (name != name_of_.end()) {
    names_.erase(name->second);
    name_of_.erase(name);
  }
}

void ActorSystem::actor_died(detail::ActorCell& cell) noexcept {
  count_actors(-1);
  if (cell.live_shard == detail::ActorCell::not_listed) return;
  // The total reaches zero only when some shard does: only then may the
  // shutdown waiter's predicate have become true. After the unlink (a lock
  // release): if shutdown() already read our shard, its flag store came
  // before that read, so we see it here.
  if (unlink_live(&cell) == 0 && shutting_down_.load(std::memory_order_seq_cst)) {
    std::lock_guard lock(shutdown_mu_);
    shutdown_cv_.notify_all();
  }
}

// -- reporting -------------------------------------------------------------------------------

void ActorSystem::bounce(const Envelope& e, std::uint64_t target, DeadLetterReason r) noexcept {
  const SenderHeader* h = e.sender_header();
  if (h->sender.empty() || r == DeadLetterReason::no_sender) return;
  if (h->sender.process()->kind() == Process::Kind::future) {
    // A request future fails at once, not at its timeout.
    static_cast<detail::FutureCore*>(h->sender.process())->fail(RequestErrc::dead_letter, r);
    return;
  }
  // Plain (no sender), so a bounce that dies too goes no further.
  try {
    send(h->sender, DeadLetterResponse{target, e.type->name, r});
  } catch (const std::bad_alloc&) {
  }
}

void ActorSystem::report_empty_pid(const MessageType* type) noexcept {
  DeadLetter d{0, type->name, DeadLetterReason::empty_pid};
  dead_letters_.publish(d);
  events_.publish(d);
}

void ActorSystem::report_failure(std::uint64_t actor, const std::exception_ptr& error) noexcept {
  Failure f{actor, describe(error)};
  failures_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  events_.publish(f);
  if (config_.on_failure) {
    try {
      config_.on_failure(f);
    } catch (...) {
      log(LogLevel::warning, "actor system", "the failure observer threw; ignored");
    }
  } else {
    log(LogLevel::error, "actor system", "actor " + std::to_string(actor) + " failed: " + f.what);
  }
}

void ActorSystem::start_trace() { scheduler_->recorder().start(); }
void ActorSystem::stop_trace() noexcept { scheduler_->recorder().stop(); }
bool ActorSystem::tracing() const noexcept { return scheduler_->recorder().recording(); }
std::chrono::nanoseconds ActorSystem::now() const noexcept { return scheduler_->now(); }
std::size_t ActorSystem::advance_time(std::chrono::nanoseconds d) {
  return scheduler_->advance_time(d);
}
bool ActorSystem::run_one() { return scheduler_->run_one(); }
std::size_t ActorSystem::run_until_idle(std::size_t max_runs) {
  return scheduler_->run_until_idle(max_runs);
}

}  // namespace shoal
