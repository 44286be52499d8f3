// Endpoint: everything this node knows about one peer node, by address.
//
// Producer side (any thread): the outbound queue. One intrusive MPSC queue
// (shoal/detail/mpsc_queue.hpp: FIFO across all producers, which moodycamel's
// queue is not) holds the envelopes for the peer in send order, whatever
// worker each sender runs on. Its size is bounded in bytes (the envelopes'
// node sizes): past the bound a send is refused as a dead letter
// (outbound_full) and the refusal is counted so the sequence numbers show
// it. The queue's empty mark tells exactly one producer that it made the
// queue non-empty; that producer puts the endpoint on its node's ready
// list (the home io thread's; woken if it sleeps). Nothing else is shared.
//
// io side (the endpoint's home io thread only): the connection, the state machine,
// the sequence numbers, the futures and watches that depend on the peer.
//
//   idle ──(messages queued)──▶ connecting ──(handshake)──▶ connected
//     ▲                            │  ▲                        │
//     │               (failed) ────┘  └──(backoff over)──┐     │ (lost)
//     │                  ▼                               │     │
//     └──(max_attempts: drop queue)── backing_off ───────┘     │
//     └─────────────────────(drop queue, fail futures, Terminated)┘
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/socket.hpp"
#include "wire/frame_codec.hpp"

#include "shoal/detail/config.hpp"
#include "shoal/detail/mpsc_queue.hpp"
#include "shoal/pid.hpp"

namespace shoal {
class ActorSystem;
}

namespace shoal::io {

class Connection;
class RemoteProcess;
namespace detail {
class NodeImpl;
class IoLoop;
}

class Endpoint : public std::enable_shared_from_this<Endpoint> {
 public:
  enum class State : std::uint8_t { idle, connecting, connected, backing_off };

  /// `home`: the io thread that owns the endpoint's io state.
  Endpoint(detail::NodeImpl& node, detail::IoLoop& home, ActorSystem& system,
           std::string address, std::size_t max_queued_bytes);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  const std::string& address() const noexcept { return address_; }
  detail::IoLoop& home() const noexcept { return home_; }

  // -- producers (any thread) -------------------------------------------------

  /// Queues `e` (owned) for the peer. Never blocks, does not allocate.
  void enqueue(Envelope* e) noexcept;
  /// Queues `first` … `last` (owned; `bytes` of nodes, linked through
  /// `next`, oldest first) with one booking and one exchange: a sender's
  /// burst (RemoteProcess::post_chain). A burst that would cross the byte
  /// bound goes message by message, so exactly the newest that do not fit
  /// become dead letters. Never blocks, does not allocate.
  void enqueue_chain(Envelope* first, Envelope* last, std::uint64_t bytes) noexcept;
  /// The interned proxy for the peer's actor `name`, or `id` as learnt
  /// from peer incarnation `incarnation` (0: unknown). Thread-safe;
  /// allocates the first time (and for an id from a new incarnation).
  Pid proxy(std::uint64_t id, std::string_view name, std::uint64_t incarnation = 0);

  // -- the home io thread (or shutdown) -----------------------------------------

  /// Forgets the proxies nobody else holds; true if none is left (then the
  /// proxies hold no reference to this endpoint). Thread-safe.
  bool forget_unused_proxies();

  /// From now on sends are dead letters; waits out producers inside
  /// enqueue(). Drops the proxies' table (it would keep this alive).
  void close() noexcept;
  /// Pops the oldest queued envelope (the queue keeps its node: destroy
  /// the payload only). io thread only.
  Envelope* try_pop() noexcept { return queue_.try_pop(); }
  /// After popping `popped` bytes of envelopes and encoding them (with any
  /// control frames) into `encoded` bytes of frames for the peer: the bound
  /// now counts the frames instead, until they are sent (unbook). The one
  /// byte bound covers both, so a peer that stops reading makes sends
  /// outbound_full instead of growing the frames waiting for its socket.
  void book(std::size_t popped, std::size_t encoded) noexcept {
    // relaxed: a bound, not a synchronisation; the envelopes travel
    // through the queue's own acquire/release. (An RMW: it keeps the
    // producers' release decrements of the inside count visible to
    // close()'s acquire load — a release sequence.) Unsigned wrap-around
    // adds the difference either way.
    // relaxed: pairs with nothing; the producers' seq_cst fetch_add in enqueue() reads the sum.
    load_.fetch_add(encoded - popped, std::memory_order_relaxed);
  }
  /// Bytes counted against the bound now: queued messages and booked
  /// frames. Any thread; a snapshot.
  std::size_t queued_bytes() const noexcept {
    return load_.load(std::memory_order_relaxed) & bytes_mask;  // relaxed: a statistic
  }
  /// `bytes` of booked frames were sent (or dropped with their connection).
  void unbook(std::size_t bytes) noexcept {
    // relaxed: pairs with nothing, as in book(); enqueue()'s fetch_add reads the sum.
    load_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  /// Marks the queue empty if it is (the next producer re-schedules);
  /// false: more arrived, keep draining. io thread only.
  bool try_mark_empty() noexcept { return queue_.try_mark_empty(); }
  /// Refusals since the last call (outbound_full): sequence numbers to skip.
  std::uint64_t take_refused() noexcept {
    // relaxed: a count folded into the sequence; no data depends on it.
    return refused_.exchange(0, std::memory_order_relaxed);
  }
  /// Intrusive link for the home io thread's ready list, and whether the
  /// endpoint is on it (IoLoop::schedule sets `listed` with an exchange and
  /// links only if it was clear; IoLoop::take_ready clears it after reading
  /// `ready_next`). The flag, not the queue's empty mark, decides who links:
  /// the io thread also marks the queue empty outside take_ready (a lost
  /// connection drops the queue, connected() flushes it), and a producer
  /// that then wins the mark must not link an endpoint still listed.
  std::atomic<Endpoint*> ready_next{nullptr};
  std::atomic<bool> listed{false};

  // io-thread state (NodeImpl reads and writes these directly)
  State state = State::idle;
  Connection* connection = nullptr;       ///< the open (or dialing) one
  unsigned failures = 0;                  ///< failed connects in a row
  std::chrono::steady_clock::time_point next_attempt{};
  std::chrono::steady_clock::time_point waiting_until{};  ///< for the peer's dial
  std::uint64_t next_sequence = 1;        ///< outbound numbering
  /// This endpoint's numbering of messages to the peer (next_sequence) is
  /// its own: a new Endpoint (after eviction) starts again at 1 under a new
  /// id, said in the handshake so the peer forgets what it expected.
  const std::uint64_t association;
  std::uint64_t peer_association = 0;  ///< the peer's, from its last handshake
  /// What the peer accepts (its handshake); batches keep to it.
  wire::FrameLimits send_limits{};
  std::uint64_t peer_incarnation = 0;     ///< 0: never connected
  std::uint64_t inbound_expected = 0;     ///< next sequence expected; 0: none yet
  std::vector<Pid> pending_futures;       ///< request futures sent to the peer
  /// Local watchers of the peer's actors (watcher, watchee proxy).
  std::vector<std::pair<Pid, Pid>> watches;
  bool active = false;                    ///< in the node's list of endpoints with io state
  bool resolving = false;                 ///< a host name lookup is out (IoLoop::start_connect)
  /// Encoding stopped with messages still queued: the frames waiting for
  /// the socket reached the encode window. The queue stays unmarked (this
  /// thread's to flush); the send's completion flushes it again.
  bool backlogged = false;
  /// A host name's addresses not yet dialed in this attempt: a failed dial
  /// tries the next before it counts as a failure (IoLoop::connect_failed).
  std::vector<SocketAddress> alternatives;

 private:
  detail::NodeImpl& node_;
  detail::IoLoop& home_;
  ActorSystem& system_;
  const std::string address_;
  const std::size_t max_queued_bytes_;

  // Written by every producer: the queue head and the load word share one
  // line, which each producer's exchange brings in exclusive anyway.
  alignas(shoal::detail::cache_line_size) shoal::detail::MpscQueue queue_;
  // One word, so a producer enters and books its bytes with one locked
  // add (each locked op on the send path waits for the store buffer):
  // the bytes queued in the low bits, the producers inside enqueue()
  // above them.
  static constexpr unsigned inside_shift = 44;  // bytes < 16 TiB
  static constexpr std::uint64_t one_inside = std::uint64_t{1} << inside_shift;
  static constexpr std::uint64_t bytes_mask = one_inside - 1;
  std::atomic<std::uint64_t> load_{0};
  std::atomic<bool> closed_{false};
  alignas(shoal::detail::cache_line_size) std::atomic<std::uint64_t> refused_{0};

  std::mutex proxies_mu_;
  std::unordered_map<std::uint64_t, Pid> by_id_;    // guarded by proxies_mu_
  std::unordered_map<std::string, Pid> by_name_;    // guarded by proxies_mu_
  std::size_t sweep_at_ = 64;                       // guarded by proxies_mu_
};

}  // namespace shoal::io
