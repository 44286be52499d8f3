// Envelope: one heap node that is both the queue link and the message.
//
// A send allocates exactly one `TypedEnvelope<T>`; the mailbox queue links it
// through `next`, and the receiver reads the payload in place. The envelope's
// type is a pointer to a per-type constant (`MessageType`), so typed dispatch
// is a pointer comparison: no RTTI, no std::any, no std::function.
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

  /// Runs the payload's destructor; the node memory stays valid.
  void destroy_payload() noexcept {
    if (type->destroy != nullptr) type->destroy(this);
  }
};

/// An envelope carrying a `T` by value.
template <class T>
struct TypedEnvelope final : Envelope {
  T value;

  template <class... Args>
  explicit TypedEnvelope(Args&&... args) : value(std::forward<Args>(args)...) {
    type = &type_info;
  }

  static void destroy(Envelope* e) noexcept { static_cast<TypedEnvelope*>(e)->value.~T(); }
  static const MessageType type_info;
};

template <class T>
inline const MessageType TypedEnvelope<T>::type_info{
    detail::type_name<T>(),
    std::is_trivially_destructible_v<T> ? nullptr : &TypedEnvelope<T>::destroy,
    sizeof(TypedEnvelope<T>), nullptr, std::is_base_of_v<NotInfluenceReceiveTimeout, T>};

template <class T>
inline constexpr const MessageType* message_type_of = &TypedEnvelope<T>::type_info;

template <class T>
T* Envelope::get() noexcept {
  return type == message_type_of<T> ? &static_cast<TypedEnvelope<T>*>(this)->value : nullptr;
}

template <class T>
bool Envelope::is() const noexcept {
  return type == message_type_of<T>;
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

/// Frees a node whose payload has already been destroyed.
inline void free_node(Envelope* e) noexcept {
  // The node was allocated as a TypedEnvelope<V> whose payload destructor has
  // run (destroy_payload); the rest is trivially destructible, so releasing
  // the storage is all that is left. Sized delete: jemalloc skips a lookup.
  std::size_t size = e->type->node_size;
  if (size == 0) [[unlikely]] {  // resident: the storage is its owner's
    if (e->type->release != nullptr) e->type->release(e);
    return;
  }
  ::operator delete(static_cast<void*>(e), size);
}

/// Destroys the payload and frees the node (for nodes no queue refers to).
inline void destroy_envelope(Envelope* e) noexcept {
  e->destroy_payload();
  free_node(e);
}

}  // namespace shoal
