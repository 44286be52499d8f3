// NodeImpl, outbound: queued envelopes → frames → sends; connecting; what
// happens to queued messages, futures and watches when a peer is lost.
#include <cerrno>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "core/detail/system_access.hpp"
#include "core/flight_recorder.hpp"
#include "io/detail/node_impl.hpp"
#include "shoal/completion_queue.hpp"
#include "shoal/detail/actor_cell.hpp"
#include "shoal/future.hpp"

namespace shoal::io::detail {

namespace {

bool is_future(const Pid& p) { return p.process()->kind() == Process::Kind::future; }

}  // namespace

// -- connecting --

void IoLoop::start_connect(Endpoint& e) {
  if (!e.alternatives.empty()) {  // the next address of the last lookup
    SocketAddress next = std::move(e.alternatives.front());
    e.alternatives.erase(e.alternatives.begin());
    dial(e, next);
    return;
  }
  std::optional<SocketAddress> to;
  try {
    to = resolve_numeric(e.address());
  } catch (const std::exception& ex) {
    report(std::string("cannot connect to ") + e.address() + ": " + ex.what());
    connect_failed(e);
    return;
  }
  if (to) {
    dial(e, *to);
    return;
  }
  // A host name: looked up off this thread. Meanwhile the endpoint waits
  // as for a peer's dial, with the connect timeout as its deadline.
  e.state = Endpoint::State::connecting;
  e.connection = nullptr;
  e.waiting_until = Clock::now() + config_.connect_timeout;
  if (!e.resolving) start_lookup(e);  // else the lookup out answers this attempt
}

void IoLoop::start_lookup(Endpoint& e) {
  auto lookup = [res = resolutions_, ep = e.shared_from_this(), resolver = config_.resolve, this] {
    Resolved r;
    try {
      if (resolver) {
        for (const std::string& a : resolver(ep->address())) {
          std::optional<SocketAddress> s = resolve_numeric(a);
          if (!s)
            throw std::invalid_argument("the resolver gave '" + a + "', not a numeric address");
          r.addresses.push_back(std::move(*s));
        }
        if (r.addresses.empty()) r.error = "the resolver gave no address";
      } else {
        r.addresses = resolve_all(ep->address());
      }
    } catch (const std::exception& ex) {
      r.addresses.clear();
      r.error = ex.what();
    }
    r.endpoint = ep;
    std::lock_guard lock(res->mu);
    if (res->closed) return;  // the loop is shutting down (or gone)
    res->done.push_back(std::move(r));
    // seq_cst: this side's store of the sleep protocol's store→load pair.
    resolutions_waiting_.store(true, std::memory_order_seq_cst);
    nudge();
  };
  try {
    std::thread(std::move(lookup)).detach();
  } catch (const std::system_error& ex) {  // no thread to be had
    report("cannot connect to " + e.address() + ": no thread to look its name up (" +
           ex.what() + ")");
    connect_failed(e);
    return;
  }
  e.resolving = true;
}

bool IoLoop::take_resolutions() {
  // relaxed: a hint; the mutex orders the answers themselves.
  if (!resolutions_waiting_.load(std::memory_order_relaxed)) return false;
  std::vector<Resolved> done;
  {
    std::lock_guard lock(resolutions_->mu);
    // relaxed: cleared under the lock the poster sets it under.
    resolutions_waiting_.store(false, std::memory_order_relaxed);
    done.swap(resolutions_->done);
  }
  for (Resolved& r : done) {
    Endpoint& e = *r.endpoint;
    e.resolving = false;
    // Still waiting for it? (It may have timed out and be backing off, or
    // have been dropped: then the next attempt looks the name up again.)
    if (e.state != Endpoint::State::connecting || e.connection != nullptr) continue;
    if (r.addresses.empty()) {
      report("cannot connect to " + e.address() + ": " + r.error);
      connect_failed(e);
      continue;
    }
    e.alternatives.assign(std::make_move_iterator(r.addresses.begin() + 1),
                          std::make_move_iterator(r.addresses.end()));
    dial(e, r.addresses.front());
  }
  return !done.empty();
}

void IoLoop::dial(Endpoint& e, const SocketAddress& to) {
  int fd;
  try {
    fd = tcp_socket(to.storage.ss_family);
  } catch (const std::exception& ex) {
    report(std::string("cannot connect to ") + e.address() + ": " + ex.what());
    connect_failed(e);
    return;
  }
  Connection* c = adopt(fd, true, e.shared_from_this());
  // A name's messages say which of its addresses this dial is.
  if (std::string numeric = to_text(to.storage); numeric != e.address()) {
    c->peer += " (" + numeric + ")";
  }
  c->deadline = Clock::now() + config_.connect_timeout;
  c->connect_pending = true;
  e.connection = c;
  e.state = Endpoint::State::connecting;
  port_->connect(fd, to.storage, to.length, token(c->serial, op_connect));
}

void IoLoop::connect_failed(Endpoint& e) {
  e.connection = nullptr;
  if (!e.alternatives.empty()) {
    // The name has more addresses: the next is dialed on the loop's next
    // turn (run_timers; not from here, which may be inside a walk over the
    // connections), and the attempt has not failed yet.
    e.state = Endpoint::State::backing_off;
    e.next_attempt = Clock::now();
    return;
  }
  ++e.failures;
  if (e.failures >= config_.max_attempts) {
    report("giving up on " + e.address() + " after " + std::to_string(e.failures) +
           " failed attempts; dropping what was queued for it");
    e.failures = 0;
    association_lost(e);
    return;
  }
  auto backoff = config_.backoff_min * (1u << std::min(e.failures - 1, 16u));
  e.next_attempt = Clock::now() + std::min<std::chrono::nanoseconds>(backoff, config_.backoff_max);
  e.state = Endpoint::State::backing_off;
}

void IoLoop::connected(Endpoint& e, Connection& c) {
  c.state = Connection::State::open;
  c.deadline = {};
  e.connection = &c;
  e.state = Endpoint::State::connected;
  e.failures = 0;
  e.alternatives.clear();
  bump(stats_.connections_opened);
  if (system_.events().active()) {
    system_.events().publish(PeerConnected{e.address(), e.peer_incarnation});
  }
  flush(e);
  start_send(c);
}

// -- queues to frames --

void IoLoop::flush(Endpoint& e) {
  if (!e.active) {
    e.active = true;
    active_.push_back(e.shared_from_this());
  }
  switch (e.state) {
    case Endpoint::State::idle:
      // Listed, but the queue went with a lost connection since: nothing
      // to connect for (the mark makes the next sender list it again).
      if (e.try_mark_empty()) return;
      start_connect(e);
      return;
    case Endpoint::State::connecting:
    case Endpoint::State::backing_off:
      return;  // the queue stays unmarked; connected() flushes it
    case Endpoint::State::connected: {
      Connection& c = *e.connection;
      shoal::detail::WorkerTrace* const t = shoal::detail::active_trace;
      if (t == nullptr) [[likely]] {
        encode_queue(e, c);
        start_send(c);
        return;
      }
      t->run_ts = shoal::detail::ticks();
      const std::uint64_t messages = c.out_messages;
      const std::size_t bytes = c.out.size();
      encode_queue(e, c);
      const std::uint64_t encoded = c.out_messages - messages;  // before start_send moves them
      const std::size_t written = c.out.size() - std::min(bytes, c.out.size());
      start_send(c);
      trace_frame(*t, TraceKind::remote_out, c, encoded, written, t->flow_seq);
      return;
    }
  }
}

wire::OutboundRef IoLoop::export_ref(const Pid& p) {
  if (p.process()->kind() == Process::Kind::remote) {
    // Views into the proxy: the caller keeps `p` alive while they are used.
    auto& r = static_cast<RemoteProcess&>(*p.process());
    return {r.remote_id(), r.name(), r.endpoint().address()};
  }
  // A stream has one sender: one compare instead of a map lookup.
  if (p.process() != last_export_.process) {
    auto it = exports_.find(p.id());  // this thread writes exports_: no lock to read
    Export* entry = it != exports_.end()
                        ? &it->second
                        : &export_pid(p, p.is_actor() ? system_.name_of(p) : std::string());
    last_export_ = {p.process(), entry};
  }
  return {p.id(), last_export_.entry->name, {}};
}

IoLoop::Export& IoLoop::export_pid(const Pid& pid, std::string name) {
  std::lock_guard lock(exports_mu_);  // other io threads read exports_ under it
  auto [it, made] = exports_.try_emplace(pid.id(), Export{pid, name});
  if (!made && !name.empty()) it->second.name = std::move(name);
  return it->second;
}

void IoLoop::encode_queue(Endpoint& e, Connection& c) {
  e.next_sequence += e.take_refused();
  writer_.set_limits(e.send_limits);  // the peer's, from its handshake
  const std::size_t out_before = c.out.size();
  // Frames are encoded only this far ahead of the socket: beyond it the
  // messages wait as they are (counted against the same byte bound), and a
  // peer that stops reading holds at most this much in frames.
  const std::size_t window = 4 * config_.batch_bytes;
  e.backlogged = false;
  std::size_t bytes = 0;
  for (;;) {
    while (true) {
      if (c.booked + (c.out.size() - out_before) >= window) {
        e.backlogged = true;  // on_completion flushes again once the send is done
        break;
      }
      Envelope* env = e.try_pop();
      if (env == nullptr) break;
      bytes += env->type->node_size;
      RemoteProcess& target = target_of(*env);
      Pid target_hold = Pid::adopt(&target);  // post()'s reference
      if (target.incarnation() != 0 && target.incarnation() != e.peer_incarnation) {
        // An id from an incarnation that is gone: never to the new one.
        drop_one(*env, target);
        continue;
      }
      const MessageType* t = env->type->base();
      if (t == message_type_of<shoal::detail::Watch> ||
          t == message_type_of<shoal::detail::Unwatch> || t == message_type_of<Terminated> ||
          t == message_type_of<shoal::detail::StopRequest> ||
          t == message_type_of<DeadLetterResponse>) {
        finish_batch(c);  // control frames keep their place in the stream
        write_control(e, c, *env, target);
        env->destroy_payload();
        continue;
      }
      // A stream is mostly one type: one compare instead of a map lookup.
      if (env->type != last_type_) {
        last_type_ = env->type;
        last_codec_ = types_.find(env->type);
      }
      const wire::TypeCodec* codec = last_codec_;
      if (codec == nullptr) {
        bump(stats_.dropped_not_serializable);
        shoal::detail::SystemAccess::report_dead_letter(system_, *env, target.id(),
                                                        DeadLetterReason::not_serializable);
        env->destroy_payload();
        continue;
      }
      wire::OutboundMessage m;
      m.envelope = env;
      m.codec = codec;
      m.target = target.ref();
      m.sequence = e.next_sequence++;
      if (const SenderHeader* h = env->sender_header(); h != nullptr && !h->sender.empty()) {
        m.sender = export_ref(h->sender);
        m.request_id = h->request_id;
        if (is_future(h->sender)) {
          if (e.pending_futures.size() >= 64 &&
              e.pending_futures.size() == e.pending_futures.capacity()) {
            std::erase_if(e.pending_futures, [](const Pid& f) {
              return static_cast<shoal::detail::FutureCore*>(f.process())->done();
            });
          }
          e.pending_futures.push_back(h->sender);
        }
      }
      auto r = writer_.add(m);
      if (r == wire::BatchWriter::Add::full) {
        finish_batch(c);  // may sweep exports_: take the sender's ref afresh
        if (m.sender) m.sender = export_ref(env->sender_header()->sender);
        r = writer_.add(m);
      }
      if (r == wire::BatchWriter::Add::added) {
        // The batch keeps views into the target's proxy (its name) and a
        // remote sender's (name, address) until it is written.
        holds_.push_back(std::move(target_hold));
        if (m.sender && !m.sender->address.empty()) holds_.push_back(env->sender_header()->sender);
      } else if (r == wire::BatchWriter::Add::too_large) {
        // Larger than one frame the peer accepts (its handshake said how
        // large): this message is refused here, not the connection there.
        bump(stats_.dropped_too_large);
        report(std::string("cannot send a ") + std::string(codec->name()) + " to " + e.address() +
               ": " + writer_.error());
        shoal::detail::SystemAccess::report_dead_letter(system_, *env, target.id(),
                                                        DeadLetterReason::too_large);
      } else {
        bump(stats_.dropped_not_serializable);
        report(std::string("cannot send a ") + std::string(codec->name()) + " to " + e.address() +
               ": " + writer_.error());
        shoal::detail::SystemAccess::report_dead_letter(system_, *env, target.id(),
                                                        DeadLetterReason::not_serializable);
      }
      env->destroy_payload();
      if (writer_.bytes() >= config_.batch_bytes) finish_batch(c);
    }
    if (e.backlogged || e.try_mark_empty()) break;  // else a producer is mid-push: keep draining
  }
  finish_batch(c);
  // The frames now count against the peer's byte bound instead of the
  // envelopes, until their sends complete (on_completion) or the
  // connection closes (unbook_all).
  const std::size_t encoded = c.out.size() - out_before;
  e.book(bytes, encoded);
  c.booked += encoded;
  if (!owed_.empty()) pay_owed();  // watches of a gone incarnation's actors
}

void IoLoop::trace_frame(shoal::detail::WorkerTrace& t, TraceKind kind, const Connection& c,
                         std::uint64_t messages, std::uint64_t bytes, std::uint64_t flows) {
  const std::uint64_t end = shoal::detail::ticks();
  t.ring.push(
      {.ts = t.run_ts,
       .dur = static_cast<std::uint32_t>(std::min<std::uint64_t>(end - t.run_ts, UINT32_MAX)),
       .kind = kind,
       .x = static_cast<std::uint32_t>(std::min<std::uint64_t>(t.flow_seq - flows, 0xffffff)),
       .a = c.endpoint != nullptr ? c.endpoint->peer_incarnation : 0,
       .b = messages,
       .c = bytes,
       .d = (flows + 1) << 9 | t.worker << 1});
  t.run_ts = 0;
}

void IoLoop::finish_batch(Connection& c) {
  std::size_t n = writer_.size();
  if (n != 0) {
    writer_.finish(c.out);
    c.out_messages += n;
    bump(stats_.frames_sent);
    bump(stats_.messages_sent, n);
  }
  holds_.clear();
  // No batch refers to an export's name now: forget stopped actors and
  // completed futures (nothing can answer them). Amortised O(1) per export.
  if (exports_.size() >= exports_sweep_at_) {
    last_export_ = {};
    std::lock_guard lock(exports_mu_);  // other io threads read exports_ under it
    std::erase_if(exports_, [](const auto& kv) {
      Process* proc = kv.second.pid.process();
      switch (proc->kind()) {
        case Process::Kind::local_actor:
          return static_cast<shoal::detail::ActorCell*>(proc)->is_dead();
        case Process::Kind::future:
          return static_cast<shoal::detail::FutureCore*>(proc)->done();
        case Process::Kind::queue:
          return shoal::detail::queue_closed(*proc);
        case Process::Kind::remote:
          return proc->use_count() == 1;  // only this export names it
      }
      return false;
    });
    exports_sweep_at_ = std::max<std::size_t>(1024, 2 * exports_.size());
  }
}

void IoLoop::write_control(Endpoint& e, Connection& c, Envelope& env, RemoteProcess& target) {
  if (auto* w = env.get<shoal::detail::Watch>()) {
    control_.watch(export_ref(w->watcher), target.ref(), true, c.out);
    e.watches.emplace_back(w->watcher, Pid(&target));
  } else if (auto* u = env.get<shoal::detail::Unwatch>()) {
    control_.watch(export_ref(u->watcher), target.ref(), false, c.out);
    std::erase_if(e.watches, [&](const auto& wp) {
      return wp.first == u->watcher && wp.second.process() == &target;
    });
  } else if (env.is<shoal::detail::StopRequest>()) {
    control_.stop(target.ref(), c.out);
  } else if (auto* t = env.get<Terminated>()) {
    wire::OutboundRef who = export_ref(t->who);
    auto reason = to_wire(t->why);
    control_.terminated(who, target.ref(), reason, c.out);
  } else if (auto* d = env.get<DeadLetterResponse>()) {
    // A request from the peer became a dead letter here: the asker (a
    // future fails at once, an actor gets its DeadLetterResponse there).
    // The type travels by its wire name when this node has one.
    std::string_view type_name = d->type_name;
    if (const wire::TypeCodec* codec = types_.find_by_type_name(d->type_name)) {
      type_name = codec->name();
    }
    control_.undeliverable(target.ref(), 0, to_wire(d->reason), wire::OutboundRef{d->target_id, {}, {}},
                           type_name, c.out);
  }
}

void IoLoop::start_send(Connection& c) {
  if (c.state == Connection::State::closing && !c.close_when_sent) return;
  auto bytes = c.next_send();
  if (bytes.empty()) {
    if (c.tls_failed) {
      c.tls_failed = false;
      c.close_when_sent = false;
      close_connection(c, "TLS: " + c.tls->error(), true);
    }
    return;
  }
  c.last_sent = Clock::now();
  port_->send(c.fd, bytes, token(c.serial, op_send));
}

// -- loss --

void IoLoop::drop_one(Envelope& env, RemoteProcess& target) {
  const MessageType* t = env.type->base();
  if (auto* w = env.get<shoal::detail::Watch>()) {
    // The watch never reached the peer: the watcher hears the address died.
    owed_.terminated.emplace_back(w->watcher, Pid(&target));
  } else if (t != message_type_of<shoal::detail::Unwatch> && t != message_type_of<Terminated> &&
             t != message_type_of<shoal::detail::StopRequest> &&
             t != message_type_of<DeadLetterResponse>) {
    bump(stats_.dropped_connection_lost);
    // Published now; the asker (ActorSystem::bounce's job) is told later.
    DeadLetter d{target.id(), env.type->name, DeadLetterReason::connection_lost};
    system_.dead_letters().publish(d);
    system_.events().publish(d);
    if (const SenderHeader* h = env.sender_header(); h != nullptr && !h->sender.empty()) {
      if (is_future(h->sender)) {
        owed_.futures.push_back(h->sender);
      } else {
        owed_.responses.push_back(
            {h->sender,
             DeadLetterResponse{target.id(), env.type->name, DeadLetterReason::connection_lost}});
      }
    }
  }
  env.destroy_payload();
}

void IoLoop::pay_owed() {
  // Moved out first: a future's continuation runs here and may send to
  // the same peer, and so come back through a drop.
  Owed owed = std::move(owed_);
  owed_ = {};
  for (Pid& f : owed.futures) {
    if (static_cast<shoal::detail::FutureCore*>(f.process())
            ->fail(RequestErrc::delivery_failed, DeadLetterReason::connection_lost)) {
      bump(stats_.futures_failed);
    }
  }
  for (auto& [watcher, watchee] : owed.terminated) {
    shoal::detail::SystemAccess::post_system(
        watcher, emplace_envelope<Terminated>(watchee, TerminatedReason::address_terminated));
  }
  for (auto& [asker, response] : owed.responses) {
    // Plain (no sender), as ActorSystem::bounce sends it.
    try {
      system_.send(asker, response);
    } catch (const std::bad_alloc&) {
    }
  }
}

void IoLoop::drop_queued(Endpoint& e) {
  std::size_t bytes = 0;
  for (;;) {
    while (Envelope* env = e.try_pop()) {
      bytes += env->type->node_size;
      Pid target = Pid::adopt(&target_of(*env));
      ++e.next_sequence;  // numbered, never sent: the peer will see the gap
      drop_one(*env, static_cast<RemoteProcess&>(*target.process()));
    }
    if (e.try_mark_empty()) break;
  }
  e.book(bytes, 0);
  e.next_sequence += e.take_refused();
  // Only now, with the queue empty and marked: whatever a failed future or
  // a Terminated makes someone send next (a retry) goes to a new attempt,
  // not into the queue being dropped.
  pay_owed();
}

void IoLoop::association_lost(Endpoint& e) {
  owed_.futures.insert(owed_.futures.end(), std::make_move_iterator(e.pending_futures.begin()),
                       std::make_move_iterator(e.pending_futures.end()));
  e.pending_futures.clear();
  owed_.terminated.insert(owed_.terminated.end(), std::make_move_iterator(e.watches.begin()),
                          std::make_move_iterator(e.watches.end()));
  e.watches.clear();
  e.connection = nullptr;
  e.state = Endpoint::State::idle;
  e.backlogged = false;
  drop_queued(e);  // pays what is owed once the queue is gone
}

}  // namespace shoal::io::detail
