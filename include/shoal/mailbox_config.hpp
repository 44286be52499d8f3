// MailboxConfig: an actor's mailbox unbounded (the default) or bounded,
// and what a bounded one does when full. Given through Props::with_mailbox.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal {

/// What a bounded mailbox does with a message that does not fit. Neither
/// blocks nor spins: the loser becomes a counted dead letter.
enum class OverflowPolicy : std::uint8_t {
  drop_newest,  ///< refuse the new message
  drop_oldest,  ///< evict the oldest queued message to make room
};

/// What ActorSystem::try_send (and Context::try_send) did with a message.
enum class SendResult : std::uint8_t {
  delivered,  ///< queued for the target (or, for what is no local actor, handed on)
  full,       ///< the target's bounded mailbox was full: not queued, no dead letter
  stopped,    ///< the target was stopped or asked to stop, or the Pid is empty: not
              ///< queued, no dead letter
};

struct MailboxConfig {
  std::size_t capacity = 0;  ///< user messages; 0 = unbounded
  OverflowPolicy overflow = OverflowPolicy::drop_newest;

  static MailboxConfig unbounded() noexcept { return {}; }
  static MailboxConfig bounded(std::size_t capacity,
                               OverflowPolicy overflow = OverflowPolicy::drop_newest) noexcept {
    return {capacity == 0 ? 1 : capacity, overflow};
  }
};

}  // namespace shoal
