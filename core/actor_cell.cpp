#include "shoal/detail/actor_cell.hpp"

#include <algorithm>
#include <cxxabi.h>

#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>

#include "core/detail/system_access.hpp"
#include "core/flight_recorder.hpp"
#include "core/scheduler.hpp"
#include "core/worker.hpp"
#include "shoal/actor_system.hpp"

namespace shoal::detail {

void release_terminated_child(Envelope* e) noexcept {
  // The reference the parent's list held (see adopt_child).
  ActorCell::of_term_node(e)->release();
}

void flush_outbox() noexcept {
  Outbox& o = outbox;
  Process* target = o.held;
  Envelope* first = o.first;
  Envelope* last = o.tail;
  const std::uint32_t count = o.count;
  o.held = nullptr;
  o.first = o.tail = nullptr;
  o.count = 0;
  if (target->is_actor()) {
    static_cast<ActorCell*>(target)->post_user_chain(first, last);
  } else {
    target->post_chain(first, last, count);  // a remote proxy
  }
  target->release();  // the chain's reference (Context::hold)
}

ActorCell* ActorCell::of_term_node(Envelope* e) noexcept {
  // term_node_ sits at a fixed offset in every ActorCell (no virtual bases,
  // so offsetof is well defined in practice; GCC and Clang agree).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
  constexpr std::size_t offset = offsetof(ActorCell, term_node_);
#pragma GCC diagnostic pop
  return reinterpret_cast<ActorCell*>(reinterpret_cast<char*>(e) - offset);
}

namespace {

std::string demangled(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                           &std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(mangled);
}

/// The demangled name of `t`, made once per type and kept for the life of
/// the process (a trace event points at it: flight_recorder.hpp).
std::string_view interned_type_name(const std::type_info& t) {
  static std::mutex mu;
  static std::unordered_map<std::type_index, std::string> names;  // nodes never move
  std::lock_guard lock(mu);
  auto it = names.find(t);
  if (it == names.end()) it = names.emplace(t, demangled(t.name())).first;
  return it->second;
}

ActorCell* cell_of(const Pid& pid) noexcept { return static_cast<ActorCell*>(pid.process()); }

// A lifecycle message handed to the actor straight from the stack: no
// allocation, no queue.
template <class T>
using StackEnvelope = TypedEnvelope<T>;

template <class T, class... Args>
void post_system_to(const Pid& to, Args&&... args) {
  SystemAccess::post_system(to, emplace_envelope<T>(std::forward<Args>(args)...));
}

}  // namespace

ActorCell::ActorCell(ActorSystem* system, std::uint64_t id, std::shared_ptr<const Props> props,
                     std::uint32_t throughput, ActorCell* parent)
    : ActorCell(system, id, props->mailbox(), throughput, parent) {
  set_first_actor(props->produce().release(),
                  system_receive_middleware() || !props->receiver_middleware().empty());
  if (props->stats() && !is_instrumented()) instrument();
  ext().props = std::move(props);
  ext().type_name = interned_type_name(typeid(*actor_));
}

std::string_view ActorCell::type_name() const noexcept {
  return ext_ && !ext_->type_name.empty() ? ext_->type_name : std::string_view("actor");
}

ActorCell::ActorCell(ActorSystem* system, std::uint64_t id, const MailboxConfig& mailbox,
                     std::uint32_t throughput, ActorCell* parent)
    : Process(id, Kind::local_actor, /*refs=*/2),  // adopted by begin_life()
      Context(system),
      mailbox_(mailbox),
      throughput_(throughput == 0 ? 1 : throughput),
      parent_(parent) {
  if (system->config().actor_stats) instrument();
}

void ActorCell::instrument() {
  ext().actor_stats = std::make_unique<ActorStats>();
  set_instrumented();
}

Actor* ActorCell::make_actor() { return ext().props->produce().release(); }

CellExtras& ActorCell::ext() {
  if (!ext_) ext_ = std::make_unique<CellExtras>();
  return *ext_;
}

void ActorCell::destroy_actor() noexcept {
  Actor* a = std::exchange(actor_, nullptr);
  if (a == nullptr) return;
  // A destructor that throws terminates (destructors are noexcept): as for
  // any C++ object, not a failure the runtime can report.
  if (actor_inline_) {
    a->~Actor();
  } else {
    delete a;
  }
}

// -- delivery ------------------------------------------------------------------------

void ActorCell::post_system(Envelope* e) noexcept {
  if (mailbox_.is_dead()) {
    handle_post_mortem(*e);
    destroy_envelope(e);
    return;
  }
  Claim c = mailbox_.push_system(e);
  if (c == Claim::schedule) {
    schedule();
  } else if (c == Claim::drain) {
    drain_dead();
  }
}

void ActorCell::schedule() noexcept { system_->scheduler_->schedule(this); }

void ActorCell::drain_dead() noexcept {
  // We won dead→draining: we are the queue's consumer until finish_dead
  // stores `dead` again.
  mailbox_.finish_dead([this](Envelope& e) { handle_post_mortem(e); },
                       [this](Envelope& e) {
                         system_->report_dead_letter(e, id(), DeadLetterReason::target_stopped);
                       });
}

void ActorCell::handle_post_mortem(const Envelope& e) noexcept {
  // Only a watch needs an answer: the watcher must get its one Terminated.
  // (Stop, unwatch, directives and failures of children have nothing left
  // to act on.)
  if (e.is<detail::Watch>()) {
    const auto& w = static_cast<const TypedEnvelope<detail::Watch>&>(e).value;
    try {
      post_system_to<Terminated>(w.watcher, Pid(this), TerminatedReason::not_found);
    } catch (const std::bad_alloc&) {
      system_->report_failure(id(), std::current_exception());
    }
  }
}

// -- the run loop ----------------------------------------------------------------------

RunStats ActorCell::run(bool may_hold, detail::LongRunWatch& watch) {
  mailbox_.begin_run();
  detail::outbox.open = true;  // this run's handlers may hold a burst (detail/outbox.hpp)
  if (!started_) [[unlikely]]
    start();
  RunStats r;
  bool active = false;  // handled a message that resets the receive timeout
  // Read once: the first line of the cell is the one senders write.
  const bool instrumented = is_instrumented();
  for (;;) {
    // System messages, then a stop, first, and again before every user
    // message. System messages go before the stop so that a watch or a
    // directive that arrived before it is answered as the actor it was sent
    // to (a watcher then hears `stopped`, not `not_found`).
    if (Envelope* s = mailbox_.pop_system()) {
      ++r.system;
      handle_system(*s);
      note_if_long(watch, *s->type);
      mailbox_.done_with_system(s);  // a child's term_node_ releases the child here
      if (dead_) break;
      continue;
    }
    if (mailbox_.take_stop()) [[unlikely]] {
      begin_stop();
      if (dead_) break;
      continue;
    }
    if (r.user == throughput_ || mailbox_.suspended()) break;
    Envelope* u = mailbox_.pop_user();
    if (u == nullptr) {
      r.held = may_hold;  // drained: the caller may keep the mailbox
      break;
    }
    if (timing_) [[unlikely]]
      active |= !u->type->keeps_receive_timeout;
    // The mark shares the line the pop just read: a flow id or a stamp only
    // while tracing or for an instrumented actor. The run's first message's
    // flow goes into the run event; later ones need an event of their own.
    const std::uint64_t mark = mark_of(*u);
    if (r.user == 0) r.first_mark = mark;
    if (instrumented | ((mark != 0) & (r.user != 0))) [[unlikely]] {
      invoke_observed(*u, mark, r.user);
    } else {
      invoke(*u);
    }
    note_if_long(watch, *u->type);
    ++r.user;
    if (u->is<PoisonPill>()) [[unlikely]]
      request_stop();  // taken at the top of the loop, like any stop
    mailbox_.done_with_user(u);
    if (dead_) break;
  }
  // What a lifecycle or system handler held goes before the run ends.
  detail::end_handler();
  detail::outbox.open = false;
  if (dead_) {
    r.held = false;
    finish_death();  // may free this cell
    return r;
  }
  // One clock read per run, and only for an actor with a receive timeout:
  // the timer is not touched (it re-arms itself from this when it goes off).
  if (timing_ && active) [[unlikely]]
    ext_->last_activity = system_->scheduler_->now();
  if (r.held) {
    mailbox_.hold();
    return r;
  }
  end_hold(r.user == throughput_);
  return r;
}

void ActorCell::end_hold(bool had_turn) noexcept {
  if (mailbox_.finish_run()) system_->scheduler_->reschedule(this, had_turn);
}

void ActorCell::invoke_observed(Envelope& e, std::uint64_t mark, std::uint32_t index) noexcept {
  if (index != 0 && mark != 0) {
    // The run's first message is in its run event; the others get their own.
    if (detail::WorkerTrace* t = detail::active_trace) {
      t->ring.push({.ts = t->now(), .kind = TraceKind::flow_in, .a = mark, .b = id()});
    }
  }
  ActorStats* s = actor_stats();
  if (s == nullptr) {
    invoke(e);
    return;
  }
  s->note_dequeue();
  const std::uint64_t begin = detail::ticks();
  if (detail::is_stamp(mark)) {
    const std::uint64_t sent = detail::tick_of_stamp(mark);
    s->queue_wait.record(begin > sent ? begin - sent : 0);
  }
  // The oldest message still queued: the next one if it can be seen (an
  // unbounded queue), else, while others wait, this one (an upper bound).
  auto next_sent = [&]() -> std::uint64_t {
    if (const Envelope* n = mailbox_.peek_user()) {
      const std::uint64_t m = mark_of(const_cast<Envelope&>(*n));
      return detail::is_stamp(m) ? detail::tick_of_stamp(m) : 0;
    }
    if (mailbox_.bounded() && s->enqueued() > s->dequeued() && detail::is_stamp(mark)) {
      return detail::tick_of_stamp(mark);
    }
    return 0;
  };
  s->note_oldest(next_sent(), next_sent);
  invoke(e);
  s->handler.record(detail::ticks() - begin);
}

void ActorCell::start() noexcept {
  started_ = true;
  StackEnvelope<Started> started;
  if (!deliver_lifecycle(started)) return;  // failed: the supervisor decides
}

void ActorCell::invoke(Envelope& e) noexcept {
  try {
    handle(e);
  } catch (...) {
    detail::end_handler();  // what it sent before it threw still goes, first
    fail(std::current_exception(), /*report=*/true);
  }
  detail::end_handler();
}

void ActorCell::reenter(detail::Reentry* r) {
  if (r->incarnation != ext().incarnation) {
    // The instance that asked was replaced by a restart: its continuation
    // would touch an object that is gone.
    system_->report_dead_letter(*detail::current_message, id(), DeadLetterReason::target_stopped);
    return;
  }
  r->step->run(*this);
}

// -- middleware ------------------------------------------------------------------------

namespace {
template <class M>
const std::vector<M>* or_null(const std::vector<M>& v) noexcept {
  return v.empty() ? nullptr : &v;
}
/// Step `i` of a chain made of the system's middleware then the actor's;
/// null past the end.
template <class M>
const M* step(const std::vector<M>* outer, const std::vector<M>* inner, std::size_t i) noexcept {
  const std::size_t n_outer = outer != nullptr ? outer->size() : 0;
  if (i < n_outer) return &(*outer)[i];
  if (inner != nullptr && i - n_outer < inner->size()) return &(*inner)[i - n_outer];
  return nullptr;
}
}  // namespace

bool ActorCell::system_receive_middleware() const noexcept {
  return !system_->config().receiver_middleware.empty();
}

void ActorCell::init_middleware() noexcept {
  const SystemConfig& c = system_->config();
  bool any = !c.receiver_middleware.empty() || !c.sender_middleware.empty();
  if (ext_ && ext_->props) {
    any = any || !ext_->props->receiver_middleware().empty() ||
          !ext_->props->sender_middleware().empty();
  }
  intercepted_ = any;
}

void ActorCell::receive_through_middleware(Envelope& e) {
  const auto* outer = or_null(system_->config().receiver_middleware);
  const auto* inner = ext_ && ext_->props ? or_null(ext_->props->receiver_middleware()) : nullptr;
  ReceiveNext(this, outer, inner, 0)(*this, e);
}

void ActorCell::send_through_middleware(const Pid& to, Envelope* e) {
  const auto* outer = or_null(system_->config().sender_middleware);
  const auto* inner = ext_ && ext_->props ? or_null(ext_->props->sender_middleware()) : nullptr;
  SendNext(system_, outer, inner, 0)(*this, to, e);
}

}  // namespace shoal::detail

namespace shoal {

void ReceiveNext::operator()(Context& ctx, Envelope& msg) const {
  if (const ReceiverMiddleware* m = detail::step(outer_, inner_, i_)) {
    (*m)(ctx, msg, ReceiveNext(cell_, outer_, inner_, i_ + 1));
    return;
  }
  detail::current_message = &msg;  // a middleware may have passed another message
  cell_->dispatch(msg);
}

void SendNext::operator()(Context& sender, const Pid& target, Envelope* msg) const {
  if (const SenderMiddleware* m = detail::step(outer_, inner_, i_)) {
    (*m)(sender, target, msg, SendNext(system_, outer_, inner_, i_ + 1));
    return;
  }
  system_->post(target, msg);
}

Pid SpawnNext::operator()() const {
  if (i_ < chain_->size()) return (*chain_)[i_](*info_, SpawnNext(chain_, i_ + 1, info_, final_, state_));
  return final_(state_);
}

}  // namespace shoal

namespace shoal::detail {

SendResult ActorCell::try_post_user(Envelope* e) noexcept {
  bool full = false;
  const Claim c = mailbox_.try_push_user(e, full);
  if (c == Claim::schedule) {
    schedule();
  } else if (c == Claim::drain) [[unlikely]] {
    drain_dead();
  } else if (c == Claim::refused) {
    return full ? SendResult::full : SendResult::stopped;
  }
  return SendResult::delivered;
}

std::optional<std::size_t> ActorCell::mailbox_depth() const noexcept {
  // Nothing queued at an actor asked to stop will be handled: it becomes a
  // dead letter (and a dead actor's mailbox is drained, or being drained).
  const MailboxStatus st = mailbox_.status();
  if (mailbox_.stop_requested() || st == MailboxStatus::dead || st == MailboxStatus::draining)
    return 0;
  if (const std::ptrdiff_t n = mailbox_.bounded_depth(); n >= 0) return static_cast<std::size_t>(n);
  if (const ActorStats* s = actor_stats(); s != nullptr) {
    // A sender counts its message just after pushing it, the receiver just
    // before taking one: for a moment more may be taken than counted in.
    const std::uint64_t in = s->enqueued();
    const std::uint64_t out = s->dequeued();
    return in > out ? static_cast<std::size_t>(in - out) : 0;
  }
  return std::nullopt;
}

void ActorCell::note_if_long(detail::LongRunWatch& w, const MessageType& t) noexcept {
  // relaxed: pairs with flag_long_run's release store (report_long acquires)
  if (w.raised.load(std::memory_order_relaxed)) [[unlikely]]
    report_long(w, t);
}

void ActorCell::report_long(detail::LongRunWatch& w, const MessageType& t) noexcept {
  // acquire: pairs with the release store in Worker::flag_long_run; the
  // progress and the time it wrote before are visible.
  if (!w.raised.exchange(false, std::memory_order_acquire)) return;
  Worker* worker = Worker::current();
  // A run that has been counted since the raise (or a wake-up) ended
  // before this handler: the flag came just too late for it.
  // relaxed: pairs with flag_long_run's store, ordered by the acquire exchange
  if (worker == nullptr || worker->progress() != w.progress.load(std::memory_order_relaxed)) {
    return;
  }
  // relaxed: pairs with flag_long_run's store, ordered by the acquire exchange
  const std::chrono::nanoseconds since(w.since_ns.load(std::memory_order_relaxed));
  const std::chrono::nanoseconds at_least = system_->scheduler_->now() - since;
  const std::string_view actor_type = type_name();
  if (detail::WorkerTrace* trace = detail::active_trace) {
    trace->ring.push(
        {.ts = trace->now(),
         .kind = TraceKind::long_handler,
         .x = static_cast<std::uint32_t>(std::min<std::size_t>(t.base()->name.size(), 0xffffff)),
         .a = id(),
         .b = reinterpret_cast<std::uintptr_t>(t.base()->name.data()),
         .c = static_cast<std::uint64_t>(at_least.count())});
  }
  if (!system_->events().active()) return;
  system_->events().publish(LongHandlerEvent{.actor_id = id(),
                                             .actor_type = actor_type,
                                             .message_type = t.base()->name,
                                             .at_least = at_least,
                                             .worker = worker->index()});
}

bool ActorCell::deliver_lifecycle(Envelope& e) noexcept {
  if (actor_ == nullptr) return true;
  struct Look {  // after the handler, however it ends
    ActorCell& cell;
    const MessageType& type;
    ~Look() { cell.note_if_long(*detail::long_run_watch, type); }
  } look{*this, *e.type};
  try {
    handle(e);
    return true;
  } catch (...) {
    if (state() == State::alive) {
      // Started, or Terminated while alive: a failure like any other.
      fail(std::current_exception(), /*report=*/true);
    } else {
      // Restarting, Stopping, Stopped, or Terminated while failed or on the
      // way out: the instance is going anyway; report and go on.
      system_->report_failure(id(), std::current_exception());
    }
    return false;
  }
}

void ActorCell::handle_system(Envelope& e) noexcept {
  const MessageType* t = e.type;
  if (t == &detail::child_terminated_type) {
    // The envelope is the child's term_node_; its queue reference keeps the
    // child's memory alive while we read it.
    on_child_terminated(of_term_node(&e));
  } else if (Terminated* term = e.get<Terminated>()) {
    on_terminated(e, *term);
  } else if (detail::Watch* w = e.get<detail::Watch>()) {
    std::vector<Pid>& ws = ext().watchers;
    if (std::find(ws.begin(), ws.end(), w->watcher) == ws.end()) ws.push_back(w->watcher);
  } else if (detail::Unwatch* u = e.get<detail::Unwatch>()) {
    if (ext_) std::erase(ext_->watchers, u->watcher);
  } else if (detail::ChildFailed* f = e.get<detail::ChildFailed>()) {
    supervise(*f);
  } else if (e.is<detail::Resume>()) {
    resume();
  } else if (e.is<detail::Restart>()) {
    begin_restart();
  } else if (auto* rt = e.get<detail::ReceiveTimeoutCheck>()) {
    on_receive_timeout_check(rt->generation);
  }
}

// -- receive timeout ---------------------------------------------------------------------

void ActorCell::set_receive_timeout(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) {
    if (!timing_) return;
    timing_ = false;
    ext_->receive_timeout = {};
    ++ext_->timeout_generation;  // a timer still pending finds itself outdated
    return;
  }
  CellExtras& x = ext();
  x.receive_timeout = d;
  x.last_activity = system_->scheduler_->now();
  timing_ = true;
  arm_receive_timeout(++x.timeout_generation, d);
}

void ActorCell::arm_receive_timeout(std::uint32_t generation,
                                    std::chrono::nanoseconds delay) noexcept {
  try {
    system_->schedule_send(self_, emplace_envelope<detail::ReceiveTimeoutCheck>(generation), delay,
                           /*system=*/true, nullptr, {}, /*handle=*/false);
  } catch (...) {  // bad_alloc: no timer, so no timeout; say so
    system_->report_failure(id(), std::current_exception());
  }
}

void ActorCell::on_receive_timeout_check(std::uint32_t generation) noexcept {
  if (!timing_ || generation != ext_->timeout_generation) return;  // cancelled or set anew
  CellExtras& x = *ext_;
  const auto now = system_->scheduler_->now();
  const auto due = x.last_activity + x.receive_timeout;
  if (now < due) {
    arm_receive_timeout(generation, due - now);  // there was activity: wait for the rest
    return;
  }
  if (state() != State::alive) {
    // Suspended (a directive is awaited) or stopping: no user-level message
    // now. A stopping actor needs no timer; a failed one looks again later.
    if (state() != State::stopping) arm_receive_timeout(generation, x.receive_timeout);
    return;
  }
  StackEnvelope<ReceiveTimeout> timeout;
  invoke(timeout);  // a throw is a failure, like one from any message
  // The handler may have cancelled or set a new period (its own timer runs),
  // stopped (no more timeouts) or failed (the next look waits for resume).
  if (timing_ && generation == x.timeout_generation && state() != State::stopping) {
    x.last_activity = system_->scheduler_->now();
    arm_receive_timeout(generation, x.receive_timeout);
  }
}

// -- behaviors -----------------------------------------------------------------------------

void ActorCell::become(Behavior b, bool stacked) {
  std::vector<Behavior>& stack = ext().behaviors;
  if (!stacked) stack.clear();
  if (stacked || !b.is_receive()) stack.push_back(b);
  behaving_ = !stack.empty();
}

void ActorCell::unbecome() noexcept {
  if (!ext_ || ext_->behaviors.empty()) return;
  ext_->behaviors.pop_back();
  behaving_ = !ext_->behaviors.empty();
}

// -- watch ---------------------------------------------------------------------------------

void ActorCell::watch(const Pid& target) {
  if (target.empty()) return;
  if (const auto k = target.process()->kind();
      k == Process::Kind::future || k == Process::Kind::queue) {
    // A request future or a completion queue is no actor: there is none to
    // watch. (A remote actor's proxy takes the Watch to the actor's node: io/.)
    post_system_to<Terminated>(self_, target, TerminatedReason::not_found);
    return;
  }
  std::vector<Pid>& w = ext().watching;
  if (std::find(w.begin(), w.end(), target) != w.end()) return;  // one Terminated per watch
  w.push_back(target);
  post_system_to<detail::Watch>(target, self_);
}

void ActorCell::unwatch(const Pid& target) {
  if (target.empty() || !ext_) return;
  auto it = std::find(ext_->watching.begin(), ext_->watching.end(), target);
  if (it == ext_->watching.end()) return;
  ext_->watching.erase(it);
  // From here on a Terminated from `target` is dropped (on_terminated), so
  // none reaches the actor after unwatch even if one is already queued.
  post_system_to<detail::Unwatch>(target, self_);
}

void ActorCell::on_terminated(Envelope& e, Terminated& t) noexcept {
  if (!ext_) return;
  auto it = std::find(ext_->watching.begin(), ext_->watching.end(), t.who);
  if (it == ext_->watching.end()) return;  // unwatched since, or never watched
  ext_->watching.erase(it);
  deliver_lifecycle(e);
}

// -- children --------------------------------------------------------------------------------

bool ActorCell::adopt_child(ActorCell* child) {
  CellExtras& x = ext();
  // The list's reference: handed to the child's term_node_ at its death and
  // released when our queue is done with that node.
  child->add_ref();
  child->sib_next_ = x.first_child;
  if (x.first_child != nullptr) x.first_child->sib_prev_ = child;
  x.first_child = child;
  ++x.child_count;
  // A parent on its way out (or through a restart) must stop what it spawns
  // now, or it would wait for this child forever.
  return state() == State::stopping || state() == State::restarting;
}

void ActorCell::unlink_child(ActorCell* child) noexcept {
  CellExtras& x = *ext_;  // a child exists only if adopt_child made ext_
  if (child->sib_prev_ != nullptr) {
    child->sib_prev_->sib_next_ = child->sib_next_;
  } else {
    x.first_child = child->sib_next_;
  }
  if (child->sib_next_ != nullptr) child->sib_next_->sib_prev_ = child->sib_prev_;
  --x.child_count;
}

void ActorCell::disown_child(ActorCell* child) noexcept {
  unlink_child(child);
  child->release();  // the list's reference (adopt_child)
}

std::vector<Pid> ActorCell::children_pids() const {
  std::vector<Pid> out;
  if (!ext_) return out;
  out.reserve(ext_->child_count);
  for (ActorCell* c = ext_->first_child; c != nullptr; c = c->sib_next_) out.emplace_back(c);
  return out;
}

void ActorCell::stop_children() noexcept {
  if (!ext_) return;
  for (ActorCell* c = ext_->first_child; c != nullptr; c = c->sib_next_) c->request_stop();
}

void ActorCell::on_child_terminated(ActorCell* child) noexcept {
  unlink_child(child);
  CellExtras& x = *ext_;
  // Children are watched implicitly; an explicit watch of a child yields the
  // same single Terminated (the child does not notify its parent as a watcher).
  auto it = std::find_if(x.watching.begin(), x.watching.end(),
                         [&](const Pid& p) { return p.process() == child; });
  if (it != x.watching.end()) x.watching.erase(it);
  if (actor_ != nullptr && (behaving_ || actor_->may_handle(message_type_of<Terminated>))) {
    StackEnvelope<Terminated> term(Pid(child), TerminatedReason::stopped);
    deliver_lifecycle(term);
  }
  if (x.child_count != 0) return;
  if (state() == State::stopping) {
    finalize_stop();
  } else if (state() == State::restarting) {
    finish_restart();
  }
}

// -- supervision ---------------------------------------------------------------------------

// What both supervisors share: publishing each directive on the event stream.
struct SupervisorBase : Supervisor {
  SupervisorBase(ActorSystem& s, std::uint64_t failed, const std::exception_ptr& e)
      : system(s), failed_id(failed), error(e) {}
  void publish(std::uint64_t actor, Directive d) const {
    if (!system.events().active()) return;
    system.events().publish(SupervisionEvent{actor, d, describe(error)});
  }
  RestartStats::Clock::time_point now() const override {
    return RestartStats::Clock::time_point(
        std::chrono::duration_cast<RestartStats::Clock::duration>(system.now()));
  }
  /// The Restart directive, delivered by a timer (the child stays failed,
  /// its user queue suspended, until it arrives).
  static void restart_after(ActorSystem& sys, const Pid& child, std::chrono::nanoseconds delay) {
    SystemAccess::schedule_send(sys, child, emplace_envelope<detail::Restart>(), delay,
                                /*system=*/true, nullptr, {}, /*handle=*/false);
  }
  ActorSystem& system;
  std::uint64_t failed_id;
  const std::exception_ptr& error;

 protected:
  ~SupervisorBase() = default;
};

// The strategy's view of a parent actor: directives are system messages to
// the children, handled before their queued mail.
struct ParentSupervisor final : SupervisorBase {
  ParentSupervisor(ActorCell& c, std::uint64_t failed, const std::exception_ptr& e)
      : SupervisorBase(c.system(), failed, e), cell(c) {}
  std::vector<Pid> children() const override { return cell.children_pids(); }
  void resume_children(std::span<const Pid> cs) override {
    for (const Pid& c : cs) {
      publish(c.id(), Directive::resume);
      post_system_to<detail::Resume>(c);
    }
  }
  void restart_children(std::span<const Pid> cs) override {
    for (const Pid& c : cs) {
      publish(c.id(), Directive::restart);
      post_system_to<detail::Restart>(c);
    }
  }
  void stop_children(std::span<const Pid> cs) override {
    for (const Pid& c : cs) {
      publish(c.id(), Directive::stop);
      cell_of(c)->request_stop();
    }
  }
  void restart_children_after(std::span<const Pid> cs, std::chrono::nanoseconds delay) override {
    for (const Pid& c : cs) {
      publish(c.id(), Directive::restart);
      restart_after(system, c, delay);
    }
  }
  void escalate_failure(const std::exception_ptr& e) override {
    publish(failed_id, Directive::escalate);
    cell.fail(e, /*report=*/false);
  }
  ActorCell& cell;
};

// The guardian of an actor the system spawned: the strategy of SystemConfig
// applied to that one actor, on its own worker. Its directives are system
// messages to the actor itself, handled by the run loop like a parent's: a
// restart whose Started fails again does not recurse. It has nowhere to
// escalate: an escalation stops the actor.
struct GuardianSupervisor final : SupervisorBase {
  GuardianSupervisor(ActorCell& c, const std::exception_ptr& e)
      : SupervisorBase(c.system(), c.id(), e), cell(c) {}
  std::vector<Pid> children() const override { return {cell.self_}; }
  void resume_children(std::span<const Pid> /*cs*/) override {
    publish(cell.id(), Directive::resume);
    post_system_to<detail::Resume>(cell.self_);
  }
  void restart_children(std::span<const Pid> /*cs*/) override {
    publish(cell.id(), Directive::restart);
    post_system_to<detail::Restart>(cell.self_);
  }
  void stop_children(std::span<const Pid> /*cs*/) override {
    publish(cell.id(), Directive::stop);
    cell.request_stop();
  }
  void restart_children_after(std::span<const Pid> /*cs*/,
                              std::chrono::nanoseconds delay) override {
    publish(cell.id(), Directive::restart);
    restart_after(system, cell.self_, delay);
  }
  void escalate_failure(const std::exception_ptr& /*e*/) override {
    publish(cell.id(), Directive::escalate);
    cell.request_stop();
  }
  ActorCell& cell;
};

void ActorCell::fail(const std::exception_ptr& error, bool report) noexcept {
  if (report) system_->report_failure(id(), error);
  // On the way out already, or waiting for a directive about an earlier
  // failure (one decision per suspension).
  if (state() == State::stopping || state() == State::failed) return;
  set_state(State::failed);
  mailbox_.set_suspended(true);
  try {
    RestartStats& stats = ext().stats;
    if (parent_ != nullptr) {
      // The parent decides on its own worker; we handle only system
      // messages until its directive arrives.
      parent_->post_system(emplace_envelope<detail::ChildFailed>(self_, error, &stats));
      return;
    }
    GuardianSupervisor guardian(*this, error);
    system_->guardian_strategy().handle_failure(guardian, self_, stats, error);
  } catch (...) {
    // Out of memory or a strategy that threw: stopping is the safe answer.
    system_->report_failure(id(), std::current_exception());
    request_stop();
  }
}

void ActorCell::supervise(detail::ChildFailed& f) noexcept {
  // A parent on its way out is stopping that child already.
  if (state() == State::stopping || state() == State::restarting) return;
  const SupervisorStrategy* strategy = actor_ != nullptr ? actor_->supervisor_strategy() : nullptr;
  if (strategy == nullptr && ext_ && ext_->props) strategy = ext_->props->supervisor().get();
  if (strategy == nullptr) strategy = &system_->default_child_strategy();
  ParentSupervisor sup(*this, f.child.id(), f.error);
  try {
    strategy->handle_failure(sup, f.child, *f.stats, f.error);
  } catch (...) {
    system_->report_failure(id(), std::current_exception());
    cell_of(f.child)->request_stop();
  }
}

void ActorCell::resume() noexcept {
  if (state() != State::failed) return;
  set_state(State::alive);
  mailbox_.set_suspended(false);
}

void ActorCell::begin_restart() noexcept {
  if (state() == State::stopping || state() == State::restarting) return;
  set_state(State::restarting);
  mailbox_.set_suspended(true);
  StackEnvelope<Restarting> restarting;
  deliver_lifecycle(restarting);
  stop_children();
  if (child_count() == 0) finish_restart();
}

void ActorCell::finish_restart() noexcept {
  destroy_actor();
  try {
    actor_ = make_actor();
  } catch (...) {
    // No instance to go on with: report and stop.
    system_->report_failure(id(), std::current_exception());
    begin_stop();  // from restarting: stop wins
    return;
  }
  if (ext_) {
    ext_->behaviors.clear();  // a fresh instance starts in receive
    ++ext_->incarnation;      // and does not run the old one's continuations
  }
  behaving_ = false;
  set_receive_timeout(std::chrono::nanoseconds::zero());  // and sets its own timeout
  set_state(State::alive);
  mailbox_.set_suspended(false);
  StackEnvelope<Started> started;
  deliver_lifecycle(started);  // a throw fails the fresh instance
}

// -- stopping ------------------------------------------------------------------------------

void ActorCell::begin_stop() noexcept {
  if (state() == State::stopping || dead_) return;
  set_state(State::stopping);
  mailbox_.set_suspended(true);  // no user message from here on
  StackEnvelope<Stopping> stopping;
  deliver_lifecycle(stopping);
  stop_children();
  if (child_count() == 0) finalize_stop();
}

void ActorCell::finalize_stop() noexcept {
  // Names first: a watcher that reacts to Terminated may reuse the name.
  system_->release_name(*this);
  StackEnvelope<Stopped> stopped;
  deliver_lifecycle(stopped);
  destroy_actor();  // the actor's destructor runs here, on the worker, like any handler
  if (ext_) {
    for (const Pid& w : ext_->watchers) {
      if (w.process() == parent_) continue;  // the parent hears from term_node_
      try {
        post_system_to<Terminated>(w, self_, TerminatedReason::stopped);
      } catch (const std::bad_alloc&) {
        system_->report_failure(id(), std::current_exception());
      }
    }
    // Let the actors we watch forget us (they would hold our memory).
    for (const Pid& target : ext_->watching) {
      try {
        post_system_to<detail::Unwatch>(target, self_);
      } catch (const std::bad_alloc&) {
      }
    }
    ext_->watchers.clear();
    ext_->watching.clear();
  }
  dead_ = true;
}

void ActorCell::finish_death() noexcept {
  // Mail that arrived before or during death: user messages are dead
  // letters; a late watch is answered; other system messages have nothing
  // left to act on.
  mailbox_.finish_dead([this](Envelope& e) { handle_post_mortem(e); },
                       [this](Envelope& e) {
                         system_->report_dead_letter(e, id(), DeadLetterReason::stopped_with_mail);
                       });
  system_->actor_died(*this);
  // The parent learns last, after we left the live table: its own stop waits
  // for this. The node carries the reference adopt_child took.
  if (parent_ != nullptr) parent_->post_system(&term_node_);
  // Last: drops the cell's reference to itself; may delete `this`.
  Pid last = std::move(self_);
}

void ActorCell::abandon() noexcept {
  dead_ = true;
  destroy_actor();
  mailbox_.finish_dead([](Envelope&) {}, [](Envelope&) {});
  Pid last = std::move(self_);
}

}  // namespace shoal::detail
