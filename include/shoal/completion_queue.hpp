// CompletionQueue: how a thread that is not a worker — a server's own event
// loop — gets answers, messages and continuations from the actors: through
// a file descriptor it waits on with epoll, poll or io_uring, and on its own
// thread when it drains the queue.
//
//   shoal::CompletionQueue q(system);                   // on the loop's thread
//   epoll_ctl(ep, EPOLL_CTL_ADD, q.fd(), &ev);            // readable: something waits
//   system.request_future(counter, Get{}, 1s)
//       .then(q, [&](shoal::Result<Total> r) {...});      // runs in q.drain(), here
//   system.request(counter, Get{}, q.pid());              // the answer comes as a message
//   q.post([&] {...});                                    // from any thread: run on the loop
//   ... epoll_wait says q.fd() is readable ...
//   q.drain([&](shoal::Envelope& e) {                     // messages sent to q.pid()
//     if (Total* t = e.get<Total>()) ...;
//   });
//
// How. The queue is a Process, as a request future is: a Pid names it, so
// an actor can send to it or answer a request that names it as the sender.
// Its messages wait in an intrusive multi-producer queue
// (shoal/detail/mpsc_queue.hpp): a producer — the worker that runs the
// answering actor, the thread that completes a future — adds one with one
// atomic exchange, no lock and no allocation, and writes the eventfd only
// if no write is outstanding since the last drain (an exchange on a flag:
// a burst of answers costs one write(2)). drain() takes the flag back,
// reads the eventfd and runs or hands over what is queued, each sender's
// messages in the order it sent them. A continuation (then(q, f), post(f))
// is a message of the queue's own, run by drain() itself.
//
// The descriptor is level-triggered and readable while something may be
// queued; it may be readable with nothing queued at most once after a drain
// (the next drain clears it). A loop that polls without blocking asks
// pending() first, which makes no system call; set_polling(true) while it
// polls spares the producers their eventfd write too.
//
// Lifetime and shutdown. The queue belongs to the thread that drains it and
// must be destroyed before its ActorSystem; take fd() out of the loop's set
// first (EPOLL_CTL_DEL): the descriptor lives on while any Pid to the queue
// does, and a late answer may still write to it. Its continuations run
// only in drain(), on that thread: never on a worker, never during the
// system's shutdown on another thread, never after the queue is gone — so
// what they use when they run needs to live only as long as the queue
// (what they capture is destroyed, unrun, wherever the last reference to
// it goes: see below). ~CompletionQueue closes
// it: continuations still queued are destroyed without running, and what
// they captured with them; messages still queued, and messages sent to its
// Pid afterwards, are dead letters (target_stopped); a future whose
// continuation was bound to the closed queue completes as usual and its
// continuation is destroyed unrun (on the completing thread). A future with a timeout that the
// system's shutdown fails (RequestErrc::shut_down) queues its continuation like any completion:
// drain the queue before destroying it to see those.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "shoal/envelope.hpp"
#include "shoal/pid.hpp"

namespace shoal {

class ActorSystem;

namespace detail {

class QueueCore;

/// The payload of a continuation's message: what drain() runs. `run` is
/// called at most once, on the queue's thread (drain() reports what it
/// throws); `drop` when it never runs (the queue closed first). Either
/// lets go of `ctx`, `run` also when it throws.
struct QueuedCall {
  void (*run)(void* ctx) = nullptr;
  void (*drop)(void* ctx) noexcept = nullptr;
  void* ctx = nullptr;

  QueuedCall() noexcept = default;
  QueuedCall(const QueuedCall&) = delete;
  QueuedCall& operator=(const QueuedCall&) = delete;
  ~QueuedCall() {
    if (drop != nullptr) drop(ctx);
  }
  /// Runs it (once): the destructor then drops nothing.
  void call() {
    auto* r = std::exchange(run, nullptr);
    drop = nullptr;
    r(ctx);
  }
};

/// Posts a continuation's message (a QueuedCall) to the queue `queue` names;
/// a closed queue destroys it (dropping the call). Any thread.
void post_call(const Pid& queue, Envelope* call) noexcept;
/// True once the queue `p` (a Process of Kind::queue) is closed: what a
/// node's table of exported senders forgets. Thread-safe.
bool queue_closed(const Process& p) noexcept;

}  // namespace detail

class CompletionQueue {
 public:
  /// An open queue with its eventfd. Throws std::system_error if the
  /// descriptor cannot be made.
  explicit CompletionQueue(ActorSystem& system);
  /// Closes it (see the top of the file). On the thread that drains it.
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  /// Readable (level-triggered) while something may be queued. Owned by
  /// the queue: do not close or read it.
  int fd() const noexcept;
  /// The queue's address: send to it, or name it as a request's sender
  /// (ActorSystem::request) so that the answer comes here.
  const Pid& pid() const noexcept { return pid_; }

  /// Runs `f()` on the queue's thread at its next drain. From any thread
  /// (an actor's handler, a then() callback) while the queue exists; to
  /// reach it from where the queue may be gone, send to pid() instead. An
  /// exception from `f` is reported as a failure of no actor
  /// (SystemConfig::on_failure) and otherwise ignored. Throws
  /// std::bad_alloc if the message cannot be allocated.
  template <class F>
  void post(F&& f) {
    using Fn = std::decay_t<F>;
    auto fn = std::make_unique<Fn>(std::forward<F>(f));
    Envelope* e = emplace_envelope<detail::QueuedCall>();
    detail::QueuedCall& c = *e->get<detail::QueuedCall>();
    c.ctx = fn.release();
    c.run = [](void* p) { std::unique_ptr<Fn>(static_cast<Fn*>(p))->operator()(); };
    c.drop = [](void* p) noexcept { delete static_cast<Fn*>(p); };
    detail::post_call(pid_, e);
  }

  /// Runs what was queued when it began, oldest first, up to `max` items
  /// (what comes meanwhile waits for the next drain, with the descriptor
  /// readable): continuations run here; each message sent to pid() is
  /// given to `on_message(Envelope&)` (its payload is destroyed after).
  /// Returns how many it took. The queue's thread only; not from inside a
  /// drain. Never blocks; one read(2) of the eventfd.
  template <class OnMessage>
  requires std::invocable<OnMessage&, Envelope&> std::size_t drain(OnMessage&& on_message,
                                                                   std::size_t max = SIZE_MAX) {
    return drain_impl(
        [](void* h, Envelope& e) { (*static_cast<std::remove_reference_t<OnMessage>*>(h))(e); },
        &on_message, max);
  }
  /// drain() for a queue that gets only continuations: a message sent to
  /// pid() is a dead letter (unhandled).
  std::size_t drain(std::size_t max = SIZE_MAX) { return drain_impl(nullptr, nullptr, max); }

  /// True if something may be queued: no system call, for a loop that
  /// polls. The queue's thread only.
  bool pending() const noexcept;
  /// Blocks until something may be queued or `timeout` passes (a negative
  /// one: no limit); true if something may be. Ends polling mode. For a
  /// thread with no loop of its own; a loop waits on fd() instead. The
  /// queue's thread only.
  bool wait(std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1)) noexcept;
  /// Polling mode, for a loop that spins on pending() while it is busy
  /// instead of waiting on fd(): producers then skip the eventfd write (a
  /// system call on the worker that answers, once per burst) and drain()
  /// skips its read. While polling the descriptor means nothing (it may stay
  /// readable from before, or never become so). set_polling(false), or
  /// wait(), before waiting on it again: that makes it readable if anything
  /// is queued, so nothing queued meanwhile is missed. The queue's thread
  /// only; off at first.
  void set_polling(bool on) noexcept;
  /// True while in polling mode. The queue's thread only.
  bool polling() const noexcept;

  /// Items drain() has taken so far. The queue's thread only.
  std::uint64_t drained() const noexcept { return drained_; }

 private:
  std::size_t drain_impl(void (*fn)(void*, Envelope&), void* ctx, std::size_t max);

  detail::QueueCore* core_;  // kept alive by pid_
  Pid pid_;
  std::uint64_t drained_ = 0;
};

}  // namespace shoal
