// Outbox: sender-side combining of one handler's consecutive messages to the
// same actor.
//
// Why: a push onto a mailbox is one exchange on the queue's head, and when
// senders on several workers flood one actor that cache line crosses cores
// on nearly every push (fan-in: 86 % of the senders' cycles sat on it). A
// handler that sends a burst to one actor now pushes the burst as one chain
// with one exchange (MpscQueue::enter_chain), as a decoded remote batch
// already did. A burst to a remote actor is queued on its peer's endpoint
// the same way (Process::post_chain: one byte booking, one exchange, one
// reference count step for the whole chain).
//
// The rule (ActorCell's thread, inside a run; plain local or remote targets):
//   - a handler's first message to an actor is pushed at once; the
//     target is remembered (compared only, never dereferenced);
//   - a following message to the same actor is held, and the ones after it
//     are linked behind it (no atomic: the chain is this thread's until it
//     is pushed);
//   - the chain is pushed before any send to another target (so pushes keep
//     the program order of the handler's sends to all targets), when the
//     handler returns or throws, after `max_held` messages, and before
//     ActorSystem::deliver sends anything from this thread.
// So the only change a receiver can see is that a burst arrives as a burst:
// no reordering, and the delay is bounded by the handler (actors must not
// block in handlers; Future::get refuses to on a worker).
//
// What stays out: instrumented actors and request futures, bounded
// mailboxes (each message meets the bound and its overflow policy alone),
// middleware, and everything while the flight recorder is on (flows are
// recorded per message by deliver).
#pragma once

#include <cstdint>

#include "shoal/detail/config.hpp"

namespace shoal {
class Process;
struct Envelope;
}  // namespace shoal

namespace shoal::detail {

struct Outbox {
  /// A bound on what a chain holds: a consumer on another worker can start
  /// on a flood after this many messages, not at the end of the handler.
  /// The default batch size (throughput 64) so one run drains one chain.
  static constexpr std::uint32_t max_held = 64;

  bool open = false;              // inside an ActorCell::run on this thread
  const Process* last = nullptr;  // the current handler's previous target
  Process* held = nullptr;        // the chain's target; one reference taken
  Envelope* first = nullptr;      // oldest held message, or null
  Envelope* tail = nullptr;       // newest held message
  std::uint32_t count = 0;        // messages held
};

/// Trivial, so thread-local access needs no initialisation guard.
SHOAL_TLS_INITIAL_EXEC inline constinit thread_local Outbox outbox;

/// Pushes the held chain (if any) to its target and lets go of the
/// target's reference. Never throws.
void flush_outbox() noexcept;

/// A handler ended (returned or threw): push what it held; its next
/// message starts without a previous target.
inline void end_handler() noexcept {
  Outbox& o = outbox;
  if (o.first != nullptr) [[unlikely]]
    flush_outbox();
  o.last = nullptr;
}

}  // namespace shoal::detail
