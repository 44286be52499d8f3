# shoal's wire format: what two nodes say to each other over one TCP
# connection. Each frame is one Cap'n Proto message in the standard stream
# framing (segment table, then segments; see frame_codec.hpp), so
# `capnp decode wire/frame.capnp Frame < frame.bin` prints any frame.
#
# Design:
# - A `Batch` carries many envelopes. Type names, targets and senders repeat
#   across a batch, so each appears once in a table and envelopes refer to
#   it by index (Proto.Actor's MessageBatch does the same with its type-name
#   and target tables).
# - A payload is the message's own Cap'n Proto struct, embedded through an
#   AnyPointer, not nested bytes: the receiver reads it in place, no second
#   parse, no copy.
# - Sequence numbers count envelopes per direction of an association (a
#   sending incarnation to a receiving one), across reconnects. The sender
#   numbers every message it accepted for the peer, including the ones it
#   later dropped (queue full, connection lost, payload that failed to
#   encode), so the receiver can count the loss it sees as gaps. Numbers
#   within a batch increase but need not be consecutive.
# - Control frames (handshake, heartbeat, watch, unwatch, terminated,
#   disconnect) travel in the same stream, in order with the batches.
#
# Compatibility: fields are only ever added (Cap'n Proto's evolution rules);
# a breaking change bumps `protocolVersion`, which the handshake checks.
@0x996d4f984e14057e;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("shoal::wire::schema");

const protocolVersion :UInt32 = 1;

struct Frame {
  union {
    batch @0 :Batch;
    handshake @1 :Handshake;
    heartbeat @2 :Heartbeat;
    watch @3 :Watch;
    unwatch @4 :Watch;
    terminated @5 :Terminated;
    disconnect @6 :Disconnect;
    undeliverable @7 :Undeliverable;
    stop @8 :Stop;
    auth @9 :Auth;
  }
}

# An actor as named on the wire.
struct ActorRef {
  id @0 :UInt64;       # the actor's id on its node; 0 when named
  name @1 :Text;       # its registered name (spawn_named), when addressed so
  address @2 :Text;    # its node ("host:port"); empty = the frame's sender
}

struct Batch {
  firstSequence @0 :UInt64;    # sequence of the first envelope
  typeNames @1 :List(Text);    # stable names from the type registry
  targets @2 :List(ActorRef);  # actors on the receiving node
  senders @3 :List(ActorRef);
  envelopes @4 :List(Envelope);
}

struct Envelope {
  type @0 :UInt32;        # index into typeNames
  target @1 :UInt32;      # index into targets
  sender @2 :UInt32;      # 1 + index into senders; 0 = no sender
  requestId @3 :UInt64;   # 0 unless the sender waits on a request future
  payload @4 :AnyPointer; # the message's struct, as its codec wrote it
  sequenceOffset @5 :UInt32;  # sequence - batch.firstSequence; increasing
  # (@5 fills the 32-bit hole before requestId: 3 data words, 1 pointer.)
}

# First frame each way on a new connection. The dialing node sends
# nothing else until the answering handshake arrives (the acceptor may
# move the connection between its io threads in that pause, and refuses a
# frame that comes before its answer when it does).
#
# Authentication (nodes configured with a shared secret): the dialer's
# handshake carries a fresh nonce; the acceptor's answer carries its own
# nonce and its proof; the dialer checks the proof, then sends an `Auth`
# frame with its own proof before anything else; the acceptor reads no
# other frame until that proof checks. A proof is HMAC-SHA256(secret,
# label || transcript), label "shoal/1 acceptor" or "shoal/1 dialer", and
# the transcript binds both nonces, both addresses and both incarnations
# (io/auth.hpp spells out the bytes). A node with a secret refuses a peer
# that offers no proof; a node without one refuses a peer that asks for it.
struct Handshake {
  version @0 :UInt32;      # protocolVersion of the sender
  address @1 :Text;        # the sender's advertised node address
  incarnation @2 :UInt64;  # random per ActorSystem start, never 0
  # The sender's numbering of its messages to this peer (Batch sequence
  # numbers) started afresh under this id; the receiver forgets what it
  # expected when it changes. 0: not said (count on).
  association @3 :UInt64;
  # What the sender accepts (wire/frame_codec.hpp FrameLimits); the peer
  # keeps its frames within them, and refuses one message that cannot be,
  # rather than the connection. 0: not said (the defaults).
  maxFrameBytes @4 :UInt64;
  maxSegments @5 :UInt32;
  maxEnvelopes @6 :UInt32;
  maxTableEntries @7 :UInt32;
  nonce @8 :Data;          # authentication: 32 fresh random bytes; empty: none
  proof @9 :Data;          # the acceptor's proof (the answer only)
}

# The dialer's proof (authentication), its first frame after the answer.
struct Auth {
  proof @0 :Data;
}

struct Heartbeat {
  nonce @0 :UInt64;
  reply @1 :Bool;          # false: please answer; true: the answer
}

struct Watch {
  watcher @0 :ActorRef;    # on the sending node
  watchee @1 :ActorRef;    # on the receiving node
}

enum TerminatedReason {
  stopped @0;
  addressTerminated @1;
  notFound @2;
}

struct Terminated {
  who @0 :ActorRef;        # on the sending node
  watcher @1 :ActorRef;    # on the receiving node
  reason @2 :TerminatedReason;
}

enum UndeliverableReason {
  unknownTarget @0;        # no such actor (or it had stopped)
  unknownType @1;
  malformed @2;
  # The request reached the node but became a dead letter there later
  # (the runtime's DeadLetterReason, for a request the actor never took):
  unhandled @3;
  mailboxFull @4;
  droppedOldest @5;
  stoppedWithMail @6;
  notSerializable @7;      # passed on to a third node, and these on the way
  outboundFull @8;
  connectionLost @9;
  other @10;
  tooLarge @11;
  untrusted @12;           # refused by the receiver's untrusted mode
}

# A request from the peer could not be delivered here (or became a dead
# letter here later): whoever asked (a request future, an actor) hears it
# at once instead of at a timeout.
struct Undeliverable {
  sender @0 :ActorRef;     # who asked, on the receiving node
  requestId @1 :UInt64;
  reason @2 :UndeliverableReason;
  target @3 :ActorRef;     # whom it was for, on the sending node
  typeName @4 :Text;       # the request's wire type name
}

# Stop this actor (ActorSystem::stop on a remote Pid).
struct Stop {
  target @0 :ActorRef;     # on the receiving node
}

struct Disconnect {
  reason @0 :Text;         # said before closing, for the peer's log
}

# The payload of built-in messages that carry nothing ("shoal.PoisonPill",
# "shoal.Identify").
struct Empty {}

# The answer to "shoal.Identify" (io/node.hpp, Node::identify): the actor
# exists, with this id on its node.
struct ActorIdentity {
  id @0 :UInt64;
}
