// The shoal macro workloads; bench/peers/caf_workloads.hpp has their CAF
// 0.17 twins. The shapes and their meaning are in shapes.inc.
//
// Each function builds its own ActorSystem with `workers` workers (defaults
// otherwise), runs the workload once, shuts the system down and returns the
// wall time of the measured part.
#pragma once

#include <cstdint>

#include "bench/workload.hpp"

namespace shoal {
struct SystemConfig;
}

namespace shoal::bench::native {

/// The knobs (all of RunConfig but the workers) for the systems the next
/// runs on this thread build. Set from RunConfig by workloads().
void set_options(const RunConfig& config);
/// The knobs set_options last set.
const RunConfig& options();
/// The configuration of a system with `workers` workers and those knobs.
SystemConfig system_config(unsigned workers);

#include "bench/workloads/shapes.inc"

// shoal only: the event-loop bridge and the machine's wake-up cost.

/// outside_rtt, and with guest = true the asking thread runs the mailbox
/// its request makes runnable when every worker sleeps (a GuestRunner's
/// collect() before the request, run() after it), as an embedder would.
Timing outside_rtt_as(unsigned workers, std::uint64_t round_trips, bool parked, bool guest);
/// How outside_rtt_queue's loop waits for its CompletionQueue.
enum class QueueWait {
  block,  ///< epoll_wait(-1) on the queue's descriptor: a loop that sleeps when idle
  poll,   ///< pending(), then epoll_wait(0) (sched_yield() every 64 empty looks): a loop that never
          ///< sleeps
};
/// outside_rtt through the bridge a server's event loop uses: the answer's
/// continuation (Future::then(queue, f)) runs when the loop drains its
/// CompletionQueue, whose eventfd it waits on with epoll.
Timing outside_rtt_queue(unsigned workers, std::uint64_t round_trips, bool parked, QueueWait how);
/// What waking a thread costs on this machine: one thread wakes another
/// that sleeps in a futex (std::atomic::wait), `wakes` times; percentiles of
/// the time from just before the wake to the woken thread's return.
Timing thread_wake(std::uint64_t wakes);
/// An actor calls a grain on its own member (Cluster::request + reenter_after),
/// one call in flight; percentiles per call. Built with the cluster layer.
Timing grain_call(unsigned workers, std::uint64_t calls);
/// Two spinning threads bounce one cache line: the floor of outside-rtt/busy.
Timing line_bounce(std::uint64_t round_trips);

// shoal only (CAF 0.17 has no restart): supervision under load.

/// `pairs` ping-pong pairs whose first player fails (throws, after passing
/// the ball on) every `fail_every`-th ball of each incarnation; a parent
/// restarts it (one-for-one, no limit). seconds covers `messages` one-way
/// messages over all pairs; items = messages.
Timing restart_storm(unsigned workers, unsigned pairs, std::uint64_t messages,
                     unsigned fail_every);
/// ping_pong with one receiver middleware on every actor (system-wide): a
/// metrics-style pass-through that counts messages in a thread-local.
Timing ping_pong_with_middleware(unsigned workers, std::uint64_t messages);
/// pairs/`pairs` (healthy pairs, `messages` messages in all) timed while a
/// restart storm of as many pairs runs on the same workers: what the storm
/// costs its neighbours. Compare with pairs alone: fair is half the rate.
Timing pairs_beside_storm(unsigned workers, unsigned pairs, std::uint64_t messages,
                          unsigned fail_every);

/// How the remote workloads' two nodes guard their link.
enum class Link {
  plain,          ///< no secret
  authenticated,  ///< a shared cluster secret: the handshake proves it (io/auth.hpp)
  tls,            ///< and every byte is encrypted, TLS 1.3 (NodeConfig::tls)
};

/// remote_stream / remote_rtt over a `link` other than plain.
/// Authentication happens once per connection: steady state pays nothing
/// for it. TLS seals and opens every byte: the rows beside the plain ones
/// say what it costs.
Timing remote_stream_as(unsigned workers, unsigned senders, std::uint64_t items,
                        std::uint64_t window, Link link);
Timing remote_rtt_as(unsigned workers, std::uint64_t round_trips, Link link);
/// Makes a new node (a new incarnation) and connects it to the server with
/// one round trip, `connections` times: what setting up a connection costs
/// (node start, TCP connect, handshake; authenticated: the nonces and
/// proofs; tls: the TLS handshake too), per connection.
Timing remote_connect(unsigned workers, unsigned connections, Link link);

/// The server program the remote workloads start (tools/node/shoal-node).
std::string server_program();

}  // namespace shoal::bench::native
