#include "shoal/dead_letters.hpp"

#include "shoal/log.hpp"

namespace shoal {

std::string_view to_string(DeadLetterReason r) noexcept {
  switch (r) {
    case DeadLetterReason::target_stopped:
      return "target_stopped";
    case DeadLetterReason::empty_pid:
      return "empty_pid";
    case DeadLetterReason::unhandled:
      return "unhandled";
    case DeadLetterReason::mailbox_full:
      return "mailbox_full";
    case DeadLetterReason::dropped_oldest:
      return "dropped_oldest";
    case DeadLetterReason::stopped_with_mail:
      return "stopped_with_mail";
    case DeadLetterReason::no_sender:
      return "no_sender";
    case DeadLetterReason::late_response:
      return "late_response";
    case DeadLetterReason::not_serializable:
      return "not_serializable";
    case DeadLetterReason::outbound_full:
      return "outbound_full";
    case DeadLetterReason::connection_lost:
      return "connection_lost";
    case DeadLetterReason::unknown_type:
      return "unknown_type";
    case DeadLetterReason::malformed:
      return "malformed";
    case DeadLetterReason::too_large:
      return "too_large";
    case DeadLetterReason::untrusted:
      return "untrusted";
  }
  return "unknown";
}

void DeadLetters::publish(const DeadLetter& d) noexcept {
  // relaxed: a statistic (see count()).
  counts_[static_cast<std::size_t>(d.reason)].fetch_add(1, std::memory_order_relaxed);
  if (observer_) {
    try {
      observer_(d);
    } catch (...) {
      log(LogLevel::warning, "dead letters", "the dead-letter observer threw; ignored");
    }
  }
}

std::uint64_t DeadLetters::total() const noexcept {
  std::uint64_t sum = 0;
  for (const auto& c : counts_) sum += c.load(std::memory_order_relaxed);  // relaxed: statistic
  return sum;
}

}  // namespace shoal
