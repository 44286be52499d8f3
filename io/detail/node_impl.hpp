// NodeImpl: what a Node's io threads share; IoLoop: one io thread's world.
// Node (node.hpp) is their public face.
//
// Each io thread runs IoLoop::loop(): take the endpoints producers marked ready,
// encode their queues into frames, start sends; reap completions (accepts,
// connects, receives, sends) from the EventPort; run the timers (connect
// and handshake deadlines, backoff, heartbeats). With nothing to do it
// spins for NodeConfig::spin, then sleeps in the port until a completion,
// the next timer, or a producer's wake.
//
// The sleep protocol (no lost wake-up): the io thread stores sleeping_ =
// true, then looks at the ready list and the hand-overs once more before
// waiting; a producer pushes onto the ready list (or posts a hand-over),
// then reads sleeping_ and, if set, clears it and wakes the port. Both
// sides order store-then-load with seq_cst, so at least one of them sees
// the other.
//
// Several io threads (NodeConfig::io_threads): each endpoint has a home
// thread (given in turn as endpoints are made) that owns all its io state;
// the last thread also accepts, and hands an accepted connection to its
// peer's home thread after the handshake.
//
// Files: node.cpp (life, loop, timers), node_inbound.cpp (frames in,
// handshake), node_outbound.cpp (queues → frames, connection loss).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/connection.hpp"
#include "io/endpoint.hpp"
#include "io/event_port.hpp"
#include "io/remote_process.hpp"
#include "io/socket.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/guest_runner.hpp"
#include "shoal/node.hpp"
#include "wire/batch_codec.hpp"
#include "wire/frame_codec.hpp"

namespace shoal::io::detail {

/// The Disconnect reason of a node that shuts down in order: the peer
/// counts the closed connection but reports no error.
inline constexpr std::string_view goodbye_reason = "node shutting down";

// -- the wire's reasons and the runtime's, one mapping each way --

inline wire::schema::TerminatedReason to_wire(TerminatedReason r) noexcept {
  switch (r) {
    case TerminatedReason::not_found: return wire::schema::TerminatedReason::NOT_FOUND;
    case TerminatedReason::address_terminated: return wire::schema::TerminatedReason::ADDRESS_TERMINATED;
    case TerminatedReason::stopped: break;
  }
  return wire::schema::TerminatedReason::STOPPED;
}
inline TerminatedReason from_wire(wire::schema::TerminatedReason r) noexcept {
  switch (r) {
    case wire::schema::TerminatedReason::NOT_FOUND: return TerminatedReason::not_found;
    case wire::schema::TerminatedReason::ADDRESS_TERMINATED: return TerminatedReason::address_terminated;
    default: return TerminatedReason::stopped;
  }
}
/// Why a rejected request is undeliverable (malformed envelopes carry none).
inline wire::schema::UndeliverableReason to_wire(wire::Rejection r) noexcept {
  switch (r) {
    case wire::Rejection::unknown_type: return wire::schema::UndeliverableReason::UNKNOWN_TYPE;
    case wire::Rejection::unknown_target: return wire::schema::UndeliverableReason::UNKNOWN_TARGET;
    default: return wire::schema::UndeliverableReason::MALFORMED;
  }
}
/// The dead letter a rejection is counted as, on either node.
inline DeadLetterReason dead_letter_reason(wire::Rejection r) noexcept {
  switch (r) {
    case wire::Rejection::unknown_type: return DeadLetterReason::unknown_type;
    case wire::Rejection::unknown_target: return DeadLetterReason::target_stopped;
    default: return DeadLetterReason::malformed;
  }
}
/// Why a request that reached this node became a dead letter here later
/// (its sender was told with a DeadLetterResponse: it goes back as an
/// Undeliverable).
inline wire::schema::UndeliverableReason to_wire(DeadLetterReason r) noexcept {
  using U = wire::schema::UndeliverableReason;
  switch (r) {
    case DeadLetterReason::target_stopped: return U::UNKNOWN_TARGET;
    case DeadLetterReason::unhandled: return U::UNHANDLED;
    case DeadLetterReason::mailbox_full: return U::MAILBOX_FULL;
    case DeadLetterReason::dropped_oldest: return U::DROPPED_OLDEST;
    case DeadLetterReason::stopped_with_mail: return U::STOPPED_WITH_MAIL;
    case DeadLetterReason::not_serializable: return U::NOT_SERIALIZABLE;
    case DeadLetterReason::outbound_full: return U::OUTBOUND_FULL;
    case DeadLetterReason::connection_lost: return U::CONNECTION_LOST;
    case DeadLetterReason::unknown_type: return U::UNKNOWN_TYPE;
    case DeadLetterReason::malformed: return U::MALFORMED;
    case DeadLetterReason::too_large:
      return U::TOO_LARGE;
    case DeadLetterReason::untrusted:
      return U::UNTRUSTED;
    default: return U::OTHER;
  }
}
/// The dead letter an Undeliverable is counted as by whoever asked.
inline DeadLetterReason dead_letter_reason(wire::schema::UndeliverableReason r) noexcept {
  using U = wire::schema::UndeliverableReason;
  switch (r) {
    case U::UNKNOWN_TARGET: return DeadLetterReason::target_stopped;
    case U::UNKNOWN_TYPE: return DeadLetterReason::unknown_type;
    case U::MALFORMED: return DeadLetterReason::malformed;
    case U::UNHANDLED: return DeadLetterReason::unhandled;
    case U::MAILBOX_FULL: return DeadLetterReason::mailbox_full;
    case U::DROPPED_OLDEST: return DeadLetterReason::dropped_oldest;
    case U::STOPPED_WITH_MAIL: return DeadLetterReason::stopped_with_mail;
    case U::NOT_SERIALIZABLE: return DeadLetterReason::not_serializable;
    case U::OUTBOUND_FULL: return DeadLetterReason::outbound_full;
    case U::CONNECTION_LOST: return DeadLetterReason::connection_lost;
    case U::TOO_LARGE:
      return DeadLetterReason::too_large;
    case U::UNTRUSTED:
      return DeadLetterReason::untrusted;
    default: return DeadLetterReason::target_stopped;  // OTHER, or a newer peer's reason
  }
}

/// The node's counters (NodeStats), bumped by every io thread.
struct Counters {
  std::atomic<std::uint64_t> messages_sent{0}, messages_received{0}, frames_sent{0},
      frames_received{0}, bytes_sent{0}, bytes_received{0}, dropped_outbound_full{0},
      dropped_connection_lost{0}, dropped_not_serializable{0}, rejected_inbound{0},
      sequence_gaps{0}, duplicates_dropped{0}, connections_opened{0}, connections_closed{0},
      protocol_errors{0}, heartbeats_sent{0}, futures_failed{0}, handovers{0}, dropped_too_large{0},
      connections_refused{0}, auth_failures{0}, endpoints_evicted{0}, untrusted_refused{0};
};

inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  counter.fetch_add(by, std::memory_order_relaxed);  // relaxed: a statistic
}

class IoLoop;

/// What every io thread shares: the endpoints, the counters, the log.
class NodeImpl {
 public:
  NodeImpl(ActorSystem& system, const wire::TypeRegistry& types, NodeConfig config);
  ~NodeImpl();

  // -- any thread --
  const std::string& address() const noexcept { return address_; }
  std::uint64_t incarnation() const noexcept { return incarnation_; }
  Pid pid(std::string_view address, std::string_view name);
  NodeStats stats() const noexcept;
  /// The endpoint for `address`, made (with the next io thread in turn as
  /// its home) if there is none. Once the node shuts down, a new one is
  /// born closed.
  std::shared_ptr<Endpoint> endpoint_for(std::string_view address);
  /// Every endpoint now (a copy, taken under the lock).
  std::vector<std::shared_ptr<Endpoint>> endpoints() const;
  /// Forgets the endpoints at home on `loop` (its thread calls this) that
  /// hold nothing: idle, no connection, nothing queued, no futures or
  /// watches, and no proxy or other reference held outside the node. An
  /// address seen once (a handshake's claim, a sender's ref) does not keep
  /// one for the node's life. Returns how many went.
  std::size_t evict_idle(IoLoop& loop);
  /// A local Pid some io thread exported under `id`, or empty. Takes each
  /// other io thread's export lock in turn.
  Pid find_export(std::uint64_t id, const IoLoop* except) const;
  /// Logs a connection-level error (serialised: io threads call it).
  void report(std::string_view what);
  void note_outbound_full() noexcept { bump(stats_.dropped_outbound_full); }
  /// The handshake's frame limits (NodeConfig::handshake_frame_bytes).
  const wire::FrameLimits& handshake_limits() const noexcept { return handshake_limits_; }
  /// A TLS session for a new connection (NodeConfig::tls), or null.
  std::unique_ptr<TlsSession> tls_session(TlsSession::Role role) const;

  ActorSystem& system;
  const wire::TypeRegistry& types;
  const NodeConfig config;
  Counters stats_;
  /// Connections now (all io threads), and accepted ones still half-open:
  /// NodeConfig::max_connections, max_half_open. relaxed RMWs: bounds, no
  /// data is published through them.
  std::atomic<unsigned> connections_now{0};
  std::atomic<unsigned> half_open_now{0};

 private:
  wire::FrameLimits handshake_limits_;
  std::unique_ptr<TlsContext> tls_;  ///< NodeConfig::tls; immutable once made
  std::string address_;
  const std::uint64_t incarnation_;
  int listen_fd_ = -1;

  // Endpoints by address (pid() from any thread; io threads on accept and
  // for senders named by address).
  mutable std::mutex endpoints_mu_;
  std::unordered_map<std::string, std::shared_ptr<Endpoint>> endpoints_;
  std::size_t next_home_ = 0;  // guarded by endpoints_mu_
  bool closing_ = false;       // guarded by endpoints_mu_

  std::mutex report_mu_;
  std::vector<std::unique_ptr<IoLoop>> loops_;  // fixed after the constructor
};

/// One io thread and its port. Owns the endpoints whose home it is (their
/// connection, state machine and sequence numbers) and every connection
/// it accepted or dialed; an accepted connection whose peer's endpoint
/// lives on another io thread is handed over to that one right after the
/// peer's handshake (before this node answers it, so no frame can be in
/// flight: the peer sends nothing more until it hears the answer).
class IoLoop final : public wire::BatchSink {
 public:
  /// `listen_fd` ≥ 0: this loop accepts on it.
  IoLoop(NodeImpl& node, unsigned index, int listen_fd);
  ~IoLoop();
  /// Starts the thread; rethrows its start-up error (no io_uring, ...).
  void start();
  /// Asks the thread to shut down and waits for it.
  void stop_and_join();

  // -- any thread --
  /// Puts `e` (whose home this is) on the ready list and wakes the thread
  /// if it sleeps.
  void schedule(Endpoint& e) noexcept;
  /// An accepted connection whose peer has this loop as its home, after a
  /// valid handshake on another loop.
  struct Handover {
    Handover() = default;
    Handover(Handover&& o) noexcept
        : fd(std::exchange(o.fd, -1)),
          endpoint(std::move(o.endpoint)),
          hello(o.hello),
          tls(std::move(o.tls)),
          peer(std::move(o.peer)),
          deadline(o.deadline),
          node(o.node) {}
    Handover& operator=(Handover&&) = delete;
    ~Handover();  // closes the fd if nobody took it (and counts it out)
    int fd = -1;
    std::shared_ptr<Endpoint> endpoint;
    Connection::Hello hello;                           ///< the peer's handshake
    std::unique_ptr<TlsSession> tls;                   ///< its session (NodeConfig::tls)
    std::string peer;                                  ///< its claimed address
    std::chrono::steady_clock::time_point deadline{};  ///< the handshake's, from the accept
    NodeImpl* node = nullptr;  ///< counts the connection out if nobody took it
  };
  void hand_over(Handover h);
  /// A host name lookup's answer, from its resolver thread.
  struct Resolved {
    std::shared_ptr<Endpoint> endpoint;
    std::vector<SocketAddress> addresses;  ///< empty: failed
    std::string error;
  };
  /// The Pid exported under `id` here (under the export lock), or empty.
  Pid exported(std::uint64_t id) const;
  /// Whether `e` (at home here) holds no io state: NodeImpl::evict_idle
  /// may forget it. This thread only.
  bool idle_here(const Endpoint& e) const noexcept;
  /// Takes an evicted endpoint out of this loop's list of active ones.
  void forget(const Endpoint& e);

  // -- BatchSink (this thread, while a batch decodes) --
  Pid resolve_target(const wire::InboundRef& target) override;
  Pid resolve_sender(const wire::InboundRef& sender) override;
  void deliver(const Pid& target, Envelope* e, std::uint64_t sequence) override;
  void reject(std::uint64_t sequence, wire::Rejection why, std::string_view type_name,
              std::string_view detail, const wire::RejectedRequest* request) override;

 private:
  using Clock = std::chrono::steady_clock;
  enum Op : std::uint64_t { op_accept = 0, op_receive = 1, op_send = 2, op_connect = 3 };
  static std::uint64_t token(std::uint64_t serial, Op op) noexcept { return serial << 2 | op; }

  // node.cpp
  void loop(std::promise<void>* started);
  /// One turn of the port (waiting up to `timeout`), then the guest runs of
  /// the mailboxes its completions made runnable. True if any completed.
  bool run_port(std::chrono::nanoseconds timeout,
                const std::function<void(const Completion&)>& handler);
  /// After work became visible to the thread: wakes it if it sleeps.
  void nudge() noexcept;
  bool take_ready();
  bool take_handovers();
  bool take_resolutions();
  /// Looks the endpoint's host name up on a thread of its own (getaddrinfo
  /// blocks, for seconds when DNS is slow); the answer comes back through
  /// resolutions_ and dials then.
  void start_lookup(Endpoint& e);
  void dial(Endpoint& e, const SocketAddress& to);
  void on_completion(const Completion& c);
  void run_timers(Clock::time_point now);
  std::chrono::nanoseconds next_timer(Clock::time_point now) const;
  /// Takes `fd` into connections_, counting it in NodeImpl::connections_now
  /// unless it is `counted` already (a hand-over).
  Connection* adopt(int fd, bool dialed, std::shared_ptr<Endpoint> endpoint, bool counted = false);
  void close_connection(Connection& c, std::string_view why, bool protocol_error);
  /// Says why in a Disconnect frame, then closes once it is sent.
  void refuse(Connection& c, std::string_view why);
  void maybe_free(Connection& c);
  void shutdown_io();
  bool home_of(const Endpoint& e) const noexcept;
  void report(std::string_view what) { node_.report(what); }

  // node_outbound.cpp
  void start_connect(Endpoint& e);
  void flush(Endpoint& e);
  void encode_queue(Endpoint& e, Connection& c);
  void finish_batch(Connection& c);
  /// Records a remote_in / remote_out event that began at t.run_ts (then
  /// cleared); `flows`: t.flow_seq when it began.
  void trace_frame(shoal::detail::WorkerTrace& t, TraceKind kind, const Connection& c,
                   std::uint64_t messages, std::uint64_t bytes, std::uint64_t flows);
  void write_control(Endpoint& e, Connection& c, Envelope& env, RemoteProcess& target);
  void start_send(Connection& c);
  /// Drops what is queued for the peer (dead letters), marks the queue
  /// empty, then pays what the drops owe (pay_owed).
  void drop_queued(Endpoint& e);
  /// One message that will never be sent: a dead letter; a future or a
  /// watcher it concerns is owed a failure (owed_).
  void drop_one(Envelope& env, RemoteProcess& target);
  /// Fails the owed futures and tells the owed watchers. Called once the
  /// queue they came from is empty and marked, so that whatever they send
  /// in answer (a retry) reaches the next connection, not the dropped queue.
  void pay_owed();
  /// The peer is gone (connection lost, unreachable, restarted, shutdown):
  /// drop its queue, then fail its futures and tell its watchers; back to idle.
  void association_lost(Endpoint& e);
  void connect_failed(Endpoint& e);
  void connected(Endpoint& e, Connection& c);
  wire::OutboundRef export_ref(const Pid& local);
  struct Export;
  /// Exports `pid` under its id; a non-empty `name` replaces the one it
  /// had (a watch names the actor as the watcher's proxy does).
  Export& export_pid(const Pid& pid, std::string name);

  // node_inbound.cpp
  void on_receive(Connection& c, const Completion& comp);
  void on_frame(Connection& c, std::span<const std::byte> bytes);
  void on_handshake(Connection& c, wire::schema::Handshake::Reader h);
  /// The handshake (c.hello) was valid and `ep` is at home here. Dialed:
  /// open the association. Accepted: answer it; open the association now,
  /// or (authenticating) once the dialer's proof checks (on_auth).
  void accept_handshake(Connection& c, const std::shared_ptr<Endpoint>& ep);
  /// The dialer's Auth frame on an accepted connection.
  void on_auth(Connection& c, wire::schema::Auth::Reader a);
  /// Opens the association of an accepted connection whose peer is who it
  /// claims: resolves duplicate dials, binds the connection to `ep`.
  void bind_accepted(Connection& c, const std::shared_ptr<Endpoint>& ep);
  /// The association on `c` (dialed or accepted) is open.
  void open_association(Connection& c, Endpoint& ep);
  /// This side's handshake on `c`: its nonce, and (acceptor, authenticating)
  /// its proof for the peer's.
  void write_handshake(Connection& c, const Endpoint* ep);
  /// Counts an accepted connection out of the half-open ones (when it opens
  /// or closes; a hand-over carries the count to the new home instead).
  void end_half_open(Connection& c) noexcept;
  /// Counts `c` out of NodeImpl::connections_now when it is freed (a
  /// hand-over carries the count to the new home instead).
  void uncount(Connection& c) noexcept;
  /// Gives back what `c` booked against its endpoint's bound.
  void unbook_all(Connection& c) noexcept;
  /// Closes `c` for bad input, after what is due to the peer (a refusal's
  /// Disconnect, a TLS alert) has gone out.
  void close_after_sending(Connection& c, std::string_view why);
  /// An accepted connection's receive ended for a hand-over: pass it on.
  void finish_handover(Connection& c);
  /// TLS: opens the records in `data` (then: the plaintext, in
  /// c.plain_in) and sends what the session owes the peer. False: the
  /// session failed and the connection is closing.
  bool open_records(Connection& c, std::span<const std::byte>& data);
  void on_control(Connection& c, wire::schema::Frame::Reader f);
  Pid local_target(const wire::InboundRef& ref);
  /// Untrusted mode: may a peer stop, poison or watch `target`? (Counts and
  /// says no unless it is exported; always yes in trusted mode.) `e`: the
  /// message refused, whose asker is then told.
  bool peer_may_control(const Pid& target, std::string_view what, const Envelope* e = nullptr);
  /// Hands each target its messages of the batch just decoded, one queue
  /// exchange per target (ActorSystem::deliver_chain).
  void flush_chains();

  NodeImpl& node_;
  ActorSystem& system_;
  const wire::TypeRegistry& types_;
  const NodeConfig& config_;
  Counters& stats_;
  const std::string& address_;
  const std::uint64_t incarnation_;
  const unsigned index_;
  const int listen_fd_;
  GuestRunner guest_;  // runs what deliveries woke while every worker sleeps (this thread)

  // Ready list: an intrusive Treiber stack of endpoints (Endpoint::ready_next).
  // Producers push (each endpoint at most once: Endpoint::listed, set by
  // whoever links it, cleared by take_ready); the io thread takes the whole
  // stack with one exchange, so ABA cannot bite. Order among endpoints does
  // not matter.
  alignas(shoal::detail::cache_line_size) std::atomic<Endpoint*> ready_{nullptr};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> handovers_waiting_{false};
  std::mutex handovers_mu_;
  std::vector<Handover> handovers_;  // guarded by handovers_mu_
  // Lookups' answers. Shared with the resolver threads, which are detached
  // (a lookup stuck in DNS must not hold up shutdown): they post and wake
  // this loop under `mu` unless shutdown_io() has closed it.
  struct Resolutions {
    std::mutex mu;
    bool closed = false;         // guarded by mu
    std::vector<Resolved> done;  // guarded by mu
  };
  std::shared_ptr<Resolutions> resolutions_ = std::make_shared<Resolutions>();
  std::atomic<bool> resolutions_waiting_{false};

  // -- this thread only --
  std::unique_ptr<EventPort> port_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::uint64_t next_serial_ = 1;
  std::uint64_t heartbeat_nonce_ = 0;
  bool accepting_ = false;  // the multishot accept is armed (it holds the listening socket)
  // Local Pids peers may address by id, with the name each had when first
  // exported: a remote proxy is interned by name when there is one, so
  // the name must travel with every ref to a named actor (even after it
  // stopped and gave the name up: its Terminated still names it). Written
  // by this thread only, under exports_mu_; read here without the lock,
  // by other io threads with it (a peer may address an id it learnt from
  // another peer).
  struct Export {
    Pid pid;
    std::string name;
  };
  mutable std::mutex exports_mu_;
  std::unordered_map<std::uint64_t, Export> exports_;
  // The export and the codec the last message used (node-stable map entry;
  // cleared when the sweep may erase it).
  struct LastExport {
    Process* process = nullptr;
    Export* entry = nullptr;
  } last_export_;
  const MessageType* last_type_ = nullptr;
  const wire::TypeCodec* last_codec_ = nullptr;
  std::size_t exports_sweep_at_ = 1024;
  wire::BatchWriter writer_;
  wire::BatchDecoder decoder_;
  wire::ControlWriter control_;
  Connection* decoding_ = nullptr;  // the connection whose batch decodes now
  std::uint64_t decoded_ = 0;       // messages of that batch delivered so far
  // A decoded batch's messages per target, in order, linked through `next`.
  struct Chain {
    Pid target;
    Envelope* first;
    Envelope* last;
  };
  std::vector<Chain> chains_;
  std::unordered_map<Process*, std::size_t> chain_index_;  // when there are many
  std::vector<std::unique_ptr<Connection>> graveyard_;
  std::vector<std::shared_ptr<Endpoint>> active_;  // endpoints with io state (timers)
  Clock::time_point next_eviction_{};              // run_timers sweeps idle endpoints once a second
  std::vector<Pid> holds_;  // targets and remote senders of the batch being built
  // What dropped messages and associations owe: futures to fail, watchers
  // to tell (watcher, watchee), asking actors' DeadLetterResponses; paid
  // by pay_owed().
  struct Owed {
    std::vector<Pid> futures;
    std::vector<std::pair<Pid, Pid>> terminated;
    std::vector<std::pair<Pid, DeadLetterResponse>> responses;
    bool empty() const noexcept {
      return futures.empty() && terminated.empty() && responses.empty();
    }
  } owed_;
  std::thread thread_;
};

}  // namespace shoal::io::detail
