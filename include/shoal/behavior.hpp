// Behavior: another way for an actor to handle its messages, switched at run
// time (Proto.Actor's Become / BecomeStacked / UnbecomeStacked).
//
//   struct Door : shoal::Handles<Door, Open> {
//     void on(shoal::Context& ctx, Open&) { ctx.become(shoal::Behavior::of<&Door::opened>()); }
//     void opened(shoal::Context& ctx, shoal::Envelope& msg) {
//       shoal::match(ctx, msg, [&](Close&) { ctx.unbecome(); },
//                              [&](Knock&) { ... });
//     }
//   };
//
// A behavior is a member function `void (A::*)(Context&, Envelope&)` of the
// actor, bound at compile time: switching costs a vector push or pop, and a
// message costs one indirect call (as `receive` does). While a behavior is
// active every message goes to it, lifecycle messages included; with none,
// `receive` handles them. A restart starts the fresh instance in `receive`.
#pragma once

#include <type_traits>
#include <utility>

#include "shoal/actor.hpp"
#include "shoal/context.hpp"
#include "shoal/envelope.hpp"

namespace shoal {

namespace detail {
template <class>
struct member_of;
template <class A>
struct member_of<void (A::*)(Context&, Envelope&)> {
  using type = A;
};

template <class F>
struct handler_arg;
template <class F, class R, class T>
struct handler_arg<R (F::*)(T&) const> {
  using type = T;
};
template <class F, class R, class T>
struct handler_arg<R (F::*)(T&)> {
  using type = T;
};
}  // namespace detail

class Behavior {
 public:
  /// The actor's own `receive` (what `become(Behavior())` returns to).
  Behavior() noexcept = default;

  /// The member function `Fn` of the actor, `void (A::*)(Context&, Envelope&)`.
  template <auto Fn>
  static Behavior of() noexcept {
    using A = typename detail::member_of<decltype(Fn)>::type;
    static_assert(std::is_base_of_v<Actor, A>, "Behavior::of<&A::f>: A must be an Actor");
    Behavior b;
    b.fn_ = [](Actor& a, Context& ctx, Envelope& e) { (static_cast<A&>(a).*Fn)(ctx, e); };
    return b;
  }

  /// True for the actor's own `receive`.
  bool is_receive() const noexcept { return fn_ == nullptr; }
  /// Hands `e` to this behavior of `actor`.
  void operator()(Actor& actor, Context& ctx, Envelope& e) const {
    if (fn_ == nullptr) {
      actor.receive(ctx, e);
    } else {
      fn_(actor, ctx, e);
    }
  }

 private:
  void (*fn_)(Actor&, Context&, Envelope&) = nullptr;
};

/// Calls the first handler whose parameter type (`T&`) the message holds;
/// reports any other message to `ctx.unhandled` (lifecycle messages are
/// ignored there). Returns whether a handler ran. For behaviors:
///   match(ctx, msg, [&](Open& o) { ... }, [&](Close& c) { ... });
template <class... Fs>
bool match(Context& ctx, Envelope& msg, Fs&&... fs) {
  bool ran = ([&]<class F>(F& f) {
    using T = typename detail::handler_arg<decltype(&std::remove_cvref_t<F>::operator())>::type;
    T* m = msg.get<std::remove_const_t<T>>();
    if (m == nullptr) return false;
    f(*m);
    return true;
  }(fs) || ...);
  if (!ran) ctx.unhandled(msg);
  return ran;
}

}  // namespace shoal
