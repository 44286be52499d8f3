// Props: how to make an actor — its producer, its mailbox options and the
// strategy it applies to its failing children.
//
// The producer runs once per spawn and once per restart.
// It is a std::function because it is called at spawn time only, never per
// message. For a hot spawn path, `Context::spawn<A>(args...)` constructs the
// actor directly without a Props.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "shoal/actor.hpp"
#include "shoal/detail/mailbox.hpp"
#include "shoal/middleware.hpp"
#include "shoal/supervision.hpp"

namespace shoal {

class Props {
 public:
  using Producer = std::function<std::unique_ptr<Actor>()>;

  /// Props whose producer makes `A(args...)`; the arguments are copied into
  /// the Props and copied again for each actor made.
  template <class A, class... Args>
  static Props of(Args&&... args) {
    return Props(
        [tuple = std::make_tuple(std::forward<Args>(args)...)]() -> std::unique_ptr<Actor> {
          return std::apply([](const auto&... a) { return std::make_unique<A>(a...); }, tuple);
        });
  }
  /// Props with a caller-supplied producer.
  static Props from_producer(Producer producer) { return Props(std::move(producer)); }

  /// Mailbox kind: unbounded (default) or bounded with an overflow policy.
  Props& with_mailbox(const MailboxConfig& m) & {
    mailbox_ = m;
    return *this;
  }
  Props&& with_mailbox(const MailboxConfig& m) && { return std::move(with_mailbox(m)); }

  /// User messages per run before the mailbox yields; 0 = the system default.
  Props& with_throughput(std::uint32_t n) & {
    throughput_ = n;
    return *this;
  }
  Props&& with_throughput(std::uint32_t n) && { return std::move(with_throughput(n)); }

  /// The strategy this actor applies when one of its children fails
  /// (supervision.hpp); null = the system default.
  Props& with_supervisor(std::shared_ptr<const SupervisorStrategy> s) & {
    supervisor_ = std::move(s);
    return *this;
  }
  Props&& with_supervisor(std::shared_ptr<const SupervisorStrategy> s) && {
    return std::move(with_supervisor(std::move(s)));
  }

  /// Adds receiver middleware around this actor's messages (middleware.hpp);
  /// the first added is outermost.
  Props& with_receiver_middleware(ReceiverMiddleware m) & {
    receiver_middleware_.push_back(std::move(m));
    return *this;
  }
  Props&& with_receiver_middleware(ReceiverMiddleware m) && {
    return std::move(with_receiver_middleware(std::move(m)));
  }
  /// Adds sender middleware around this actor's sends (middleware.hpp).
  Props& with_sender_middleware(SenderMiddleware m) & {
    sender_middleware_.push_back(std::move(m));
    return *this;
  }
  Props&& with_sender_middleware(SenderMiddleware m) && {
    return std::move(with_sender_middleware(std::move(m)));
  }

  /// Records this actor's statistics (stats.hpp): queue wait, handler time,
  /// mailbox depth, oldest message age, shown by ActorSystem::stats(). Costs
  /// two clock reads and a shared counter per message.
  Props& with_stats(bool on = true) & {
    stats_ = on;
    return *this;
  }
  Props&& with_stats(bool on = true) && { return std::move(with_stats(on)); }
  bool stats() const noexcept { return stats_; }
  const std::vector<ReceiverMiddleware>& receiver_middleware() const noexcept {
    return receiver_middleware_;
  }
  const std::vector<SenderMiddleware>& sender_middleware() const noexcept {
    return sender_middleware_;
  }
  const MailboxConfig& mailbox() const noexcept { return mailbox_; }
  const std::shared_ptr<const SupervisorStrategy>& supervisor() const noexcept {
    return supervisor_;
  }
  std::uint32_t throughput() const noexcept { return throughput_; }
  /// Makes a new actor instance. May throw whatever the actor's constructor throws.
  std::unique_ptr<Actor> produce() const { return producer_(); }

 private:
  explicit Props(Producer p) : producer_(std::move(p)) {}

  Producer producer_;
  MailboxConfig mailbox_{};
  std::uint32_t throughput_ = 0;
  bool stats_ = false;
  std::shared_ptr<const SupervisorStrategy> supervisor_;
  std::vector<ReceiverMiddleware> receiver_middleware_;
  std::vector<SenderMiddleware> sender_middleware_;
};

}  // namespace shoal
