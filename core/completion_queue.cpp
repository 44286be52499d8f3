#include "shoal/completion_queue.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <exception>
#include <system_error>

#include "core/detail/system_access.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/detail/mpsc_queue.hpp"

namespace shoal::detail {

namespace {
// Queues are numbered apart from actors and futures (the top two bits),
// so a Pid's id says what it is in traces; ids only need to be unique.
std::atomic<std::uint64_t> next_queue_id{std::uint64_t{3} << 62};
}  // namespace

/// The shared half of a CompletionQueue: what producers reach through its
/// Pid, alive as long as any Pid to it (the queue's own among them).
class QueueCore final : public Process {
 public:
  explicit QueueCore(ActorSystem& system)
      // relaxed: pairs with no other access; the RMW alone makes ids
      // unique. One reference, adopted by the CompletionQueue's Pid.
      : Process(next_queue_id.fetch_add(1, std::memory_order_relaxed), Kind::queue, 1),
        system_(system),
        fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "shoal: eventfd");
  }

  void post(Envelope* e) noexcept override {
    // acquire: pairs with the release store in close(); a queue seen open
    // may still close before the push below, and ~QueueCore sweeps that.
    if (closed_.load(std::memory_order_acquire)) {
      refuse(e);
      return;
    }
    queue_.push(e);
    signal();
  }

  int fd() const noexcept { return fd_; }
  ActorSystem& system() const noexcept { return system_; }

  /// Consumer side: see CompletionQueue::drain.
  std::size_t drain(void (*fn)(void*, Envelope&), void* ctx, std::size_t max) {
    // The descriptor first, the flag second: a producer that sets the flag
    // after the exchange below writes after this read, so "flag set" always
    // means "a write is still to come or unread" and no push is stranded
    // behind a flag whose write this read took. (The other order loses a
    // wake-up: exchange, a producer sets the flag and writes, the read takes
    // that write; the next producer finds the flag set and writes nothing.)
    // Polling (set_polling): the flag stays set and the descriptor unread.
    if (!polling_) {
      consume_eventfd();
      // The acquire half makes what producers queued before setting the
      // flag reachable below; the release half orders this drain's earlier
      // pops before a producer that finds the flag clear.
      // acq_rel: pairs with the producers' exchange in signal() (after their push).
      signalled_.exchange(false, std::memory_order_acq_rel);
    }
    // At most what is queued now: a continuation that posts again, or a
    // stream of answers, cannot keep the loop in here.
    const Envelope* last = queue_.newest();
    std::size_t n = 0;
    if (last == queue_.front()) return n;  // nothing was queued
    // The loop's handler may throw out of here: what is left stays
    // signalled, so the descriptor says so.
    struct Resignal {
      QueueCore& q;
      const int exceptions = std::uncaught_exceptions();
      ~Resignal() {
        if (std::uncaught_exceptions() > exceptions && q.queue_.maybe_nonempty()) q.signal();
      }
    } guard{*this};
    while (n < max) {
      Envelope* e = queue_.try_pop();
      if (e == nullptr) break;  // not linked yet: its producer writes after linking
      ++n;
      const bool at_last = e == last;
      handle(*e, fn, ctx);
      if (at_last) break;
    }
    // Left for the next drain (the bound, or `max`): keep the descriptor
    // readable. Who pushed after `last` signals on their own; this is for
    // what was queued before.
    if (queue_.maybe_nonempty()) signal();
    return n;
  }

  bool pending() const noexcept { return queue_.maybe_nonempty(); }

  /// CompletionQueue::set_polling. The consumer only.
  void set_polling(bool on) noexcept {
    if (on == polling_) return;
    polling_ = on;
    if (on) {
      // The flag says "a write is outstanding": every producer finds it set
      // and writes nothing (signal()).
      // acq_rel: pairs with the producers' exchange in signal(), as the drain's.
      signalled_.exchange(true, std::memory_order_acq_rel);
      return;
    }
    // Back to the descriptor: as a drain begins (the read, then the flag:
    // see drain), then readable if anything is queued. A producer whose
    // exchange came before ours pushed before it (our acquire sees the
    // push); one whose exchange comes after finds the flag clear and writes.
    consume_eventfd();
    // acq_rel: pairs with the producers' exchange in signal(), as the drain's.
    signalled_.exchange(false, std::memory_order_acq_rel);
    if (queue_.maybe_nonempty()) signal();
  }
  bool polling() const noexcept { return polling_; }
  bool closed() const noexcept {
    // acquire: pairs with the release store in close().
    return closed_.load(std::memory_order_acquire);
  }

  /// No more messages: what comes later is refused; what is queued now is
  /// dropped (continuations) or a dead letter (messages). The owner's
  /// thread, once.
  void close() noexcept {
    // release: pairs with the acquire load in post().
    closed_.store(true, std::memory_order_release);
    sweep();
  }

 private:
  ~QueueCore() override {
    sweep();  // what raced close(): pushed after the owner's last sweep
    ::close(fd_);
  }

  void signal() noexcept {
    // acq_rel: the release half publishes the push before it to the drain
    // that takes the flag (its acquire exchange); the acquire half pairs
    // with that drain's release, so a producer that finds the flag clear
    // writes after the drain that cleared it began.
    if (signalled_.exchange(true, std::memory_order_acq_rel)) return;
    const std::uint64_t one = 1;
    // Cannot fail short of a bad descriptor: the counter is far from its
    // limit (each drain reads it back to zero).
    [[maybe_unused]] const ssize_t w = ::write(fd_, &one, sizeof one);
  }

  void consume_eventfd() const noexcept {
    std::uint64_t count;
    [[maybe_unused]] const ssize_t r =
        ::read(fd_, &count, sizeof count);  // EAGAIN: not yet written
  }

  void handle(Envelope& e, void (*fn)(void*, Envelope&), void* ctx) {
    if (QueuedCall* c = e.get<QueuedCall>()) {
      try {
        c->call();
      } catch (...) {
        SystemAccess::report_failure(system_, 0, std::current_exception());
      }
      e.destroy_payload();
      return;
    }
    if (fn == nullptr) {
      SystemAccess::report_dead_letter(system_, e, id(), DeadLetterReason::unhandled);
      e.destroy_payload();
      return;
    }
    try {
      fn(ctx, e);
    } catch (...) {
      e.destroy_payload();
      throw;  // the loop's handler threw: the loop's to handle
    }
    e.destroy_payload();
  }

  void refuse(Envelope* e) noexcept {
    if (e->is<QueuedCall>()) {
      destroy_envelope(e);  // a continuation for a closed queue: dropped
      return;
    }
    SystemAccess::dead_letter(system_, e, id(), DeadLetterReason::target_stopped);
  }

  /// Everything reachable now is refused. The consumer (or the last owner).
  void sweep() noexcept {
    while (Envelope* e = queue_.try_pop()) {
      if (!e->is<QueuedCall>()) {
        SystemAccess::report_dead_letter(system_, *e, id(), DeadLetterReason::target_stopped);
      }
      e->destroy_payload();  // a continuation's: dropped unrun
    }
  }

  ActorSystem& system_;
  const int fd_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> signalled_{false};  // a write to fd_ is outstanding since the last drain
  bool polling_ = false;                // set_polling: the consumer's only
  MpscQueue queue_;
};

bool queue_closed(const Process& p) noexcept { return static_cast<const QueueCore&>(p).closed(); }

void post_call(const Pid& queue, Envelope* call) noexcept {
  // A reference of its own: once pushed, the queue's thread may drain it
  // and destroy the queue while post() still signals.
  Pid q = queue;
  q.process()->post(call);
}

void queue_resume(FutureCore& core, Envelope* call, Pid queue) noexcept {
  QueuedCall& c = *call->get<QueuedCall>();
  core.add_ref();  // the message's, let go by run or drop
  c.ctx = &core;
  // On the queue's thread, after the completing thread's push (the queue's
  // release/acquire pair orders its last read of the callback before).
  c.run = [](void* p) {
    struct Done {
      FutureCore* core;
      ~Done() {
        core->forget_callback();
        core->release();
      }
    } d{static_cast<FutureCore*>(p)};
    d.core->callback()->resume(*d.core);
  };
  c.drop = [](void* p) noexcept {
    auto* core = static_cast<FutureCore*>(p);
    core->forget_callback();
    core->release();
  };
  // `queue` is this call's own reference: once pushed, the queue's thread
  // may destroy the callback (and the queue) while post() still signals.
  queue.process()->post(call);
}

}  // namespace shoal::detail

namespace shoal {

CompletionQueue::CompletionQueue(ActorSystem& system)
    : core_(new detail::QueueCore(system)), pid_(Pid::adopt(core_)) {}

CompletionQueue::~CompletionQueue() { core_->close(); }

int CompletionQueue::fd() const noexcept { return core_->fd(); }

bool CompletionQueue::pending() const noexcept { return core_->pending(); }

void CompletionQueue::set_polling(bool on) noexcept { core_->set_polling(on); }

bool CompletionQueue::polling() const noexcept { return core_->polling(); }

bool CompletionQueue::wait(std::chrono::nanoseconds timeout) noexcept {
  set_polling(false);  // the descriptor must speak again
  if (pending()) return true;
  pollfd p{.fd = core_->fd(), .events = POLLIN, .revents = 0};
  const int ms =
      timeout.count() < 0
          ? -1
          : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(timeout).count());
  const int r = ::poll(&p, 1, ms);
  return r > 0 || pending();
}

std::size_t CompletionQueue::drain_impl(void (*fn)(void*, Envelope&), void* ctx, std::size_t max) {
  const std::size_t n = core_->drain(fn, ctx, max);
  drained_ += n;
  return n;
}

}  // namespace shoal
