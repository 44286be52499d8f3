// Request futures: ask an actor and get its answer as a typed future.
//
//   shoal::Future<Total> f = system.request_future<Total>(counter, Get{}, 1s);
//   struct Get { using reply_type = Total; };  // or let the request name its answer:
//   auto f = system.request_future(counter, Get{}, 1s);  // Future<Total>
//   Total t = f.get();                        // a non-actor thread blocks
//   f.then([](shoal::Result<Total> r) {...}); // or a callback where it completes
//   ctx.reenter_after(f, [this](shoal::Context& ctx, shoal::Result<Total>& r) {...});
//                                             // or, in an actor, a message to itself
//
// Each future is its own small Process (`FutureCore`): the request carries
// its Pid as the sender, the receiver's `respond` sends the answer to it,
// and the Pid's reference count keeps it alive as long as any message or
// timer can still reach it. So there is no registry, no request-id table
// and no lock: one allocation per request (besides the message), where
// Proto.Actor once paid a registry entry and a lock per future, and its
// shared futures a slot in a shared table. A late answer finds the future
// completed and becomes a dead letter (late_response).
//
// A future completes exactly once, with the first of: the answer; the
// timeout (a timer on the requesting worker's wheel, or from another thread
// on a worker the scheduler picks; unlinked as soon as the answer comes, or
// on a sleeping owner's next look); the request becoming a dead letter (a stopped or empty
// target, a full mailbox, an unhandled type — at once, not at the timeout);
// the system shutting down (futures with a timeout). A timeout of 0 means
// none: such a future waits for as long as the target keeps the request
// unanswered. Like a Pid, a future must not be waited on after its system
// is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/completion_queue.hpp"
#include "shoal/dead_letters.hpp"
#include "shoal/detail/timer_wheel.hpp"
#include "shoal/envelope.hpp"
#include "shoal/pid.hpp"

namespace shoal {

/// A request type that names the type of its answer (`using reply_type =
/// Answer;`): request_future(pid, msg, timeout) infers the future's type
/// from it, and request_future<R> with another R does not compile.
template <class T>
concept DeclaresReply = requires {
  typename std::remove_cvref_t<T>::reply_type;
};
/// The answer type a request declares.
template <class T>
using reply_type_of = typename std::remove_cvref_t<T>::reply_type;
/// T may be asked for an R: it declares no reply type, or declares R.
template <class T, class R>
concept AnsweredWith = !DeclaresReply<T> || std::same_as<R, reply_type_of<T>>;

class ActorSystem;

enum class RequestErrc : std::uint8_t {
  timeout,          ///< no answer within the timeout
  dead_letter,      ///< the request became a dead letter (see reason())
  unexpected_type,  ///< the answer was not of the type the future expects
  shut_down,        ///< the system shut down first
  delivery_failed,  ///< the connection to the target's node was lost (io/)
};

std::string_view to_string(RequestErrc e) noexcept;

/// Why a request future has no value.
class RequestError : public std::runtime_error {
 public:
  RequestError(RequestErrc code, DeadLetterReason reason, const std::string& what)
      : std::runtime_error(what), code_(code), reason_(reason) {}
  RequestErrc code() const noexcept { return code_; }
  /// For dead_letter: why the request was not delivered.
  DeadLetterReason reason() const noexcept { return reason_; }

 private:
  RequestErrc code_;
  DeadLetterReason reason_;
};

namespace detail {

class FutureCore;

/// What runs when a future completes (then, reenter_after).
class FutureCallback {
 public:
  virtual ~FutureCallback() = default;
  /// On the completing thread, once.
  virtual void run(FutureCore& core) noexcept = 0;
  /// then(queue, f) only: on the queue's thread, once, after run() queued
  /// it there (queue_resume). May throw: the queue reports it.
  virtual void resume(FutureCore&) {}
};

/// The state of one request future: a Process (the request's sender, what
/// respond() reaches) and a Timer (its timeout).
class FutureCore final : public Process, public Timer {
 public:
  /// A core with one reference, adopted by the Future.
  explicit FutureCore(ActorSystem& system) noexcept;

  // -- completion (any thread; the first one wins) ----------------------------
  /// An answer (or, for stop futures, a Terminated) arrives.
  void post(Envelope* e) noexcept override;
  /// Completes with an error; false if it had completed already.
  bool fail(RequestErrc code, DeadLetterReason reason = DeadLetterReason::target_stopped) noexcept;

  // -- the timer ---------------------------------------------------------------
  /// Arms the timeout (once, before the request is sent); then sent(),
  /// once the request is out.
  void arm(std::chrono::nanoseconds timeout) noexcept;
  /// The request is sent: from a thread outside the workers, wakes the
  /// timer's owner if it still sleeps (arm left that to here, so that the
  /// request's own wake-up usually serves the timer too). The sender's
  /// reference keeps the core alive through this.
  void sent() noexcept {
    if (wake_owner_) [[unlikely]]
      wake_timer_owner();
  }
  void expire() noexcept override;
  void discard() noexcept override;
  void drop() noexcept override { release(); }
  bool is_cancelled() const noexcept override {
    return claimed_.load(std::memory_order_acquire);  // acquire: pairs with claim()
  }

  // -- reading (after done()) -----------------------------------------------
  bool done() const noexcept {
    // acquire: pairs with the exchange in publish(); the result is visible.
    return (state_.load(std::memory_order_acquire) & completed) != 0;
  }
  /// Blocks the calling thread until done(): looks for the answer for
  /// SystemConfig::future_spin first, then sleeps.
  void wait() const noexcept;
  bool ok() const noexcept { return result_ != nullptr; }
  Envelope* result() const noexcept { return result_; }
  RequestErrc error() const noexcept { return error_; }
  DeadLetterReason reason() const noexcept { return reason_; }
  ActorSystem& system() const noexcept { return system_; }

  /// Runs `cb` once done (at once, on this thread, if it is), else on the
  /// completing thread. At most once per future.
  void on_complete(std::unique_ptr<FutureCallback> cb) noexcept;
  /// The callback on_complete took (null before). Its owner is the core.
  FutureCallback* callback() const noexcept { return callback_.get(); }
  /// Destroys the callback once it has done all it will (then(queue, f):
  /// run or dropped on the queue's thread), so that what it captured goes
  /// there and then. The thread the callback's work ended on.
  void forget_callback() noexcept { callback_.reset(); }

 private:
  ~FutureCore() override;
  // state_ bits. pending (0) → completed, set once by publish(); meanwhile
  // on_complete may add has_callback and wait() may add waited. publish()
  // exchanges in `completed` alone and acts on the bits it took out.
  enum : std::uint32_t { pending = 0, has_callback = 1, completed = 2, waited = 4 };
  /// The one completion: true for the first caller.
  bool claim() noexcept {
    // acq_rel: orders the winner's result writes after every loser's view.
    return !claimed_.exchange(true, std::memory_order_acq_rel);
  }
  /// wait()'s first part: true once done() within the spin.
  bool spin_for_answer() const noexcept;
  /// After a completion other than the timer's: unlink the timer.
  void disarm() noexcept;
  void wake_timer_owner() noexcept;
  /// Makes the result visible, runs the callback, wakes waiters.
  void publish() noexcept;

  ActorSystem& system_;
  std::atomic<bool> claimed_{false};
  mutable std::atomic<std::uint32_t> state_{pending};  // mutable: wait() marks itself
  bool armed_ = false;  // written before publication (arm), read by the completer
  bool wake_owner_ = false;  // arm() to sent(): the arming thread only
  RequestErrc error_ = RequestErrc::timeout;
  DeadLetterReason reason_ = DeadLetterReason::target_stopped;
  Envelope* result_ = nullptr;                // the answer (owned)
  std::unique_ptr<FutureCallback> callback_;  // see on_complete
};

}  // namespace detail

/// A request's outcome: the answer, or why there is none.
template <class R>
class Result {
 public:
  explicit Result(R value) : value_(std::move(value)) {}
  Result(RequestErrc e, DeadLetterReason r, std::string what)
      : error_(e), reason_(r), what_(std::move(what)) {}

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  /// The answer; throws RequestError if there is none.
  R& value() {
    if (!value_) throw RequestError(error_, reason_, what_);
    return *value_;
  }
  RequestErrc error() const noexcept { return error_; }
  DeadLetterReason reason() const noexcept { return reason_; }
  /// Empty if ok(); else what went wrong, for people.
  const std::string& what() const noexcept { return what_; }

 private:
  std::optional<R> value_;
  RequestErrc error_ = RequestErrc::timeout;
  DeadLetterReason reason_ = DeadLetterReason::target_stopped;
  std::string what_;
};

namespace detail {

std::string describe_failure(const FutureCore& core);

/// The outcome of a completed core as a Result<R>; moves the answer out.
template <class R>
Result<R> take_result(FutureCore& core) {
  if (!core.ok()) return Result<R>(core.error(), core.reason(), describe_failure(core));
  R* v = core.result()->get<R>();
  if (v == nullptr) {
    return Result<R>(RequestErrc::unexpected_type, DeadLetterReason::target_stopped,
                     "shoal: expected an answer of type " + std::string(detail::type_name<R>()) +
                         ", got " + std::string(core.result()->type->name));
  }
  return Result<R>(std::move(*v));
}

/// A then() callback threw: reported as a failure of no actor.
void report_callback_failure(FutureCore& core, const std::exception_ptr& e) noexcept;

/// then(queue, f): on the completing thread, queues `call` (a QueuedCall
/// message allocated when then() was called) to `queue`, holding a
/// reference to `core` until the queue runs `core`'s callback's resume()
/// or drops it. Takes the callback's reference to the queue, which would
/// otherwise keep a queue that closed meanwhile alive through the call it
/// holds.
void queue_resume(FutureCore& core, Envelope* call, Pid queue) noexcept;

/// Blocking is wrong on a worker (or in deterministic mode, where nothing
/// else runs): throws std::logic_error there.
void check_may_block(const FutureCore& core);

}  // namespace detail

/// The future of one request (ActorSystem::request_future). Move-only; use
/// one of get(), result(), then() or Context::reenter_after, once.
template <class R>
class Future {
 public:
  Future() noexcept = default;
  /// Takes over the reference `core` was born with.
  explicit Future(detail::FutureCore* core) noexcept : pid_(Pid::adopt(core)) {}
  Future(Future&&) noexcept = default;
  Future& operator=(Future&&) noexcept = default;
  Future(const Future&) = delete;
  Future& operator=(const Future&) = delete;

  bool valid() const noexcept { return !pid_.empty(); }
  /// True once completed (answer or error). Thread-safe.
  bool ready() const noexcept { return core().done(); }
  /// Blocks until completed, then the outcome. Not on a worker thread,
  /// nor in deterministic mode before ready() (std::logic_error).
  Result<R> result() {
    if (!ready()) {
      detail::check_may_block(core());
      core().wait();
    }
    return detail::take_result<R>(core());
  }
  /// The answer, or throws RequestError. Blocks like result().
  R get() { return std::move(result().value()); }
  /// Runs `f(Result<R>)` once completed, on the thread that completes it:
  /// a worker; this thread if it is done already; the monitor thread when
  /// the timeout of a future armed on a stalled worker fires there; the
  /// thread that shuts the system down (RequestErrc::shut_down, futures
  /// with a timeout). A future without a timeout that is never answered
  /// destroys `f` unrun when its last reference goes. So what `f` captures
  /// must outlive the system's shutdown; for a thread of one's own, use
  /// then(queue, f). `f` must not block and must not use an actor's
  /// Context (it runs outside that actor's turn; inside an actor use
  /// Context::reenter_after). An exception from it is reported as a
  /// failure and otherwise ignored.
  template <class F>
  void then(F&& f) {
    struct Callback final : detail::FutureCallback {
      explicit Callback(F&& f) : fn(std::forward<F>(f)) {}
      void run(detail::FutureCore& c) noexcept override {
        try {
          fn(detail::take_result<R>(c));
        } catch (...) {
          detail::report_callback_failure(c, std::current_exception());
        }
      }
      std::decay_t<F> fn;
    };
    core().on_complete(std::make_unique<Callback>(std::forward<F>(f)));
  }

  /// Runs `f(Result<R>)` on the thread that drains `queue`, inside its
  /// drain(), once completed (completion_queue.hpp): the way a server's
  /// event loop takes answers. `f` may block and may use anything the
  /// queue's thread owns; it never runs on a worker, nor during the
  /// system's shutdown, nor after the queue is destroyed (it is then
  /// dropped unrun). An exception from it is reported as a failure and
  /// otherwise ignored. Allocates the message that carries it now, so
  /// completing never allocates. At most one then() per future.
  template <class F>
  void then(CompletionQueue& queue, F&& f) {
    struct Callback final : detail::FutureCallback {
      Callback(const Pid& q, F&& f)
          : queue(q), fn(std::forward<F>(f)), call(emplace_envelope<detail::QueuedCall>()) {}
      ~Callback() override {
        if (call != nullptr) destroy_envelope(call);
      }
      void run(detail::FutureCore& c) noexcept override {
        detail::queue_resume(c, std::exchange(call, nullptr), std::move(queue));
      }
      void resume(detail::FutureCore& c) override { fn(detail::take_result<R>(c)); }
      Pid queue;
      std::decay_t<F> fn;
      Envelope* call;  // last: allocated once the rest is made
    };
    core().on_complete(std::make_unique<Callback>(queue.pid(), std::forward<F>(f)));
  }

  /// The future's own Pid: the sender its request carries.
  const Pid& pid() const noexcept { return pid_; }
  detail::FutureCore& core() const noexcept {
    return *static_cast<detail::FutureCore*>(pid_.process());
  }

 private:
  Pid pid_;
};

}  // namespace shoal
