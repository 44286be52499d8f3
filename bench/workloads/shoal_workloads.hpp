// The shoal macro workloads; bench/peers/caf_workloads.hpp has their CAF
// 0.17 twins with the same shapes (read the semantics there).
// Each function builds its own ActorSystem with `workers` workers (defaults
// otherwise), runs the workload once, shuts the system down and returns the
// wall time of the measured part.
#pragma once

#include <cstdint>

#include "bench/workload.hpp"

namespace shoal::bench::native {

/// Mailbox batch size for the systems the next runs on this thread build
/// (0 = shoal's default). Set from RunConfig by workloads().
void set_throughput(unsigned messages_per_run);

/// One pair; one message in flight; `messages` one-way messages in total.
Timing ping_pong(unsigned workers, std::uint64_t messages);

/// `pairs` independent ping-pong pairs, one message in flight per pair,
/// `messages_per_pair` one-way messages each. All pairs start together.
Timing pairs(unsigned workers, unsigned pairs, std::uint64_t messages_per_pair);

/// `senders` actors each send `messages_per_sender` messages to one receiver.
/// Flow control keeps memory bounded: a sender keeps at most `window` messages
/// unacknowledged; the receiver acks every window/2 messages from that sender.
Timing fan_in(unsigned workers, unsigned senders, std::uint64_t messages_per_sender,
              unsigned window);

/// `actors` actors in a ring; one token travels `hops` hops in total.
Timing ring(unsigned workers, unsigned actors, std::uint64_t hops);

/// Skynet with real actors: each actor spawns 10 children down to `leaves`
/// leaves (1,000,000 leaves = 1,111,111 actors); leaves answer their ordinal,
/// parents sum the answers of their 10 children, answer their own parent and
/// stop. Timing includes everything from the first spawn to the root's sum.
/// peak_rss_bytes is filled in.
Timing skynet(unsigned workers, std::uint64_t leaves);

/// Spawn `actors` idle actors (no user state), then stop them all and wait
/// until every one has been destroyed. from_actor = false: spawned and stopped
/// from the main thread; true: spawned and stopped from inside one actor.
/// seconds covers spawn + stop; bytes_per_actor is the RSS growth measured
/// after all are spawned and idle, divided by `actors`.
Timing spawn_stop(unsigned workers, std::uint64_t actors, bool from_actor);

/// Idle cost: spawns `actors` actors, sends each one message and waits for
/// the replies, lets the system settle for `settle_seconds` (past every spin
/// window), then measures the process's CPU time over `window_seconds` of
/// doing nothing. seconds = CPU seconds used in the window; items = the
/// window's length.
Timing idle(unsigned workers, unsigned actors, double settle_seconds, double window_seconds);

}  // namespace shoal::bench::native
