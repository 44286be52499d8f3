// Envelope: one heap node that is both the queue link and the message.
//
// A send allocates exactly one `TypedEnvelope<T>`; the mailbox queue links it
// through `next`, and the receiver reads the payload in place. The envelope's
// type is a pointer to a per-type constant (`MessageType`), so typed dispatch
// is a pointer comparison: no RTTI, no std::any, no std::function.
//
// A request (Context::request, request_future, respond) also carries its
// sender and a request id, in a `SenderHeader` allocated just before the
// envelope (same allocation). Such an envelope points at its type's second
// MessageType (`request_type_of<T>`, has_sender set), so a plain message
// pays nothing for requests: typed access compares against both constants.
//
// Lifetime is split in two steps because of the intrusive queue (see
// mpsc_queue.hpp): after the handler returns, the payload is destroyed
// (`destroy_payload`); the node's memory is freed by whoever owns the node,
// which for the unbounded queue is the consumer at its next pop.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/pid.hpp"

namespace shoal {

struct Envelope;

/// Per-type constants of a message type. One instance per C++ type.
struct MessageType {
  std::string_view name;                ///< readable type name (dead letters, traces)
  void (*destroy)(Envelope*) noexcept;  ///< runs ~T(); null when T is trivially destructible
  std::size_t node_size;                ///< sizeof the TypedEnvelope (sized delete)
  /// Resident nodes only (node_size 0): called instead of freeing, once the
  /// queue that held the node is done with it; null = nothing to release.
  void (*release)(Envelope*) noexcept = nullptr;
  /// Handling it does not count as activity for the receive timeout
  /// (the type derives from NotInfluenceReceiveTimeout).
  bool keeps_receive_timeout = false;
  /// A SenderHeader precedes the envelope (node_size counts it).
  bool has_sender = false;
  /// The same message type without a sender; null means this one.
  const MessageType* plain = nullptr;

  /// The type to compare against message_type_of<T> in rare paths.
  const MessageType* base() const noexcept { return plain != nullptr ? plain : this; }
};

/// What a request carries besides its payload: who asked, and the id its
/// answer must quote (0 for actor-to-actor requests; request futures number
/// theirs).
struct SenderHeader {
  Pid sender;
  std::uint64_t request_id = 0;
};

/// Derive a message type from this to keep it from resetting the receiving
/// actor's receive timeout (Context::set_receive_timeout): a periodic tick,
/// say, that must not keep an idle actor looking busy.
struct NotInfluenceReceiveTimeout {};

namespace detail {

template <class T>
constexpr std::string_view type_name() noexcept {
  // "... type_name() [with T = Foo; ...]": cut out the part after "T = ".
  std::string_view f = __PRETTY_FUNCTION__;
  auto start = f.find("T = ");
  if (start == std::string_view::npos) return f;
  start += 4;
  auto end = f.find_first_of(";]", start);
  return f.substr(start, end - start);
}

}  // namespace detail

/// The queue node and type header every message starts with.
struct Envelope {
  std::atomic<Envelope*> next{nullptr};  ///< MPSC link; owned by the queue
  const MessageType* type = nullptr;     ///< null only for a queue's stub node

  /// The payload if this envelope holds a `T`, else null. O(1), no RTTI.
  template <class T>
  T* get() noexcept;
  template <class T>
  bool is() const noexcept;

  /// The header of a request; null for a plain message.
  const SenderHeader* sender_header() const noexcept {
    return type->has_sender ? header_before(this) : nullptr;
  }

 private:
  static const SenderHeader* header_before(const Envelope* e) noexcept;

 public:
  /// Runs the payload's destructor; the node memory stays valid.
  void destroy_payload() noexcept {
    if (type->destroy != nullptr) type->destroy(this);
  }
};

/// An envelope carrying a `T` by value.
/// A user message's envelope: every TypedEnvelope is one. `mark` is what
/// the flight recorder and the statistics of an instrumented receiver
/// carry from the send to the receive (the flight recorder, core/flight_recorder.hpp): 0, a flow id
/// or a send stamp. Resident system envelopes and queue stubs have none.
struct MarkedEnvelope : Envelope {
  std::uint64_t mark = 0;
};

/// The mark of a user message (popped from a user queue). O(1).
inline std::uint64_t& mark_of(Envelope& user_message) noexcept {
  return static_cast<MarkedEnvelope&>(user_message).mark;
}

template <class T>
struct TypedEnvelope final : MarkedEnvelope {
  T value;

  template <class... Args>
  explicit TypedEnvelope(Args&&... args) : value(construct(std::forward<Args>(args)...)) {
    type = &type_info;
  }

  static void destroy(Envelope* e) noexcept { static_cast<TypedEnvelope*>(e)->value.~T(); }
  /// A request's payload and its header go together: the sender's Pid is
  /// let go as soon as the message is handled, not when the queue frees the
  /// node (an unbounded queue keeps its last node; two actors' last
  /// requests to each other would keep both alive).
  static void destroy_request(Envelope* e) noexcept {
    if constexpr (!std::is_trivially_destructible_v<T>) destroy(e);
    const_cast<SenderHeader*>(e->sender_header())->~SenderHeader();
  }
  static const MessageType type_info;
  static const MessageType request_type_info;  // the same, with a SenderHeader before it

 private:
  // Parentheses where they construct, braces for an aggregate otherwise:
  // C++20 lets g++ paren-initialise aggregates, clang before 16 does not
  // (the fuzz build uses clang). The prvalue is elided into `value`.
  template <class... Args>
  static T construct(Args&&... args) {
    if constexpr (std::is_constructible_v<T, Args&&...>) {
      return T(std::forward<Args>(args)...);
    } else {
      return T{std::forward<Args>(args)...};
    }
  }
};

template <class T>
inline const MessageType TypedEnvelope<T>::type_info{
    detail::type_name<T>(),
    std::is_trivially_destructible_v<T> ? nullptr : &TypedEnvelope<T>::destroy,
    sizeof(TypedEnvelope<T>), nullptr, std::is_base_of_v<NotInfluenceReceiveTimeout, T>};

template <class T>
inline const MessageType TypedEnvelope<T>::request_type_info{
    detail::type_name<T>(),
    &TypedEnvelope<T>::destroy_request,
    sizeof(SenderHeader) + sizeof(TypedEnvelope<T>),
    nullptr,
    std::is_base_of_v<NotInfluenceReceiveTimeout, T>,
    true,
    &TypedEnvelope<T>::type_info};

template <class T>
inline constexpr const MessageType* message_type_of = &TypedEnvelope<T>::type_info;
template <class T>
inline constexpr const MessageType* request_type_of = &TypedEnvelope<T>::request_type_info;

template <class T>
T* Envelope::get() noexcept {
  return is<T>() ? &static_cast<TypedEnvelope<T>*>(this)->value : nullptr;
}

template <class T>
bool Envelope::is() const noexcept {
  // Two constants: no load beyond `type`, which dispatch has loaded already.
  return type == message_type_of<T> || type == request_type_of<T>;
}

/// Allocates the one node of a send, constructing the payload in place.
template <class V, class... Args>
Envelope* emplace_envelope(Args&&... args) {
  // free_node() releases with the plain operator delete.
  static_assert(alignof(V) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "over-aligned message types");
  return new TypedEnvelope<V>(std::forward<Args>(args)...);
}

/// Allocates the one node of a send. The payload type is `std::decay_t<T>`.
template <class T>
Envelope* make_envelope(T&& msg) {
  return emplace_envelope<std::decay_t<T>>(std::forward<T>(msg));
}

/// Allocates a request: the SenderHeader and the envelope in one node.
template <class T>
Envelope* make_request_envelope(T&& msg, Pid sender, std::uint64_t request_id) {
  using V = std::decay_t<T>;
  static_assert(alignof(V) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "over-aligned message types");
  static_assert(sizeof(SenderHeader) % __STDCPP_DEFAULT_NEW_ALIGNMENT__ == 0,
                "the envelope after the header keeps the allocation's alignment");
  constexpr std::size_t size = sizeof(SenderHeader) + sizeof(TypedEnvelope<V>);
  void* mem = ::operator new(size);
  auto* h = ::new (mem) SenderHeader{std::move(sender), request_id};
  try {
    Envelope* e = ::new (static_cast<void*>(h + 1)) TypedEnvelope<V>(std::forward<T>(msg));
    e->type = request_type_of<V>;
    // Hides from g++ that `e` is 16 bytes into an allocation: it cannot see
    // that free_node never frees such a node itself and would warn there.
    __asm__("" : "+r"(e));
    return e;
  } catch (...) {
    h->~SenderHeader();
    ::operator delete(mem, size);
    throw;
  }
}

/// A message type whose envelopes are resident: embedded in a longer-lived
/// object (an actor cell's stop signal) instead of allocated per send.
/// Queues link them like any other; their "free" calls `release` (if any)
/// instead of freeing memory (node_size 0). `release` lets a node that sits
/// in another object's queue hold a reference to its owner until that queue
/// lets go of it (a popped node stays the queue's stub until the next pop).
/// The payload-less envelope carries the meaning in its type.
inline constexpr MessageType resident_message_type(
    std::string_view name, void (*release)(Envelope*) noexcept = nullptr) noexcept {
  return MessageType{name, nullptr, 0, release};
}

namespace detail {
/// free_node for a request (out of line: cold, and g++'s bounds analysis
/// cannot see that the header precedes such a node).
void free_request_node(Envelope* e) noexcept;
}  // namespace detail

/// Frees a node whose payload has already been destroyed.
inline void free_node(Envelope* e) noexcept {
  // The node was allocated as a TypedEnvelope<V> whose payload destructor has
  // run (destroy_payload); the rest is trivially destructible, so releasing
  // the storage is all that is left. Sized delete: jemalloc skips a lookup.
  const MessageType* t = e->type;
  std::size_t size = t->node_size;
  if (size == 0) [[unlikely]] {  // resident: the storage is its owner's
    if (t->release != nullptr) t->release(e);
    return;
  }
  if (t->has_sender) [[unlikely]] {  // a request: its header starts the node
    detail::free_request_node(e);
    return;
  }
  ::operator delete(static_cast<void*>(e), size);
}

/// Destroys the payload and frees the node (for nodes no queue refers to).
/// Calls `f(e)` for each envelope of the chain `first` … `last` (linked
/// through `next`, oldest first), reading each link before `f` may take
/// `e` over (re-queue it, free it). The chain must be the calling
/// thread's: built by it (the outbox, Context::hold; a batch decoder) and
/// not yet published to any queue.
template <class F>
void for_each_in_chain(Envelope* first, Envelope* last, F&& f) {
  for (Envelope* e = first;;) {
    // relaxed: pairs with the relaxed stores that linked the chain, made
    // by this same thread before (program order); no other thread has it.
    Envelope* next = e == last ? nullptr : e->next.load(std::memory_order_relaxed);
    f(e);
    if (next == nullptr) return;
    e = next;
  }
}

inline void destroy_envelope(Envelope* e) noexcept {
  e->destroy_payload();
  free_node(e);
}

}  // namespace shoal
