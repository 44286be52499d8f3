// Node: makes an ActorSystem reachable over TCP and lets its actors reach
// other nodes' actors with the same `send`.
//
//   wire::TypeRegistry types;              // the messages that may cross
//   types.add<Ping, schema::Ping>("app.Ping", encode, decode);
//   shoal::io::Node node(system, types, {.listen = "127.0.0.1:7000"});
//   Pid pong = node.pid("127.0.0.1:7001", "pong");   // a named remote actor
//   system.send(pong, Ping{1});            // as for a local actor
//
// What a user can rely on:
// - Per-sender order: messages from one sender to one remote actor arrive
//   in send order (one connection per pair of nodes, one FIFO outbound
//   queue per peer across all senders, in order on the wire).
// - At most once: nothing is retried. What was queued when a connection
//   dropped, or refused because the outbound queue was full (a byte bound),
//   becomes a counted dead letter; request futures waiting on that node
//   fail at once (RequestErrc::delivery_failed); watchers of its actors get
//   Terminated{why = address_terminated}. The receiver counts the loss it
//   can prove from sequence numbers (NodeStats::sequence_gaps) and drops
//   anything numbered twice.
// - Incarnations: a restarted peer is a new incarnation; messages for the
//   old one are never delivered to it.
// - Bad input from a peer (garbage, oversized or truncated frames, wrong
//   protocol version) closes that connection with a logged reason; an
//   unknown message type or a payload that does not decode is a dead letter
//   for that message only.
//
// io threads (NodeConfig::io_threads, one by default) run the event loops
// (io/event_port.hpp, io_uring), one ring each; each peer's connection
// lives on one of them. The Node must be destroyed before its ActorSystem.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/actor_system.hpp"
#include "shoal/frame_limits.hpp"
#include "shoal/pid.hpp"
#include "shoal/secret.hpp"
#include "shoal/type_registry.hpp"

namespace shoal::io {

namespace detail {
class NodeImpl;
}

/// Which EventPort the io threads use.
enum class EventPortKind : std::uint8_t {
  automatic,  ///< io_uring where the kernel allows it, else epoll (said once via on_error)
  io_uring,   ///< io_uring or fail (Node's constructor says which feature is missing)
  epoll,      ///< epoll: works everywhere, a syscall per operation
};

struct NodeConfig {
  /// Where to listen, "host:port"; port 0 picks a free one (see address()).
  std::string listen = "127.0.0.1:0";
  /// The address peers know this node by; empty: the bound listen address.
  std::string advertise{};
  /// io threads, each with its own io_uring. Peers are spread over them
  /// (each peer's connection on one, in turn as peers are first used); the
  /// last one also accepts. One suits most nodes (it carries millions of
  /// small messages a second: bench/RESULTS.md); more help a node with
  /// several busy peers and cores to spare.
  unsigned io_threads = 1;
  EventPortKind event_port = EventPortKind::automatic;
  /// What this node accepts from a peer (frame size, tables, nesting).
  /// Said in the handshake: a peer keeps its frames within them, and a
  /// message too large for one is a dead letter there (too_large).
  wire::FrameLimits limits{};
  /// Bound on everything waiting for one peer: queued messages (their node
  /// sizes) and the frames encoded from them that its socket has not taken
  /// yet. Beyond it, sends are dead letters (outbound_full).
  std::size_t outbound_queue_bytes = 64u << 20;
  /// The cluster's shared secret (read_secret_file, secret_from_environment
  /// in shoal/secret.hpp; at least 16 bytes). Set: every connection proves both
  /// sides know it in the handshake (HMAC-SHA256 challenge and response),
  /// and a peer that cannot is refused before any of its envelopes is read;
  /// the address a peer claims is bound to its proof. Empty: no
  /// authentication — anyone who can connect is a peer.
  std::string secret{};
  /// Encrypt every connection: TLS 1.3 (OpenSSL) keyed by `secret` (a
  /// pre-shared key derived from it: no certificates), under the same
  /// handshake and proofs. Needs `secret`; both nodes must set it (a node
  /// without it is refused, with a message saying so). It costs a share
  /// of throughput: bench/RESULTS.md, remote-*-tls.
  bool tls = false;
  /// Untrusted mode (as Akka's): peers may not stop, poison or watch this
  /// node's actors, except those named in `exported` — a remote stop or
  /// PoisonPill is a dead letter here (untrusted), a remote watch is
  /// dropped (counted: NodeStats::untrusted_refused). Ordinary messages and
  /// requests are unaffected.
  bool untrusted = false;
  /// Names (spawn_named) of the actors peers may stop, poison and watch in
  /// untrusted mode.
  std::vector<std::string> exported{};
  /// Connections at once (dialed and accepted, all io threads); an accept
  /// beyond it is closed at once (NodeStats::connections_refused).
  unsigned max_connections = 1024;
  /// Accepted connections whose handshake (and proof) is not done yet; an
  /// accept beyond it is closed at once. Each holds at most
  /// handshake_frame_bytes until then, for at most connect_timeout.
  unsigned max_half_open = 64;
  /// The largest frame read before the association is open (the handshake,
  /// the proof).
  std::size_t handshake_frame_bytes = 4096;
  /// How long one frame may take to arrive once its first bytes came; a
  /// connection that holds a partial frame longer is closed (a peer
  /// trickling bytes cannot pin a frame buffer).
  std::chrono::milliseconds frame_timeout{10000};
  /// A batch frame is closed at this size, or when the queue is drained.
  std::size_t batch_bytes = 64u << 10;
  /// While every worker of the system sleeps, an io thread runs the actors
  /// its incoming messages wake itself (one batch each) instead of waking a
  /// worker: a wake-up costs more than most handlers (shoal/guest_runner.hpp;
  /// a round trip drops from ~94 to ~21 µs). Turn it off when handlers are
  /// long: while one runs there, this io thread's peers wait.
  bool run_actors = true;
  /// Spin (busy-poll) this long with nothing to do before an io thread
  /// sleeps. Longer: lower latency, more CPU when idle.
  std::chrono::microseconds spin{50};
  std::chrono::milliseconds connect_timeout{2000};
  /// Reconnect backoff: doubles from min to max between failed attempts;
  /// after max_attempts failures in a row, what is queued is dropped.
  std::chrono::milliseconds backoff_min{10};
  std::chrono::milliseconds backoff_max{1000};
  unsigned max_attempts = 5;
  /// A heartbeat goes out when a connection has been quiet this long; a
  /// peer silent for heartbeat_timeout is taken for dead.
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds heartbeat_timeout{5000};
  /// Receive buffers of each io thread's port (a power of two) and their size.
  unsigned receive_buffers = 64;
  std::size_t receive_buffer_bytes = 64u << 10;
  /// How a peer's host name becomes the addresses to dial: numeric
  /// "ip:port" strings, tried in turn until one connects (a failed attempt
  /// is one that failed on all). Empty: the system's resolver
  /// (getaddrinfo; every address it gives, e.g. IPv6 then IPv4). Called on
  /// a lookup thread, never an io thread; it may block. Numeric addresses
  /// are dialed as they are. A throw or an empty list fails the attempt.
  std::function<std::vector<std::string>(std::string_view host_port)> resolve{};
  /// Connection-level errors (protocol violations, peer lost), for the log;
  /// empty: logged as warnings from "node <address>" (shoal/log.hpp).
  /// Called on an io thread, one call at a time.
  std::function<void(std::string_view)> on_error{};
};

using wire::ActorIdentity;

/// Published on the system's event stream when an association with a peer
/// opens (after the handshake, and the proofs when authenticating):
/// `system.events().subscribe<PeerConnected>(fn)`, or as a message with
/// `system.subscribe<PeerConnected>(pid)`. Called on an io thread.
struct PeerConnected {
  std::string address;
  std::uint64_t incarnation = 0;
};
/// Published when an open association ends: the connection was lost, the
/// peer went silent, said goodbye, or was refused, or this node shuts down.
/// Its futures have failed and its watchers were told by then.
struct PeerDisconnected {
  std::string address;
  std::uint64_t incarnation = 0;
  std::string reason;
};

/// Counters since the node started. Read from any thread.
struct NodeStats {
  std::uint64_t messages_sent = 0;      ///< encoded into frames
  std::uint64_t messages_received = 0;  ///< decoded and delivered
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t dropped_outbound_full = 0;
  std::uint64_t dropped_connection_lost = 0;  ///< queued or unsent when a connection ended
  std::uint64_t dropped_not_serializable = 0;
  std::uint64_t rejected_inbound = 0;    ///< unknown type/target, malformed payload
  std::uint64_t sequence_gaps = 0;       ///< messages the receiver proved lost
  std::uint64_t duplicates_dropped = 0;  ///< numbered twice: dropped, never delivered
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t protocol_errors = 0;  ///< connections closed for bad input
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t futures_failed = 0;       ///< request futures failed by a lost connection
  std::uint64_t handovers = 0;            ///< accepted connections moved to their peer's io thread
  std::uint64_t dropped_too_large = 0;    ///< larger than one frame the peer accepts
  std::uint64_t connections_refused = 0;  ///< accepts over max_connections / max_half_open
  std::uint64_t auth_failures = 0;        ///< handshakes refused for a missing or wrong proof
  std::uint64_t untrusted_refused = 0;    ///< stops, poisons and watches untrusted mode refused
  /// Now, not a count: bytes waiting for peers (queued messages and frames
  /// their sockets have not taken), each peer's within outbound_queue_bytes.
  std::uint64_t queued_bytes = 0;
  /// Now: peers the node keeps state for. One that holds nothing (no
  /// connection, queue, future, watch or proxy in use) is evicted within
  /// a second or two (endpoints_evicted counts them).
  std::uint64_t endpoints = 0;
  std::uint64_t endpoints_evicted = 0;
};

class Node {
 public:
  /// Binds, listens and starts the io threads. Throws std::system_error or
  /// std::runtime_error with a clear message (address in use, io_uring
  /// unavailable: see uring_unavailable_reason(), io_threads of 0).
  Node(ActorSystem& system, const wire::TypeRegistry& types, NodeConfig config = {});
  /// Says goodbye to every peer (a Disconnect frame), drops what is still
  /// queued (counted), joins the io threads.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// The address peers reach this node at ("127.0.0.1:41234").
  const std::string& address() const noexcept;
  /// This start's incarnation id (random, never 0).
  std::uint64_t incarnation() const noexcept;

  /// A Pid for the actor spawned as `name` (spawn_named) on the node at
  /// `address`. Sending to it connects on first use. For this node's own
  /// address: the local actor (empty if none). Thread-safe.
  Pid pid(std::string_view address, std::string_view name);

  NodeStats stats() const noexcept;

  /// Asks the node at `address` whether an actor is registered there as
  /// `name`. The future completes with its ActorIdentity (its id there) if
  /// so; fails with RequestErrc::dead_letter (reason target_stopped) if no
  /// actor has that name, delivery_failed or timeout if the node cannot be
  /// reached. The node answers itself: the actor's mailbox is not touched
  /// (this node's own address is answered at once, the same way).
  /// Thread-safe; does not block.
  Future<ActorIdentity> identify(std::string_view address, std::string_view name,
                                 std::chrono::nanoseconds timeout);

 private:
  std::unique_ptr<detail::NodeImpl> impl_;
};

}  // namespace shoal::io
