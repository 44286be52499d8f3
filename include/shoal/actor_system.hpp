// ActorSystem: owns the scheduler, the dead letters, the name registry and
// every live actor. The one object an embedding program creates.
//
//   shoal::ActorSystem system({.scheduler = {.workers = 2}});
//   shoal::Pid counter = system.spawn<Counter>();
//   system.send(counter, Add{1});          // from any thread
//   system.stop(counter);
//   system.shutdown();                     // or let the destructor do it
//
// No singletons: several systems may live in one process; each actor belongs
// to the system that spawned it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "shoal/actor.hpp"
#include "shoal/context.hpp"
#include "shoal/dead_letters.hpp"
#include "shoal/detail/active_trace.hpp"
#include "shoal/detail/actor_cell.hpp"
#include "shoal/detail/config.hpp"
#include "shoal/detail/outbox.hpp"
#include "shoal/detail/spin_lock.hpp"
#include "shoal/detail/tsc.hpp"
#include "shoal/envelope.hpp"
#include "shoal/event_stream.hpp"
#include "shoal/future.hpp"
#include "shoal/handles.hpp"
#include "shoal/lifecycle.hpp"
#include "shoal/log.hpp"
#include "shoal/middleware.hpp"
#include "shoal/pid.hpp"
#include "shoal/props.hpp"
#include "shoal/scheduler_config.hpp"
#include "shoal/supervision.hpp"
#include "shoal/timers.hpp"
#include "shoal/trace.hpp"
#include "shoal/version.hpp"

namespace shoal {

namespace detail {
class Scheduler;
class SignalDump;
struct SystemAccess;
}  // namespace detail

/// An actor's handler threw; its supervisor decided what next (supervision.hpp).
struct Failure {
  std::uint64_t actor_id;
  std::string what;
};

struct SystemConfig {
  SchedulerConfig scheduler{};
  /// User messages a mailbox handles per run before yielding its worker
  /// (Props may override). Swept from 8 to 1024 (bench/RESULTS.md, "Default
  /// throughput"): rates are flat within noise from 16 to 256; 64 stays
  /// clear of the low edge while keeping short how long a flooded actor
  /// holds its worker (Pony uses 100, Proto.Actor 300).
  std::uint32_t throughput = 64;
  /// Called for every dead letter, on the thread that produced it.
  DeadLetters::Observer on_dead_letter{};
  /// Called for every actor failure, on the worker where it failed. When
  /// empty, each failure is logged as an error (log.hpp: stderr unless
  /// set_log_sink redirects it).
  std::function<void(const Failure&)> on_failure{};
  /// Supervises the actors the system spawns (those without a parent actor);
  /// null = default_strategy() (one-for-one, 10 restarts within 10 s).
  std::shared_ptr<const SupervisorStrategy> guardian{};
  /// Middleware for every actor (middleware.hpp), outside each actor's own.
  std::vector<ReceiverMiddleware> receiver_middleware{};
  std::vector<SenderMiddleware> sender_middleware{};
  /// Middleware around every spawn.
  std::vector<SpawnMiddleware> spawn_middleware{};
  /// Records every actor's statistics, as Props::with_stats does for one.
  bool actor_stats = false;
  /// How long Future::get() and result() on a thread that is no worker look
  /// for the answer before they sleep: an actor's answer usually comes
  /// within microseconds, and a sleeping thread takes a wake-up (~10–40 µs
  /// on a VM) to see it. The first 2 µs spin; after that the thread yields
  /// between looks, so a worker the request woke onto this CPU runs. Zero:
  /// sleep at once (no CPU spent waiting).
  std::chrono::nanoseconds future_spin{std::chrono::microseconds(50)};
};

/// Thrown by spawn after shutdown has begun.
class SpawnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class SpawnErrc : std::uint8_t {
  ok,
  name_taken,
  shut_down,
  refused,  ///< a spawn middleware returned without spawning
};

/// Outcome of spawn_named: the Pid, or why there is none.
struct SpawnResult {
  Pid pid;
  SpawnErrc error = SpawnErrc::ok;
  explicit operator bool() const noexcept { return error == SpawnErrc::ok; }
};

class ActorSystem {
 public:
  /// Starts the workers (none in deterministic mode).
  explicit ActorSystem(SystemConfig config = {});
  ActorSystem(const ActorSystem&) = delete;
  ActorSystem& operator=(const ActorSystem&) = delete;
  /// shutdown(), then frees everything.
  ~ActorSystem();

  // -- spawning (any thread) ------------------------------------------------------

  /// Spawns an actor from `props`, supervised by the guardian strategy.
  /// Throws SpawnError after shutdown began.
  Pid spawn(const Props& props);
  /// Spawns `A(args...)` with default options.
  template <class A, class... Args>
  Pid spawn(Args&&... args) {
    return spawn_wrapped(nullptr, {}, nullptr,
                         [&] { return spawn_inline<A>(nullptr, std::forward<Args>(args)...); });
  }
  /// Spawns under `name`; name_taken if an actor of that name lives.
  SpawnResult spawn_named(const Props& props, std::string name);
  /// The live actor named `name`, or an empty Pid.
  Pid lookup(std::string_view name) const;
  /// The name `pid` was spawned under, or "" (unnamed, or stopped).
  std::string name_of(const Pid& pid) const;

  // -- messaging (any thread) -----------------------------------------------------

  /// Sends `msg` to `to`. One allocation; never blocks. Thread-safe.
  template <class T>
  void send(const Pid& to, T&& msg) {
    if (to.empty()) [[unlikely]] {
      report_empty_pid(message_type_of<std::decay_t<T>>);
      return;
    }
    deliver(to, make_envelope(std::forward<T>(msg)));
  }
  /// Sends `msg` to `to` unless it cannot be queued now, and says which:
  /// `full` (a bounded mailbox at capacity, whatever its overflow policy:
  /// nothing is evicted) or `stopped` (the actor stopped or was asked to,
  /// or `to` is empty). Then no dead letter is made. A non-const lvalue
  /// `msg` is moved from (not copied) and, when refused, holds the message
  /// again, for the caller to retry, shed or reroute. To a target that is no local actor
  /// (a remote actor, a future, a completion queue) it is send() and says
  /// `delivered`. A message that races the actor's end (queued just as it
  /// dies) is `delivered` and then drained as a dead letter, as a send's
  /// would be. One allocation (freed on refusal); never blocks.
  /// Thread-safe; from a handler, Context::try_send.
  template <class T>
  SendResult try_send(const Pid& to, T&& msg) {
    if (to.empty()) [[unlikely]]
      return SendResult::stopped;
    using V = std::decay_t<T>;
    // A non-const lvalue is moved in and, if refused, moved back out.
    constexpr bool give_back =
        std::is_lvalue_reference_v<T> && !std::is_const_v<std::remove_reference_t<T>>;
    Envelope* e;
    if constexpr (give_back) {
      e = make_envelope(std::move(msg));
    } else {
      e = make_envelope(std::forward<T>(msg));
    }
    const SendResult r = try_deliver(to, e);
    if (r != SendResult::delivered) {
      if constexpr (give_back) msg = std::move(*e->get<V>());
      destroy_envelope(e);
    }
    return r;
  }
  /// How many user messages wait in `pid`'s mailbox (not the one being
  /// handled), where shoal keeps the count: a bounded mailbox
  /// (MailboxConfig::capacity) or an instrumented actor (Props::with_stats,
  /// SystemConfig::actor_stats). 0 once the actor was asked to stop (what
  /// waits then becomes a dead letter, never handled). std::nullopt for
  /// an unbounded, uninstrumented mailbox — it keeps no count, since a
  /// counter every sender bumps would cost each send a second locked
  /// instruction — and for an empty Pid or one that is no local actor. A
  /// reading, stale at once under load. Thread-safe, wait-free, a few loads.
  std::optional<std::size_t> mailbox_depth(const Pid& pid) const noexcept {
    if (pid.empty() || !pid.is_actor()) return std::nullopt;
    return static_cast<const detail::ActorCell*>(pid.process())->mailbox_depth();
  }
  /// Sends `msg` to `to` with `sender` (and `request_id`) attached: the
  /// receiver's respond() answers `sender`. Thread-safe.
  template <class T>
  void request(const Pid& to, T&& msg, const Pid& sender, std::uint64_t request_id = 0) {
    post(to, make_request_envelope(std::forward<T>(msg), sender, request_id));
  }
  /// Sends a built envelope (ownership taken); an empty `to` makes it a
  /// dead letter. Thread-safe.
  void post(const Pid& to, Envelope* e) noexcept {
    if (to.empty()) [[unlikely]] {
      dead_letter(e, 0, DeadLetterReason::empty_pid);
      return;
    }
    deliver(to, e);
  }
  /// Sends `msg` to `to` as a request and returns the future of its answer
  /// (future.hpp): the answer of type R, or RequestError — timeout after
  /// `timeout` (0: none), dead_letter at once if the request cannot be
  /// delivered or handled, shut_down. Thread-safe; inside an actor, use
  /// Context::reenter_after to wait.
  template <class R, AnsweredWith<R> T>
  Future<R> request_future(const Pid& to, T&& msg, std::chrono::nanoseconds timeout) {
    auto* core = new detail::FutureCore(*this);
    Future<R> f(core);
    if (timeout > std::chrono::nanoseconds::zero()) core->arm(timeout);
    try {
      request(to, std::forward<T>(msg), f.pid());
    } catch (...) {
      core->sent();  // the timer still fires (a timeout) on its owner
      throw;
    }
    core->sent();
    return f;
  }
  /// request_future<R> for a request that declares its answer's type R
  /// (`using reply_type = R;` in T).
  template <DeclaresReply T>
  Future<reply_type_of<T>> request_future(const Pid& to, T&& msg,
                                          std::chrono::nanoseconds timeout) {
    return request_future<reply_type_of<T>>(to, std::forward<T>(msg), timeout);
  }
  /// Stops `pid` (as stop()) and returns a future completed with its
  /// Terminated once it is gone (why = not_found if it was gone already).
  Future<Terminated> stop_future(const Pid& pid, std::chrono::nanoseconds timeout) {
    return terminated_future(pid, timeout, /*poison=*/false);
  }
  /// Poisons `pid` (as poison()) and returns a future completed with its
  /// Terminated once it is gone.
  Future<Terminated> poison_future(const Pid& pid, std::chrono::nanoseconds timeout) {
    return terminated_future(pid, timeout, /*poison=*/true);
  }

  /// Sends `msg` to `to` once `delay` has passed (never earlier; at the
  /// scheduler's 1 ms tick, late by at most a tick plus one handler's run).
  /// The message is built now; the returned handle can cancel it. An empty
  /// `to` makes it a dead letter at once. Thread-safe; never blocks.
  template <class T>
  TimerHandle send_after(const Pid& to, T&& msg, std::chrono::nanoseconds delay) {
    return schedule_send(to, make_envelope(std::forward<T>(msg)), delay, /*system=*/false);
  }
  /// Sends a copy of `msg` to `to` after `initial`, then every `interval`
  /// (> 0) until the handle cancels it or the system shuts down. A periodic
  /// send does not catch up: each is armed when the one before is sent.
  template <class T>
  TimerHandle send_every(const Pid& to, T&& msg, std::chrono::nanoseconds initial,
                         std::chrono::nanoseconds interval) {
    using V = std::decay_t<T>;
    static_assert(std::is_copy_constructible_v<V>, "send_every sends copies of the message");
    if (interval <= std::chrono::nanoseconds::zero()) {
      throw std::invalid_argument("shoal: send_every needs an interval > 0");
    }
    return schedule_send(to, make_envelope(std::forward<T>(msg)), initial, /*system=*/false,
                         &detail::clone_envelope<V>, interval);
  }

  /// Asks `pid` to stop after its current message, before its queued user
  /// messages (Mailbox::request_stop).
  /// Harmless if stopped.
  void stop(const Pid& pid);
  /// Asks `pid` to stop after the messages already queued (a PoisonPill
  /// user message). A stopped target makes it a dead letter.
  void poison(const Pid& pid) { send(pid, PoisonPill{}); }

  // -- shutdown -------------------------------------------------------------------

  /// Stops every actor, waits until all are gone, joins the workers.
  /// Messages still queued become dead letters. Idempotent; not from an
  /// actor. Spawning afterwards fails with SpawnError.
  void shutdown();

  // -- observation (any thread) ---------------------------------------------------

  /// Dead letters (DeadLetter), failures (Failure) and supervision
  /// directives (SupervisionEvent) as they happen.
  EventStream& events() noexcept { return events_; }
  /// Sends a copy of every event of type E to `pid` as a message. Returns
  /// the token for events().unsubscribe. Events are sent only while `pid`
  /// lives; after it stops they are skipped (no dead letters: a stopped DeadLetter listener
  /// would otherwise feed itself). Thread-safe.
  template <class E>
  EventStream::Token subscribe(const Pid& pid) {
    return events_.subscribe<E>([this, pid](const E& e) {
      if (pid.empty() || !pid.process()->is_actor() ||
          static_cast<detail::ActorCell*>(pid.process())->is_dead()) {
        return;
      }
      send(pid, E(e));
    });
  }

  DeadLetters& dead_letters() noexcept { return dead_letters_; }
  const DeadLetters& dead_letters() const noexcept { return dead_letters_; }
  /// Actors spawned and not yet fully stopped. Exact while no actor is
  /// being spawned or dying; meanwhile a snapshot that may be off by those.
  /// Lock-free.
  std::uint64_t live_actors() const noexcept;

  // -- statistics and tracing (stats.hpp, trace.hpp) -----------------------------

  /// Every worker's counters and every instrumented live actor's statistics
  /// now. Thread-safe; allocates; takes each live shard's lock briefly.
  SystemStats stats() const;
  /// Starts the flight recorder: every worker records into its ring from
  /// its next scheduling round on (the rings are allocated the first time:
  /// SchedulerConfig::trace_events × 48 bytes per worker). Thread-safe.
  void start_trace();
  /// Stops recording; what was recorded stays readable. Thread-safe.
  void stop_trace() noexcept;
  bool tracing() const noexcept;
  /// What the rings hold (since the last start_trace), with the names of
  /// the live actors in it and the system's statistics (stats(), as JSON).
  /// Thread-safe; does not stop the recording.
  Trace trace() const;
  /// Writes trace() to `path` (trace.hpp). Throws std::runtime_error
  /// naming the path if it cannot be written.
  void dump_trace(const std::string& path) const;
  /// From now on, each `signo` (e.g. SIGUSR2) received by the process
  /// writes trace() to `path` (on a background thread: the handler only
  /// wakes it), until the system is destroyed. Errors go to the log (log.hpp). Throws
  /// if the signal is already used this way by another system.
  void dump_trace_on_signal(int signo, std::string path);
  std::uint64_t failures() const noexcept {
    return failures_.load(std::memory_order_relaxed);  // relaxed: a statistic
  }
  const SystemConfig& config() const noexcept { return config_; }

  /// The scheduler's clock (Scheduler::now): virtual in deterministic mode.
  std::chrono::nanoseconds now() const noexcept;

  /// Waits until the system looks idle: every worker without work, the
  /// global queue empty, twice in a row `settle` apart with no run in
  /// between; true then, false if `timeout` passed first. What it cannot
  /// see does not count: a message a remote node has yet to send, a timer
  /// not yet due, a guest thread's kept mailboxes, a send another thread
  /// is making as it looks. For tests and orderly shutdowns of a running
  /// system; in deterministic mode it only says whether nothing is
  /// runnable now. Not from a worker (std::logic_error: it would wait for
  /// itself).
  bool wait_until_idle(std::chrono::nanoseconds timeout,
                       std::chrono::nanoseconds settle = std::chrono::milliseconds(1));

  // -- deterministic mode (test thread only) --------------------------------------

  /// Moves the virtual clock forward by `d` and fires the timers now due
  /// (their messages are then runnable); returns how many fired.
  std::size_t advance_time(std::chrono::nanoseconds d);

  /// Runs one runnable actor; false if none.
  bool run_one();
  /// Runs until nothing is runnable; returns the number of runs.
  std::size_t run_until_idle(std::size_t max_runs = SIZE_MAX);

  // -- the runtime's side (detail::ActorCell, Context, detail::SystemAccess) ------
 private:
  friend class detail::ActorCell;
  friend class Context;
  friend struct detail::SystemAccess;

  /// Sends an already built envelope (ownership taken) to a non-empty
  /// Pid. Thread-safe.
  [[gnu::always_inline]] void deliver(const Pid& to, Envelope* e) noexcept {
    // What this thread's handler holds goes first (detail/outbox.hpp).
    if (detail::outbox.first != nullptr) [[unlikely]]
      detail::flush_outbox();
    // From the Pid's tags (the target is not read) and this thread's trace.
    if (to.is_plain_actor() && detail::active_trace == nullptr) [[likely]] {
      static_cast<detail::ActorCell*>(to.process())->post_user(e);
    } else {
      deliver_observed(to, e);
    }
  }
  /// Delivers the user messages `first` … `last` (owned; linked through
  /// `next` with relaxed stores, oldest first) to a non-empty Pid: one queue
  /// exchange for all of them where the target allows it (a plain actor
  /// with an unbounded mailbox, not asked to stop, no trace), else one
  /// deliver() each — so a stopped target refuses each (target_stopped)
  /// and a peer streaming to it cannot keep its drain at death going.
  /// Thread-safe.
  void deliver_chain(const Pid& to, Envelope* first, Envelope* last) noexcept {
    if (detail::outbox.first != nullptr) [[unlikely]]
      detail::flush_outbox();
    if (to.is_plain_actor() && detail::active_trace == nullptr &&
        static_cast<detail::ActorCell*>(to.process())->takes_chains_now()) [[likely]] {
      static_cast<detail::ActorCell*>(to.process())->post_user_chain(first, last);
      return;
    }
    for_each_in_chain(first, last, [&](Envelope* e) { deliver(to, e); });
  }
  /// Delivers a system message (ownership taken) to a non-empty Pid: an
  /// actor's system queue, or the process itself if it is no actor.
  /// Thread-safe.
  static void post_system(const Pid& to, Envelope* e) noexcept {
    if (to.is_actor()) [[likely]] {
      static_cast<detail::ActorCell*>(to.process())->post_system(e);
    } else {
      to.process()->post(e);
    }
  }

  /// Spawns from `props` as a child of `parent` (null: a root actor).
  /// A non-empty `name` is registered (the caller holds names_mu_ and
  /// checked it is free). Throws SpawnError after shutdown began.
  Pid spawn_from(const Props& props, detail::ActorCell* parent, std::string* name = nullptr);
  /// Spawns `A(args...)` in the same allocation as its cell, as a child of
  /// `parent` (null: a root actor).
  template <class A, class... Args>
  Pid spawn_inline(detail::ActorCell* parent, Args&&... args) {
    static_assert(std::is_base_of_v<Actor, A>, "spawn<A>: A must derive from shoal::Actor");
    return register_cell(
        new detail::InlineActorCell<A, std::decay_t<Args>...>(
            this, new_actor_id(), config_.throughput, parent, std::forward<Args>(args)...),
        parent);
  }
  /// spawn_named for a parent actor: the name becomes "parent/name".
  SpawnResult spawn_named_child(const Props& props, detail::ActorCell& parent,
                                std::string_view name);
  /// Runs `spawn` (returning the new Pid) through the spawn middleware, if any.
  template <class F>
  Pid spawn_wrapped(detail::ActorCell* parent, std::string_view name, const Props* props,
                    F&& spawn) {
    if (config_.spawn_middleware.empty()) [[likely]]
      return spawn();
    SpawnInfo info{*this, Pid(parent), name, props};
    SpawnNext next(
        &config_.spawn_middleware, 0, &info,
        [](void* f) -> Pid { return (*static_cast<std::remove_reference_t<F>*>(f))(); }, &spawn);
    return next();
  }
  /// deliver() to a request future or a remote process, to an
  /// instrumented actor (stamped), or while this worker traces (a flow id).
  void deliver_observed(const Pid& to, Envelope* e) noexcept;
  /// deliver() for try_send: the caller keeps `e` unless delivered.
  SendResult try_deliver(const Pid& to, Envelope* e) noexcept;
  /// Arms a timer that delivers `e` (owned) to `to` after `delay`, as a user
  /// or a system message; periodic if `clone` is set. Returns a handle only
  /// if `handle` (else an empty one, with no reference counted for it).
  TimerHandle schedule_send(const Pid& to, Envelope* e, std::chrono::nanoseconds delay, bool system,
                            detail::CloneFn clone = nullptr, std::chrono::nanoseconds interval = {},
                            bool handle = true);
  /// Where a timer's send lands (on the worker that fired it).
  void deliver_scheduled(const Pid& to, Envelope* e, bool system) noexcept;
  /// Publishes a dead letter for a message the caller still owns (or that a
  /// queue owns); does not free it. A request's sender is told.
  void report_dead_letter(const Envelope& e, std::uint64_t target, DeadLetterReason r) noexcept {
    DeadLetter d{target, e.type->name, r};
    dead_letters_.publish(d);
    events_.publish(d);
    if (e.type->has_sender) [[unlikely]]
      bounce(e, target, r);
  }
  /// Tells the sender of a request that became a dead letter.
  void bounce(const Envelope& e, std::uint64_t target, DeadLetterReason r) noexcept;
  /// Publishes a dead letter for an envelope the caller owns, and frees it.
  void dead_letter(Envelope* e, std::uint64_t target, DeadLetterReason r) noexcept {
    report_dead_letter(*e, target, r);
    destroy_envelope(e);
  }
  void report_failure(std::uint64_t actor, const std::exception_ptr& error) noexcept;
  /// Forgets the cell's name (if any), so it can be reused from now on.
  void release_name(detail::ActorCell& cell) noexcept;
  /// Counts a dead cell out (and takes it out of the live table if listed).
  void actor_died(detail::ActorCell& cell) noexcept;
  const SupervisorStrategy& guardian_strategy() const noexcept { return *guardian_; }
  const SupervisorStrategy& default_child_strategy() const noexcept { return *default_child_; }

  [[gnu::cold]] void report_empty_pid(const MessageType* type) noexcept;
  Future<Terminated> terminated_future(const Pid& pid, std::chrono::nanoseconds timeout,
                                       bool poison);
  static std::uint64_t new_actor_id() noexcept;
  /// Makes a constructed cell live (a child of `parent` if not null),
  /// schedules its first run and returns its Pid; throws SpawnError (and
  /// frees the cell) after shutdown began.
  Pid register_cell(detail::ActorCell* cell, detail::ActorCell* parent);
  /// The spawn behind spawn_named and spawn_named_child.
  SpawnResult spawn_named_impl(const Props& props, detail::ActorCell* parent, std::string name);
  /// spawn_named_impl through the spawn middleware (which sees `asked`, the
  /// name as the caller gave it; `full` is what gets registered).
  SpawnResult spawn_named_wrapped(const Props& props, detail::ActorCell* parent,
                                  std::string_view asked, std::string full);
  bool link_live(detail::ActorCell* cell);  // false after shutdown began; may throw bad_alloc
  std::uint64_t unlink_live(detail::ActorCell* cell) noexcept;  // the shard's listed count after
  std::uint64_t listed_actors() const noexcept;                 // takes each shard's lock
  /// Adds `delta` to the calling thread's shard's count of actors.
  void count_actors(std::int64_t delta) noexcept;

  // The live table lists the actors shutdown() must stop and stats() must
  // find: those the system spawned (roots: stopping them stops every other
  // actor, since a parent's death waits for its children's) and the
  // instrumented ones. A child is reached through its parent, so a spawn or
  // a death inside a handler touches no shared table; it only counts itself
  // (for live_actors()) on its thread's shard.
  //
  // One shard: a slot table, so that unlinking a dying actor touches the
  // table and not its neighbours (a linked list's unlink writes two other
  // cells, cache misses once there are many), and the count. Written by the
  // threads that spawn into it and by the workers where its actors die: one
  // cache line each for the headers, so two workers' spawns never share one.
  struct alignas(detail::cache_line_size) LiveShard {
    mutable detail::SpinLock mu;
    std::vector<detail::ActorCell*> slots;  // guarded by mu; null = free
    std::vector<std::uint32_t> free;        // guarded by mu; indices of null slots
    std::uint64_t listed = 0;               // guarded by mu: cells in slots
    // Actors spawned minus actors dead on this shard's thread (so it may be
    // negative). Shard 0 (outside threads) is written with fetch_add; a
    // worker's shard by its worker alone, with a plain load and store.
    std::atomic<std::int64_t> actors{0};
  };

  const SystemConfig config_;
  const std::shared_ptr<const SupervisorStrategy> guardian_;
  const std::shared_ptr<const SupervisorStrategy> default_child_;
  DeadLetters dead_letters_;
  EventStream events_;
  // Behind a pointer: the scheduler is the runtime's, not the API's.
  const std::unique_ptr<detail::Scheduler> scheduler_;

  // Live actors, sharded by the spawning thread (one shard per worker plus
  // one for outside threads) so concurrent spawns rarely share a line.
  std::unique_ptr<LiveShard[]> live_;
  std::size_t live_shards_;
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<bool> shutting_down_{false};
  std::mutex shutdown_mu_;
  std::condition_variable shutdown_cv_;
  bool shut_down_ = false;  // guarded by shutdown_mu_

  const std::uint64_t start_tick_ = detail::ticks();
  std::unique_ptr<detail::SignalDump> signal_dump_;

  mutable std::mutex names_mu_;
  std::unordered_map<std::string, Pid> names_;              // guarded by names_mu_
  std::unordered_map<std::uint64_t, std::string> name_of_;  // actor id → name; guarded
};

// -- inline fast paths that need ActorSystem ------------------------------------------

inline bool detail::ActorCell::post_user(Envelope* e) noexcept {
  // No early "is it dead?" read: it would pull the mailbox's producer cache
  // line in shared state just before the push needs it exclusive. Mail to a
  // dead actor is drained into dead letters by the notify protocol.
  Claim c = mailbox_.push_user(e, [this](Envelope* lost, bool is_new) {
    system_->dead_letter(
        lost, id(), is_new ? DeadLetterReason::mailbox_full : DeadLetterReason::dropped_oldest);
  });
  if (c == Claim::schedule) {
    schedule();
  } else if (c == Claim::drain) [[unlikely]] {
    drain_dead();
  } else if (c == Claim::refused) [[unlikely]] {
    system_->dead_letter(e, id(), DeadLetterReason::target_stopped);  // sent after the stop
    return false;
  }
  return true;
}

inline void detail::ActorCell::post_user_chain(Envelope* first, Envelope* last) noexcept {
  Claim c = mailbox_.push_user_chain(first, last);
  if (c == Claim::schedule) {
    schedule();
  } else if (c == Claim::drain) [[unlikely]] {
    drain_dead();
  }
}

template <class T>
void Context::send(const Pid& to, T&& msg) {
  send_from_here(to, make_envelope(std::forward<T>(msg)));
}

template <class T>
SendResult Context::try_send(const Pid& to, T&& msg) {
  return system_->try_send(to, std::forward<T>(msg));
}

inline std::optional<std::size_t> Context::mailbox_depth() const noexcept {
  return system_->mailbox_depth(self_);
}

inline void Context::send_from_here(const Pid& to, Envelope* e) {
  auto* cell = static_cast<detail::ActorCell*>(this);
  if (cell->intercepted()) [[unlikely]] {
    cell->send_through_middleware(to, e);
    return;
  }
  if (detail::active_trace == nullptr) [[likely]] {
    detail::Outbox& o = detail::outbox;
    if (to.is_plain_actor()) [[likely]] {
      if (to.process() == o.last) [[unlikely]] {
        hold(to.process(), e);
        return;
      }
      if (o.first != nullptr) [[unlikely]]
        detail::flush_outbox();  // a burst to another target ends here
      // A target that refused (stopped) begins no burst: the next send
      // to it comes here again and is refused too.
      o.last = static_cast<detail::ActorCell*>(to.process())->post_user(e) ? to.process() : nullptr;
      return;
    }
    // A remote proxy (not an actor, not a future): its bursts are held too.
    const bool remote =
        !to.empty() && !to.is_actor() && to.process()->kind() == Process::Kind::remote;
    if (remote && to.process() == o.last) {
      hold(to.process(), e);
      return;
    }
    // Anything else goes through deliver(), which pushes a held burst first.
    o.last = remote ? to.process() : nullptr;
  }
  system_->post(to, e);
}

inline void Context::hold(Process* target, Envelope* e) noexcept {
  detail::Outbox& o = detail::outbox;
  if (o.first != nullptr) {
    // o.held == target: a send to another target would have flushed.
    // relaxed: pairs with the acquire load of `next` in MpscQueue::try_pop
    // through link()'s release store, which publishes the whole chain.
    o.tail->next.store(e, std::memory_order_relaxed);
    o.tail = e;
    if (++o.count == detail::Outbox::max_held) detail::flush_outbox();
    return;
  }
  const bool local = target->is_actor();
  if (!o.open || (local && !static_cast<detail::ActorCell*>(target)->takes_chains())) {
    // Outside a run (a misused Context), or a bounded mailbox.
    if (local) {
      static_cast<detail::ActorCell*>(target)->post_user(e);
    } else {
      target->post(e);
    }
    return;
  }
  // The caller's Pid may go before the flush: the chain keeps its own
  // reference, one per chain (flush_outbox releases it).
  target->add_ref();
  o.held = target;
  o.first = o.tail = e;
  o.count = 1;
}

template <class R, AnsweredWith<R> T>
Future<R> Context::request_future(const Pid& to, T&& msg, std::chrono::nanoseconds timeout) {
  return system_->request_future<R>(to, std::forward<T>(msg), timeout);
}

template <class R, class F>
void Context::reenter_after(Future<R>& f, F&& cont) {
  struct Step final : detail::ReentryStep {
    explicit Step(F&& c) : fn(std::forward<F>(c)) {}
    void run(Context& ctx) override {
      Result<R> r = detail::take_result<R>(*static_cast<detail::FutureCore*>(core.process()));
      fn(ctx, r);
    }
    std::decay_t<F> fn;
  };
  // Completion posts the message, prepared here: nothing is allocated on
  // the completing thread. Until then the message holds no reference to the
  // future (no cycle through its callback).
  struct Post final : detail::FutureCallback {
    Post(ActorSystem* s, Pid to, Envelope* e) : sys(s), self(std::move(to)), msg(e) {}
    ~Post() override {
      if (msg != nullptr) destroy_envelope(msg);  // never completed
    }
    void run(detail::FutureCore& core) noexcept override {
      msg->get<detail::Reentry>()->step->core = Pid(&core);
      sys->deliver(self, std::exchange(msg, nullptr));
    }
    ActorSystem* sys;
    Pid self;
    Envelope* msg;
  };
  // The message being handled travels with the continuation: while it runs,
  // sender() and respond() refer to that message's sender (so an actor can
  // ask another before it answers its own requester, as in Proto.Actor).
  detail::Reentry r{std::make_unique<Step>(std::forward<F>(cont)), incarnation()};
  const Envelope* current = detail::current_message;
  const SenderHeader* asked = current != nullptr ? current->sender_header() : nullptr;
  Envelope* e = asked != nullptr
                    ? make_request_envelope(std::move(r), asked->sender, asked->request_id)
                    : emplace_envelope<detail::Reentry>(std::move(r));
  std::unique_ptr<detail::FutureCallback> post;
  try {
    post = std::make_unique<Post>(system_, self_, e);
  } catch (...) {
    destroy_envelope(e);
    throw;
  }
  f.core().on_complete(std::move(post));
}

template <class T>
void Context::request(const Pid& to, T&& msg) {
  send_from_here(to, make_request_envelope(std::forward<T>(msg), self_, 0));
}

template <class T>
void Context::respond(T&& msg) {
  const Envelope* e = detail::current_message;
  const SenderHeader* h = e != nullptr ? e->sender_header() : nullptr;
  if (h == nullptr || h->sender.empty()) {
    Envelope* answer = make_envelope(std::forward<T>(msg));
    system_->dead_letter(answer, 0, DeadLetterReason::no_sender);
    return;
  }
  send_from_here(h->sender, make_request_envelope(std::forward<T>(msg), self_, h->request_id));
}

template <class T>
TimerHandle Context::send_after(const Pid& to, T&& msg, std::chrono::nanoseconds delay) {
  return system_->send_after(to, std::forward<T>(msg), delay);
}

template <class T>
TimerHandle Context::send_every(const Pid& to, T&& msg, std::chrono::nanoseconds initial,
                                std::chrono::nanoseconds interval) {
  return system_->send_every(to, std::forward<T>(msg), initial, interval);
}

template <class A, class... Args>
Pid Context::spawn(Args&&... args) {
  auto* parent = static_cast<detail::ActorCell*>(this);
  return system_->spawn_wrapped(parent, {}, nullptr, [&] {
    return system_->spawn_inline<A>(parent, std::forward<Args>(args)...);
  });
}

}  // namespace shoal
