// EventStream: a system's publish / subscribe channel for things that happen
// to actors rather than between them — dead letters, failures, supervision
// directives (and, later, cluster events). Subscribers pick events by C++
// type; a subscriber is a callback, or an actor that gets a copy of each
// event as a message (ActorSystem::subscribe).
//
// Cost: publishing an event of a type nobody subscribed to is one relaxed
// load (a per-stream count), so the runtime publishes unconditionally on its
// slow paths. With subscribers, a publish copies one shared_ptr under a
// mutex and calls the matching callbacks on the publishing thread, without
// holding the lock: a callback may subscribe or unsubscribe. Callbacks must
// be cheap and must not block (they run on workers).
//
// Not for per-message traffic: the runtime never publishes on the send path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoal/envelope.hpp"
#include "shoal/supervision.hpp"

namespace shoal {

/// A supervisor applied a directive to an actor (published once per actor
/// it applies to; an all-for-one restart publishes one per sibling).
struct SupervisionEvent {
  std::uint64_t actor_id;  ///< the actor the directive applies to
  Directive directive;
  std::string reason;  ///< the failure's message (of the failing actor)
};

/// A handler ran longer than SchedulerConfig::long_handler: published by
/// the worker that ran it, as soon as it returned (SchedulerConfig::long_handler). Tells an
/// operator who holds a worker up.
struct LongHandlerEvent {
  std::uint64_t actor_id;
  std::string_view actor_type;    ///< the actor's C++ type; lives as long as the process
  std::string_view message_type;  ///< what it handled (a lifecycle message: Started, …)
  /// How long its run had lasted when the handler returned, at least: from
  /// the monitor's first look at the run (up to a tick after it began).
  /// The run's earlier handlers, if any, are in it; they were short.
  std::chrono::nanoseconds at_least;
  unsigned worker;  ///< the worker it ran on
};

class EventStream {
 public:
  using Token = std::uint64_t;

  EventStream() = default;
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  /// Calls `fn` for every event of type E published from now on, on the
  /// publishing thread. Returns a token for unsubscribe. Thread-safe.
  template <class E>
  Token subscribe(std::function<void(const E&)> fn) {
    return add(message_type_of<E>,
               [fn = std::move(fn)](const void* e) { fn(*static_cast<const E*>(e)); });
  }
  /// Stops a subscription; events published after it returns do not reach
  /// it (one already being delivered on another thread may). Thread-safe.
  void unsubscribe(Token token);

  /// True if anything is subscribed (to any type): lets a publisher skip
  /// building an event nobody will see. Thread-safe.
  bool active() const noexcept {
    // relaxed: pairs with the relaxed fetch_add/fetch_sub in subscribe/unsubscribe (a hint).
    return count_.load(std::memory_order_relaxed) != 0;
  }

  /// Delivers `e` to the subscribers of E. Thread-safe; never throws (a
  /// callback that throws is skipped and logged as a warning: log.hpp).
  template <class E>
  void publish(const E& e) const noexcept {
    // relaxed: pairs with nothing — a hint written by add()/unsubscribe()'s
    // fetch_add/fetch_sub; the list itself is read under mu_ in deliver(),
    // and a subscriber added concurrently may miss this event either way.
    // relaxed: pairs with the relaxed fetch_add/fetch_sub in subscribe/unsubscribe (a hint).
    if (count_.load(std::memory_order_relaxed) == 0) return;
    deliver(message_type_of<E>, &e);
  }

 private:
  struct Subscription {
    Token token;
    const MessageType* type;
    std::function<void(const void*)> fn;
  };
  using List = std::vector<Subscription>;

  Token add(const MessageType* type, std::function<void(const void*)> fn);
  void deliver(const MessageType* type, const void* event) const noexcept;

  mutable std::mutex mu_;
  std::shared_ptr<const List> subs_ = std::make_shared<const List>();  // guarded by mu_
  Token next_token_ = 1;                                               // guarded by mu_
  std::atomic<std::size_t> count_{0};
};

}  // namespace shoal
