// Handles<Self, Ts...>: typed dispatch for actors.
//
// Dispatch costs one virtual call and one pointer compare per listed type;
// no RTTI, std::any or std::function per message. A type not listed is
// reported as a dead letter with reason `unhandled`.
//
//   struct Counter : shoal::Handles<Counter, Add, Get> {
//     void on(shoal::Context&, Add& a) { n += a.by; }
//     void on(shoal::Context& ctx, Get& g) { ctx.send(g.reply_to, n); }
//     long n = 0;
//   };
#pragma once

#include "shoal/actor.hpp"
#include "shoal/context.hpp"
#include "shoal/envelope.hpp"

namespace shoal {

template <class Self, class... Ts>
class Handles : public Actor {
 public:
  void receive(Context& ctx, Envelope& msg) final {
    if (!(try_dispatch<Ts>(ctx, msg) || ...)) ctx.unhandled(msg);
  }
  bool may_handle([[maybe_unused]] const MessageType* t) const noexcept final {
    return ((t == message_type_of<Ts>) || ...);
  }

 private:
  template <class T>
  bool try_dispatch(Context& ctx, Envelope& msg) {
    T* m = msg.get<T>();
    if (m == nullptr) return false;
    static_cast<Self*>(this)->on(ctx, *m);
    return true;
  }
};

}  // namespace shoal
