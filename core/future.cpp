#include "shoal/future.hpp"

#include <sched.h>

#include <chrono>

#include "core/detail/system_access.hpp"
#include "core/scheduler.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/guest_runner.hpp"

namespace shoal {

std::string_view to_string(RequestErrc e) noexcept {
  switch (e) {
    case RequestErrc::timeout:
      return "timeout";
    case RequestErrc::dead_letter:
      return "dead_letter";
    case RequestErrc::unexpected_type:
      return "unexpected_type";
    case RequestErrc::shut_down:
      return "shut_down";
    case RequestErrc::delivery_failed:
      return "delivery_failed";
  }
  return "unknown";
}

namespace detail {

namespace {
// Futures are numbered apart from actors (the top bit), so a Pid's id says
// which it is in traces; ids only need to be unique.
std::atomic<std::uint64_t> next_future_id{std::uint64_t{1} << 63};
}  // namespace

FutureCore::FutureCore(ActorSystem& system) noexcept
    // One reference, adopted by the Future. The id: see next_future_id.
    // relaxed: pairs with no other access; the RMW alone makes ids unique.
    : Process(next_future_id.fetch_add(1, std::memory_order_relaxed), Kind::future, 1),
      system_(system) {}

FutureCore::~FutureCore() {
  if (result_ != nullptr) destroy_envelope(result_);
}

void FutureCore::arm(std::chrono::nanoseconds timeout) noexcept {
  armed_ = true;
  add_ref();  // the wheel's, given back by expire(), discard() or drop()
  wake_owner_ = shoal::detail::SystemAccess::scheduler(system_).add_timer_wake_later(this, timeout);
}

void FutureCore::wake_timer_owner() noexcept {
  wake_owner_ = false;
  shoal::detail::SystemAccess::scheduler(system_).wake_timer_owner(this);
}

void FutureCore::disarm() noexcept {
  if (!armed_) return;
  add_ref();  // the cancel's, given back by drop()
  shoal::detail::SystemAccess::scheduler(system_).cancel_timer(this);
}

void FutureCore::post(Envelope* e) noexcept {
  if (!claim()) {
    // Timed out (or failed) already: nobody waits for this answer now.
    shoal::detail::SystemAccess::dead_letter(system_, e, id(), DeadLetterReason::late_response);
    return;
  }
  result_ = e;
  disarm();
  publish();
}

bool FutureCore::fail(RequestErrc code, DeadLetterReason reason) noexcept {
  if (!claim()) return false;
  error_ = code;
  reason_ = reason;
  disarm();
  publish();
  return true;
}

void FutureCore::expire() noexcept {
  if (claim()) {
    error_ = RequestErrc::timeout;
    publish();
  }
  release();  // the wheel's
}

void FutureCore::discard() noexcept {
  if (claim()) {
    error_ = RequestErrc::shut_down;
    publish();
  }
  release();  // the wheel's
}

void FutureCore::publish() noexcept {
  // The release half publishes the result to done() and to the callback's
  // registrar; the acquire half sees a callback registered first.
  // acq_rel: pairs with the CAS in on_complete() and the acquire loads in done()/wait().
  const std::uint32_t before = state_.exchange(completed, std::memory_order_acq_rel);
  if ((before & has_callback) != 0) callback_->run(*this);
  // Only if a thread said it waits: libstdc++'s notify_all makes a system
  // call whenever any thread waits on an address that shares its hash
  // bucket (one of 16), e.g. a latch in main — it did for half of all
  // request futures in the request-future benchmark (+1 µs each).
  if ((before & waited) != 0) state_.notify_all();
}

void FutureCore::on_complete(std::unique_ptr<FutureCallback> cb) noexcept {
  callback_ = std::move(cb);
  // acquire: pairs with the exchange in publish() (the result is visible if
  // it completed).
  std::uint32_t s = state_.load(std::memory_order_acquire);
  while ((s & completed) == 0) {
    // acq_rel: pairs with the exchange in publish() (either it sees the
    // callback, or we see the result and run it here).
    if (state_.compare_exchange_weak(s, s | has_callback, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return;
    }
  }
  callback_->run(*this);
}

void FutureCore::wait() const noexcept {
  if (spin_for_answer()) return;
  // acquire (all): pairs with the exchange in publish().
  std::uint32_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s & completed) != 0) return;
    if ((s & waited) == 0) {
      // Say we wait, so that publish() notifies; a failed CAS reloads s.
      // The CAS and publish()'s exchange are RMWs on one word: whichever
      // comes second sees the other.
      if (!state_.compare_exchange_weak(s, s | waited, std::memory_order_acquire)) continue;
      s |= waited;
    }
    state_.wait(s, std::memory_order_acquire);
    s = state_.load(std::memory_order_acquire);
  }
}

bool FutureCore::spin_for_answer() const noexcept {
  using clock = std::chrono::steady_clock;
  const std::chrono::nanoseconds budget = system_.config().future_spin;
  if (budget <= std::chrono::nanoseconds::zero()) return done();
  constexpr std::chrono::nanoseconds tight{std::chrono::microseconds(2)};
  const auto start = clock::now();
  for (;;) {
    // A few pauses per look: done() reads a line the completing worker
    // writes once; looking at it in a tight loop would slow that write.
    for (int i = 0; i < 8; ++i) {
      if (done()) return true;
      detail::cpu_relax();
    }
    const auto spent = clock::now() - start;
    if (spent >= budget) return done();
    // Past the first microseconds the answer waits for a worker that is
    // not running yet (one the request woke, maybe onto this very CPU):
    // let it have the CPU between looks.
    if (spent >= tight) sched_yield();
  }
}

std::string describe_failure(const FutureCore& core) {
  std::string what = "shoal: request failed: ";
  what.append(to_string(core.error()));
  if (core.error() == RequestErrc::dead_letter) what.append(" (").append(to_string(core.reason())).append(")");
  return what;
}

void report_callback_failure(FutureCore& core, const std::exception_ptr& e) noexcept {
  shoal::detail::SystemAccess::report_failure(core.system(), 0, e);
}

void check_may_block(const FutureCore& core) {
  detail::Scheduler& s = shoal::detail::SystemAccess::scheduler(core.system());
  if (s.deterministic()) {
    throw std::logic_error(
        "shoal: Future::get() in deterministic mode would wait forever; run the system until "
        "the future is ready first");
  }
  if (s.current_worker_index() >= 0 || in_guest_run) {
    throw std::logic_error(
        "shoal: Future::get() on a worker (or in an actor a node's io thread runs) would block "
        "it; use Context::reenter_after or then()");
  }
}

}  // namespace detail

}  // namespace shoal
