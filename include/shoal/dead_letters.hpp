// DeadLetters: where undeliverable messages end up — counted by reason and
// handed to an optional observer.
//
// Dead letters are the slow path (a stale Pid, a full mailbox, a type the
// actor does not handle), so counting uses one shared atomic per reason.
// The observer runs synchronously on the thread that produced the dead
// letter; it must be cheap and must not block. (The event stream of the
// semantics issue will carry these as events.)
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>

#include "shoal/detail/config.hpp"

namespace shoal {

enum class DeadLetterReason : std::uint8_t {
  target_stopped,     ///< the target actor had stopped (stale Pid)
  empty_pid,          ///< sent to an empty Pid
  unhandled,          ///< the actor did not handle this message type
  mailbox_full,       ///< bounded mailbox, drop-newest: this message was refused
  dropped_oldest,     ///< bounded mailbox, drop-oldest: evicted by a newer one
  stopped_with_mail,  ///< still queued when its actor stopped
  no_sender,          ///< respond() to a message that carried no sender
  late_response,      ///< a response to a request future already completed (timed out)
  // Remote delivery (io/):
  not_serializable,  ///< to a remote actor, of a type the node's TypeRegistry lacks
  outbound_full,     ///< the connection's outbound queue was full (its byte bound)
  connection_lost,   ///< queued for a node whose connection dropped or never came up
  unknown_type,      ///< arrived from a node with a type name this node does not know
  malformed,         ///< arrived from a node but did not decode
  too_large,         ///< to a remote actor, larger than one frame the peer accepts
  untrusted,         ///< from a node: a stop, poison or watch its untrusted mode refuses
};
inline constexpr std::size_t dead_letter_reason_count = 15;

/// A readable name for a reason ("target_stopped", ...).
std::string_view to_string(DeadLetterReason r) noexcept;

/// One undeliverable message, as the observer sees it.
struct DeadLetter {
  std::uint64_t target_id;     ///< 0 for an empty Pid
  std::string_view type_name;  ///< the message's C++ type
  DeadLetterReason reason;
};

class DeadLetters {
 public:
  using Observer = std::function<void(const DeadLetter&)>;

  explicit DeadLetters(Observer observer = {}) : observer_(std::move(observer)) {}

  /// Counts `d` and passes it to the observer. Thread-safe; never blocks
  /// unless the observer does; does not allocate.
  void publish(const DeadLetter& d) noexcept;

  /// Dead letters so far, in all or for one reason. Thread-safe.
  std::uint64_t total() const noexcept;
  std::uint64_t count(DeadLetterReason r) const noexcept {
    // relaxed: a statistic; nothing is read on the strength of it.
    return counts_[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::uint64_t>, dead_letter_reason_count> counts_{};
  Observer observer_;
};

}  // namespace shoal
