// NodeImpl, inbound: bytes → frames → handshake, batches, control frames.
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/detail/system_access.hpp"
#include "core/flight_recorder.hpp"
#include "io/detail/node_impl.hpp"
#include "shoal/detail/actor_cell.hpp"
#include "shoal/future.hpp"

namespace shoal::io::detail {

namespace {

/// A Disconnect's reason, cut to what a log line takes.
std::string_view reason_of(wire::schema::Disconnect::Reader d) {
  auto reason = d.getReason();
  return {reason.cStr(), std::min<std::size_t>(reason.size(), 256)};
}

/// The reason of a plain Disconnect frame at the start of `data`, if it
/// holds one (what a node without TLS answers a ClientHello); else empty.
std::string plain_disconnect_reason(std::span<const std::byte> data) {
  wire::FrameHeader h;
  wire::FrameError error = wire::FrameError::none;
  const wire::FrameLimits limits{};
  if (wire::parse_frame_header(data, limits, h, error) != wire::HeaderStatus::ok ||
      h.frame_bytes > data.size()) {
    return {};
  }
  std::vector<std::uint64_t> words((h.frame_bytes + 7) / 8);  // aligned for the reader
  std::memcpy(words.data(), data.data(), h.frame_bytes);
  wire::FrameReader reader({reinterpret_cast<const std::byte*>(words.data()), h.frame_bytes},
                           limits);
  if (reader.error() != wire::FrameError::none) return {};
  try {
    auto f = reader.frame();
    return f.isDisconnect() ? std::string(reason_of(f.getDisconnect())) : std::string();
  } catch (const kj::Exception&) {
    return {};
  }
}

/// Does `data` begin as a TLS record would (content type 20–23, version
/// 3.x)? Only to say what went wrong when one side has TLS and the other
/// has not.
bool looks_like_tls(std::span<const std::byte> data) noexcept {
  if (data.size() < 2) return false;
  const auto type = std::to_integer<unsigned>(data[0]);
  return type >= 20 && type <= 23 && std::to_integer<unsigned>(data[1]) == 3;
}

}  // namespace

void IoLoop::on_receive(Connection& c, const Completion& comp) {
  if (comp.result > 0) {
    bump(stats_.bytes_received, static_cast<std::uint64_t>(comp.result));
    if (c.state != Connection::State::closing) {
      c.last_heard = Clock::now();
      std::span<const std::byte> data = comp.data;
      if (c.tls && !open_records(c, data)) data = {};
      wire::FrameError error = wire::FrameError::none;
      // c.receive_limits, by reference: a handshake's worth until the
      // association opens (a frame that opens it changes them for the next).
      bool ok =
          c.state == Connection::State::closing || c.feed(
                                                       data, c.receive_limits,
                                                       [&](std::span<const std::byte> frame) {
                                                         if (c.state != Connection::State::closing)
                                                           on_frame(c, frame);
                                                       },
                                                       error);
      if (!ok && c.state != Connection::State::closing) {
        std::string why = "bad frame header (" + std::string(wire::to_string(error)) + ")";
        if (!c.tls && c.state == Connection::State::handshaking && looks_like_tls(data)) {
          why += ": the peer speaks TLS and this node does not (NodeConfig::tls)";
        }
        refuse(c, why);
      }
    }
  }
  port_->release(comp.buffer);
  if (comp.more) return;
  c.receiving = false;
  if (c.handover_to && c.state != Connection::State::closing &&
      (comp.result == -ECANCELED || comp.result == -ENOBUFS)) {
    finish_handover(c);
  } else if (c.state != Connection::State::closing) {
    if (comp.result == -ENOBUFS) {  // every buffer was lent out: receive again
      c.receiving = true;
      port_->receive(c.fd, token(c.serial, op_receive));
      return;
    }
    if (comp.result == 0) {
      close_connection(c, c.buffered() != 0 ? "peer closed mid-frame" : "peer closed", false);
    } else if (comp.result < 0) {
      close_connection(c, std::string("receive: ") + std::strerror(-comp.result), false);
    }
  }
  maybe_free(c);
}

bool IoLoop::open_records(Connection& c, std::span<const std::byte>& data) {
  TlsSession& tls = *c.tls;
  const bool was_established = tls.established();
  const bool first_bytes = !c.tls_heard;
  c.tls_heard = true;
  c.plain_in.clear();
  if (!tls.receive(data, c.plain_in, c.tls_out)) {
    std::string why = "TLS: " + tls.error();
    if (!was_established) {
      // The peer could not prove the key (or speaks no TLS): refused as
      // a failed proof is, after the alert OpenSSL wrote, if any.
      bump(stats_.auth_failures);
      if (first_bytes && !looks_like_tls(data)) {
        why = "the peer does not speak TLS (NodeConfig::tls must be set on both nodes)";
        if (std::string said = plain_disconnect_reason(data); !said.empty()) {
          why += "; it said: " + said;
        } else if (!c.dialed) {
          // A plain dialer reads plain frames: it is told why, in the
          // clear (nothing but the reason goes out).
          c.tls_out.clear();
          control_.disconnect("this node speaks TLS only (NodeConfig::tls)", c.tls_out);
        }
      }
    }
    close_after_sending(c, why);
    return false;
  }
  if (!c.tls_out.empty() || (!was_established && tls.established())) {
    start_send(c);  // its handshake flight; then, once established, `out`
  }
  data = c.plain_in;
  return true;
}

void IoLoop::on_frame(Connection& c, std::span<const std::byte> bytes) {
  bump(stats_.frames_received);
  wire::FrameReader reader(bytes, config_.limits);
  if (reader.error() != wire::FrameError::none) {
    refuse(c, "malformed frame: " + reader.message());
    return;
  }
  try {
    auto f = reader.frame();
    if (c.handover_to) {
      // The peer must wait for the handshake's answer before it sends
      // anything more.
      refuse(c, "a frame before the handshake was answered");
      return;
    }
    if (f.isHandshake()) {
      on_handshake(c, f.getHandshake());
      return;
    }
    if (f.isDisconnect()) {
      const std::string_view why = reason_of(f.getDisconnect());
      if (why == "duplicate connection") c.rejected_duplicate = true;
      if (why == goodbye_reason) c.peer_said_goodbye = true;
      if (c.state != Connection::State::open && !c.rejected_duplicate && !c.peer_said_goodbye) {
        // Refused before the association opened (no secret, another
        // version, TLS on one side only): the operator hears why here too.
        report("connection to " + c.peer + " refused by the peer: " + std::string(why));
      }
      close_connection(c, "peer said: " + std::string(why), false);
      return;
    }
    if (f.isAuth()) {
      on_auth(c, f.getAuth());
      return;
    }
    if (c.state != Connection::State::open) {
      refuse(c, c.awaiting_auth ? "a frame before the proof" : "a frame before the handshake");
      return;
    }
    if (f.isBatch()) {
      decoding_ = &c;
      // Recording: the frame is an event of this thread's lane, and the
      // source of its messages' flows (their ids follow on from here).
      shoal::detail::WorkerTrace* const t = shoal::detail::active_trace;
      const std::uint64_t flows = t != nullptr ? t->flow_seq : 0;
      if (t != nullptr) [[unlikely]]
        t->run_ts = shoal::detail::ticks();
      std::string error;
      wire::FrameError fe = decoder_.decode(f.getBatch(), *this, error);
      // Counted once a batch (a locked add per message cost the receiver
      // a fifth of its time: it waits for the decode's stores to drain),
      // and before the messages are handed over.
      const std::uint64_t delivered = std::exchange(decoded_, 0);
      bump(stats_.messages_received, delivered);
      flush_chains();
      decoding_ = nullptr;
      if (t != nullptr) [[unlikely]]
        trace_frame(*t, TraceKind::remote_in, c, delivered, bytes.size(), flows);
      if (fe != wire::FrameError::none) {
        refuse(c, "bad batch: " + error);
      } else {
        start_send(c);  // Undeliverable answers to rejected requests, if any
      }
      return;
    }
    if (f.isHeartbeat()) {
      if (!f.getHeartbeat().getReply()) {
        control_.heartbeat(f.getHeartbeat().getNonce(), true, c.out);
        start_send(c);
      }
      return;
    }
    on_control(c, f);
  } catch (const kj::Exception& e) {
    refuse(c, std::string("malformed frame: ") + e.getDescription().cStr());
  }
}

void IoLoop::on_handshake(Connection& c, wire::schema::Handshake::Reader h) {
  if (c.state != Connection::State::handshaking || c.awaiting_auth) {
    refuse(c, "a second handshake");
    return;
  }
  if (h.getVersion() != wire::schema::PROTOCOL_VERSION) {
    refuse(c, "protocol version " + std::to_string(h.getVersion()) + " is not " +
                  std::to_string(wire::schema::PROTOCOL_VERSION));
    return;
  }
  auto address_text = h.getAddress();
  std::uint64_t incarnation = h.getIncarnation();
  if (address_text.size() == 0 || address_text.size() > wire::max_name_bytes || incarnation == 0) {
    refuse(c, "a handshake without a valid address and incarnation");
    return;
  }
  const bool authenticating = !config_.secret.empty();
  auto nonce = h.getNonce();
  if (authenticating && !c.dialed && nonce.size() != shoal::io::detail::nonce_bytes) {
    bump(stats_.auth_failures);
    refuse(c,
           "authentication required: this node has a cluster secret and the peer offered "
           "no proof");
    return;
  }
  if (!authenticating && !c.dialed && nonce.size() != 0) {
    bump(stats_.auth_failures);
    refuse(c, "this node has no cluster secret: it cannot authenticate the peer");
    return;
  }
  Connection::Hello& hello = c.hello;
  hello.incarnation = incarnation;
  hello.association = h.getAssociation();
  hello.limits = wire::peer_limits(h);
  hello.has_nonce = nonce.size() == shoal::io::detail::nonce_bytes;
  if (hello.has_nonce) std::memcpy(hello.nonce.data(), nonce.begin(), nonce.size());
  std::string peer(address_text.cStr(), address_text.size());
  c.peer = peer;
  if (c.dialed && authenticating) {
    // The acceptor's answer: it must prove the secret before anything of
    // ours goes out beyond the handshake.
    auto proof = h.getProof();
    const auto expected = shoal::io::detail::handshake_proof(
        config_.secret, shoal::io::detail::Role::acceptor, {c.nonce, address_, incarnation_},
        {hello.nonce, peer, incarnation});
    if (!hello.has_nonce ||
        !shoal::io::detail::proof_matches(
            {reinterpret_cast<const std::byte*>(proof.begin()), proof.size()}, expected)) {
      bump(stats_.auth_failures);
      refuse(c, "authentication failed: the peer did not prove the cluster secret");
      return;
    }
    const auto mine = shoal::io::detail::handshake_proof(
        config_.secret, shoal::io::detail::Role::dialer, {c.nonce, address_, incarnation_},
        {hello.nonce, peer, incarnation});
    control_.auth(mine, c.out);  // before any batch: the acceptor reads nothing else first
  }
  std::shared_ptr<Endpoint> ep = c.dialed ? c.endpoint : node_.endpoint_for(peer);
  if (!home_of(*ep)) {
    // Not ours: end the receive, then pass the socket to the endpoint's
    // home thread (finish_handover), which answers the handshake.
    c.handover_to = ep;
    port_->cancel(token(c.serial, op_receive));
    return;
  }
  accept_handshake(c, ep);
}

void IoLoop::finish_handover(Connection& c) {
  if (c.buffered() != 0) {
    refuse(c, "bytes after the handshake before it was answered");
    return;
  }
  Handover h;
  h.fd = c.release_fd();
  h.endpoint = std::move(c.handover_to);
  h.hello = c.hello;
  h.tls = std::move(c.tls);  // established; the peer waits for the answer
  h.peer = c.peer;
  h.deadline = c.deadline;
  h.node = &node_;
  IoLoop& home = h.endpoint->home();
  // Gone from here without a close: not counted as opened or closed. It
  // stays counted as a connection and as half-open: the counts move with
  // it (take_handovers, or ~Handover if nobody takes it).
  c.state = Connection::State::closing;
  c.half_open = false;
  c.counted = false;
  bump(stats_.handovers);
  home.hand_over(std::move(h));
}

void IoLoop::write_handshake(Connection& c, const Endpoint* ep) {
  wire::HandshakeInfo info{address_, incarnation_};
  info.association = ep != nullptr ? ep->association : 0;
  info.limits = &config_.limits;
  shoal::io::detail::Proof proof;
  if (!config_.secret.empty()) {
    c.nonce = shoal::io::detail::fresh_nonce();
    info.nonce = c.nonce;
    if (!c.dialed) {
      proof = shoal::io::detail::handshake_proof(config_.secret, shoal::io::detail::Role::acceptor,
                                                 {c.hello.nonce, c.peer, c.hello.incarnation},
                                                 {c.nonce, address_, incarnation_});
      info.proof = proof;
    }
  }
  control_.handshake(info, c.out);
}

void IoLoop::accept_handshake(Connection& c, const std::shared_ptr<Endpoint>& ep) {
  if (c.dialed) {
    open_association(c, *ep);
    return;
  }
  Connection* other = ep->connection;
  if (other != nullptr && other != &c && other->state != Connection::State::open &&
      address_ < ep->address()) {
    // Both dialed at once: the dial from the lower address wins. Decided
    // before answering (nothing of the peer's is in flight yet).
    refuse(c, "duplicate connection");
    return;
  }
  write_handshake(c, ep.get());
  if (config_.secret.empty()) {
    bind_accepted(c, ep);
    return;
  }
  // Nothing about the claimed address changes until the dialer's proof
  // checks: a client without the secret cannot displace the real peer.
  c.claimed = ep;
  c.awaiting_auth = true;
  start_send(c);
}

void IoLoop::on_auth(Connection& c, wire::schema::Auth::Reader a) {
  if (!c.awaiting_auth) {
    refuse(c, "an unexpected auth frame");
    return;
  }
  auto proof = a.getProof();
  const auto expected = shoal::io::detail::handshake_proof(
      config_.secret, shoal::io::detail::Role::dialer, {c.hello.nonce, c.peer, c.hello.incarnation},
      {c.nonce, address_, incarnation_});
  if (!shoal::io::detail::proof_matches(
          {reinterpret_cast<const std::byte*>(proof.begin()), proof.size()}, expected)) {
    bump(stats_.auth_failures);
    refuse(c, "authentication failed: the peer did not prove the cluster secret");
    return;
  }
  c.awaiting_auth = false;
  std::shared_ptr<Endpoint> ep = std::move(c.claimed);
  bind_accepted(c, ep);
}

void IoLoop::bind_accepted(Connection& c, const std::shared_ptr<Endpoint>& ep) {
  Connection* other = ep->connection;
  if (other != nullptr && other != &c) {
    if (other->state == Connection::State::open) {
      // The peer dialed again: it lost the old connection (or restarted).
      close_connection(*other, "the peer connected anew", false);
    } else if (address_ < ep->address()) {
      // Our dial began while the peer proved itself: the lower address's
      // dial still wins.
      refuse(c, "duplicate connection");
      return;
    } else {
      // Ours loses: close it without counting a failure.
      unbook_all(*other);
      other->endpoint.reset();
      ep->connection = nullptr;
      close_connection(*other, "the peer's dial won", false);
    }
  }
  c.endpoint = ep;
  ep->connection = &c;
  if (!ep->active) {
    ep->active = true;
    active_.push_back(ep);
  }
  open_association(c, *ep);
}

void IoLoop::open_association(Connection& c, Endpoint& ep) {
  const Connection::Hello& hello = c.hello;
  if (ep.peer_incarnation != hello.incarnation) {
    // A new incarnation: nothing numbered by the old one counts, and
    // nothing from it may reach the new one (the old association's queue,
    // futures and watches went when its connection did).
    if (ep.peer_incarnation != 0 && ep.state == Endpoint::State::connected) {
      association_lost(ep);
      ep.connection = &c;
    }
    ep.peer_incarnation = hello.incarnation;
    ep.inbound_expected = 0;
  } else if (hello.association != 0 && hello.association != ep.peer_association) {
    // The same incarnation numbers anew (it evicted its endpoint for us).
    ep.inbound_expected = 0;
  }
  ep.peer_association = hello.association;
  ep.send_limits = hello.limits;
  c.receive_limits = config_.limits;
  end_half_open(c);
  connected(ep, c);
}

void IoLoop::on_control(Connection& c, wire::schema::Frame::Reader f) {
  Endpoint& ep = *c.endpoint;
  wire::InboundRef a, b;
  // Reads the frame's two refs into a and b; a name over the limit is the
  // peer's fault: refused.
  auto read_refs = [&](auto ref_a, auto ref_b, const char* frame) {
    if (wire::read_ref(ref_a, a) && wire::read_ref(ref_b, b)) return true;
    refuse(c, std::string("a name over the limit in ") + frame);
    return false;
  };
  switch (f.which()) {
    case wire::schema::Frame::WATCH:
    case wire::schema::Frame::UNWATCH: {
      bool watch = f.isWatch();
      auto w = watch ? f.getWatch() : f.getUnwatch();
      if (!read_refs(w.getWatcher(), w.getWatchee(), "a watch")) return;
      Pid watcher = ep.proxy(a.id, a.name, ep.peer_incarnation);
      Pid watchee = local_target(b);
      if (watchee.empty()) {
        if (watch) {
          control_.terminated(wire::OutboundRef{b.id, b.name, {}},
                              wire::OutboundRef{a.id, a.name, {}},
                              wire::schema::TerminatedReason::NOT_FOUND, c.out);
          start_send(c);
        }
        return;
      }
      if (watch && !peer_may_control(watchee, "shoal.Watch")) return;
      if (watch) {
        // Its Terminated must name it as the watcher's proxy does.
        export_pid(watchee, std::string(b.name));
        shoal::detail::SystemAccess::post_system(watchee,
                                                 emplace_envelope<shoal::detail::Watch>(watcher));
      } else {
        shoal::detail::SystemAccess::post_system(watchee,
                                                 emplace_envelope<shoal::detail::Unwatch>(watcher));
      }
      return;
    }
    case wire::schema::Frame::TERMINATED: {
      auto t = f.getTerminated();
      if (!read_refs(t.getWho(), t.getWatcher(), "a terminated")) return;
      Pid watcher = local_target(b);
      if (watcher.empty()) return;
      TerminatedReason why = from_wire(t.getReason());
      // Deliver it under the proxy the watcher watched (by id or by name).
      bool matched = false;
      std::erase_if(ep.watches, [&](const auto& w) {
        if (w.first != watcher) return false;
        auto& proxy = static_cast<RemoteProcess&>(*w.second.process());
        bool same = (a.id != 0 && proxy.remote_id() == a.id) ||
                    (!a.name.empty() && proxy.name() == a.name);
        if (!same) return false;
        shoal::detail::SystemAccess::post_system(watcher,
                                                 emplace_envelope<Terminated>(w.second, why));
        matched = true;
        return true;
      });
      if (!matched) {
        shoal::detail::SystemAccess::post_system(
            watcher,
            emplace_envelope<Terminated>(ep.proxy(a.id, a.name, ep.peer_incarnation), why));
      }
      return;
    }
    case wire::schema::Frame::UNDELIVERABLE: {
      auto u = f.getUndeliverable();
      if (!read_refs(u.getSender(), u.getTarget(), "an undeliverable")) return;
      Pid asker = local_target(a);
      if (asker.empty()) return;
      DeadLetterReason reason = dead_letter_reason(u.getReason());
      if (asker.process()->kind() == Process::Kind::future) {
        static_cast<shoal::detail::FutureCore*>(asker.process())
            ->fail(RequestErrc::dead_letter, reason);
      } else {
        // DeadLetterResponse keeps a type name view: this node's own name
        // for the type when it knows it, else a fixed one.
        auto tn = u.getTypeName();
        const wire::TypeCodec* codec = types_.find(std::string_view(tn.cStr(), tn.size()));
        std::string_view name = codec != nullptr ? codec->type()->name : "(remote type)";
        system_.send(asker, DeadLetterResponse{b.id, name, reason});
      }
      return;
    }
    case wire::schema::Frame::STOP: {
      auto ref = f.getStop().getTarget();
      if (!read_refs(ref, ref, "a stop")) return;
      Pid target = local_target(a);
      if (!target.empty() && peer_may_control(target, "shoal.Stop")) system_.stop(target);
      return;
    }
    default:
      refuse(c, "an unknown frame kind");
      return;
  }
}

bool IoLoop::peer_may_control(const Pid& target, std::string_view what, const Envelope* e) {
  if (!config_.untrusted) return true;
  if (!config_.exported.empty()) {
    const std::string name = system_.name_of(target);
    for (const std::string& n : config_.exported) {
      if (!name.empty() && n == name) return true;
    }
  }
  bump(stats_.untrusted_refused);
  if (e != nullptr) {
    // A message (a PoisonPill): counted, and a remote asker is told (an
    // Undeliverable goes back, reason untrusted).
    shoal::detail::SystemAccess::report_dead_letter(system_, *e, target.id(),
                                                    DeadLetterReason::untrusted);
    return false;
  }
  DeadLetter d{target.id(), what, DeadLetterReason::untrusted};
  system_.dead_letters().publish(d);
  system_.events().publish(d);
  return false;
}

Pid IoLoop::local_target(const wire::InboundRef& ref) {
  if (!ref.address.empty() && ref.address != address_) return {};
  if (!ref.name.empty()) return system_.lookup(ref.name);
  // This thread writes exports_: it reads them without the lock. An id
  // exported by another io thread (a peer may pass a ref it got from
  // another peer) is looked up there.
  auto it = exports_.find(ref.id);
  return it != exports_.end() ? it->second.pid : node_.find_export(ref.id, this);
}

// -- BatchSink --

Pid IoLoop::resolve_target(const wire::InboundRef& target) { return local_target(target); }

Pid IoLoop::resolve_sender(const wire::InboundRef& sender) {
  if (sender.address.empty()) {
    Endpoint& ep = *decoding_->endpoint;
    return ep.proxy(sender.id, sender.name, ep.peer_incarnation);
  }
  if (sender.address == address_) return local_target(sender);
  return node_.endpoint_for(sender.address)->proxy(sender.id, sender.name);
}

namespace {

/// Counts a sequence number in; false: seen before (a duplicate).
bool admit(Endpoint& ep, std::uint64_t sequence, std::uint64_t& gaps) {
  if (ep.inbound_expected != 0) {
    if (sequence < ep.inbound_expected) return false;
    gaps = sequence - ep.inbound_expected;
  }
  ep.inbound_expected = sequence + 1;
  return true;
}

}  // namespace

void IoLoop::deliver(const Pid& target, Envelope* e, std::uint64_t sequence) {
  std::uint64_t gaps = 0;
  if (!admit(*decoding_->endpoint, sequence, gaps)) {
    bump(stats_.duplicates_dropped);
    destroy_envelope(e);
    return;
  }
  if (gaps != 0) bump(stats_.sequence_gaps, gaps);
  if (e->type->base() == message_type_of<wire::Identify>) [[unlikely]] {
    // Answered here, for the actor: it exists (the target resolved).
    if (const SenderHeader* h = e->sender_header(); h != nullptr && !h->sender.empty()) {
      system_.request(h->sender, wire::ActorIdentity{target.id()}, target, h->request_id);
    }
    ++decoded_;
    destroy_envelope(e);
    return;
  }
  if (config_.untrusted && e->type->base() == message_type_of<PoisonPill>) [[unlikely]] {
    if (!peer_may_control(target, e->type->name, e)) {
      destroy_envelope(e);  // counted as a dead letter by peer_may_control
      return;
    }
  }
  ++decoded_;
  // Appended to its target's chain; flush_chains() delivers after the batch.
  Process* key = target.process();
  std::size_t i = chains_.size();
  if (!chains_.empty() && chains_.back().target.process() == key) {
    i = chains_.size() - 1;  // the common case: the same target as the last one
  } else if (chains_.size() < 8) {
    for (std::size_t k = 0; k < chains_.size(); ++k) {
      if (chains_[k].target.process() == key) i = k;
    }
  } else {
    if (chain_index_.empty()) {
      for (std::size_t k = 0; k < chains_.size(); ++k) chain_index_[chains_[k].target.process()] = k;
    }
    auto it = chain_index_.find(key);
    if (it != chain_index_.end()) i = it->second;
  }
  if (i == chains_.size()) {
    chains_.push_back(Chain{target, e, e});
    if (!chain_index_.empty()) chain_index_[key] = i;
    return;
  }
  // relaxed: the chain is this thread's until deliver_chain publishes it.
  chains_[i].last->next.store(e, std::memory_order_relaxed);
  chains_[i].last = e;
}

void IoLoop::flush_chains() {
  for (Chain& ch : chains_)
    shoal::detail::SystemAccess::deliver_chain(system_, ch.target, ch.first, ch.last);
  chains_.clear();
  chain_index_.clear();
}

void IoLoop::reject(std::uint64_t sequence, wire::Rejection why, std::string_view type_name,
                      std::string_view detail, const wire::RejectedRequest* request) {
  std::uint64_t gaps = 0;
  if (!admit(*decoding_->endpoint, sequence, gaps)) {
    bump(stats_.duplicates_dropped);
    return;
  }
  if (gaps != 0) bump(stats_.sequence_gaps, gaps);
  bump(stats_.rejected_inbound);
  DeadLetterReason reason = dead_letter_reason(why);
  if (reason == DeadLetterReason::malformed) {
    report("a " + std::string(type_name) + " from " + decoding_->peer +
           " did not decode: " + std::string(detail));
  }
  DeadLetter d{0, type_name, reason};
  system_.dead_letters().publish(d);
  system_.events().publish(d);
  // Whoever asked (on the peer) hears it now rather than at a timeout.
  // (The decoder names no request for a malformed envelope.)
  if (request != nullptr && request->sender.address.empty()) {
    control_.undeliverable({request->sender.id, request->sender.name, {}}, request->request_id,
                           to_wire(why),
                           {request->target.id, request->target.name, {}}, type_name,
                           decoding_->out);
  }
}

}  // namespace shoal::io::detail
