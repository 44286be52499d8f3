#include "shoal/event_stream.hpp"

#include <algorithm>
#include <string>

#include "shoal/log.hpp"

namespace shoal {

EventStream::Token EventStream::add(const MessageType* type, std::function<void(const void*)> fn) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<List>(*subs_);
  Token token = next_token_++;
  next->push_back({token, type, std::move(fn)});
  subs_ = std::move(next);
  // The list is published by mu_ (deliver() copies subs_ under it); the count is a hint.
  // relaxed: pairs with the relaxed loads in publish() and active().
  count_.fetch_add(1, std::memory_order_relaxed);
  return token;
}

void EventStream::unsubscribe(Token token) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<List>(*subs_);
  auto it = std::find_if(next->begin(), next->end(),
                         [&](const Subscription& s) { return s.token == token; });
  if (it == next->end()) return;
  next->erase(it);
  subs_ = std::move(next);
  // relaxed: pairs with the relaxed loads in publish() and active() (a hint).
  count_.fetch_sub(1, std::memory_order_relaxed);
}

void EventStream::deliver(const MessageType* type, const void* event) const noexcept {
  std::shared_ptr<const List> subs;
  {
    std::lock_guard lock(mu_);
    subs = subs_;
  }
  for (const Subscription& s : *subs) {
    if (s.type != type) continue;
    try {
      s.fn(event);
    } catch (...) {
      log(LogLevel::warning, "event stream",
          "a subscriber for " + std::string(type->name) + " threw; skipped");
    }
  }
}

}  // namespace shoal
