// TypeRegistry: which C++ message types may cross the wire, under which
// stable names, and how each is written to and read from its Cap'n Proto
// struct.
//
// One registry per remote node (no singleton, no static registration): the
// application registers its types before the node starts, and from then on
// the registry is only read, from any thread, without locks.
//
//   wire::TypeRegistry types;
//   types.add<Ping, schema::Ping>("app.Ping",
//       [](const Ping& m, schema::Ping::Builder b) { b.setCount(m.count); },
//       [](schema::Ping::Reader r) { return Ping{r.getCount()}; });
//
// The name is the type's identity on the wire, so it must stay the same
// across builds and releases (the C++ name would not: namespaces move,
// compilers spell templates differently). A type the peer does not know is
// an error for that one message (a dead letter there), never for the
// connection.
//
// Built in (every registry has them; names under "shoal."): PoisonPill, as
// "shoal.PoisonPill", so `system.poison(remote)` works as locally;
// Identify and ActorIdentity ("shoal.Identify", "shoal.ActorIdentity"),
// which a node answers itself for any of its actors (io::Node::identify). The
// runtime's other messages cross as control frames (watch, Terminated,
// stop, a request's DeadLetterResponse as an Undeliverable).
#pragma once

#include <capnp/any.h>
#include <capnp/orphan.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "shoal/envelope.hpp"

namespace shoal::wire {

/// Asks a node whether a named actor exists (io::Node::identify): the
/// node answers for it with an ActorIdentity; a name with no actor fails
/// the request (an Undeliverable, unknown target).
struct Identify {};
struct ActorIdentity {
  std::uint64_t id = 0;  ///< the actor's id on its node
};

/// How one registered type crosses the wire. Made by TypeRegistry::add.
/// Immutable after construction; thread-safe.
class TypeCodec {
 public:
  virtual ~TypeCodec() = default;

  /// The stable wire name.
  std::string_view name() const noexcept { return name_; }
  /// The core type (its plain, sender-less MessageType).
  const MessageType* type() const noexcept { return type_; }

  /// Writes the payload of `e` (which holds this codec's type) as a new
  /// struct in the orphanage's message. Allocates in that message; throws
  /// whatever the user's encoder throws.
  virtual capnp::Orphan<capnp::AnyPointer> encode(const Envelope& e,
                                                  capnp::Orphanage orphanage) const = 0;
  /// Reads a payload into a new envelope (owned by the caller): a request
  /// envelope carrying `sender` and `request_id` when `sender` is not empty.
  /// Throws kj::Exception for a malformed payload and whatever the user's
  /// decoder throws.
  virtual Envelope* decode(capnp::AnyPointer::Reader payload, Pid sender,
                           std::uint64_t request_id) const = 0;

 protected:
  TypeCodec(std::string name, const MessageType* type) : name_(std::move(name)), type_(type) {}

 private:
  std::string name_;
  const MessageType* type_;
};

class TypeRegistry {
 public:
  /// A registry with the built-in types only.
  TypeRegistry();
  /// How many of size() are built in.
  static constexpr std::size_t builtin_types = 3;
  TypeRegistry(const TypeRegistry&) = delete;
  TypeRegistry& operator=(const TypeRegistry&) = delete;

  /// Registers `T` under `name`, written as the Cap'n Proto struct `Schema`.
  /// `encode(const T&, typename Schema::Builder)` fills the struct;
  /// `decode(typename Schema::Reader)` returns a `T`. Both may be stateful
  /// callables; they are called from io threads, concurrently.
  /// Throws std::invalid_argument for an empty or over-long name, or a name
  /// or a type registered already. Not thread-safe: register before use.
  template <class T, class Schema, class Encode, class Decode>
  void add(std::string name, Encode encode, Decode decode);

  /// The codec of a message type (plain or request flavour); null if the
  /// type is not registered. Thread-safe once registration is over.
  const TypeCodec* find(const MessageType* type) const noexcept {
    auto it = by_type_.find(type->base());
    return it == by_type_.end() ? nullptr : it->second;
  }
  template <class T>
  const TypeCodec* find() const noexcept {
    return find(message_type_of<T>);
  }
  /// The codec registered under a wire name; null if none.
  const TypeCodec* find(std::string_view name) const noexcept {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second.get();
  }
  /// The codec of the type the runtime names `runtime_name` (its
  /// MessageType::name, as a DeadLetterResponse quotes it); null if none.
  /// Linear: for rare paths only.
  const TypeCodec* find_by_type_name(std::string_view runtime_name) const noexcept {
    for (const auto& [type, codec] : by_type_) {
      if (type->name == runtime_name) return codec;
    }
    return nullptr;
  }
  /// Every registered type, the built-in ones included.
  std::size_t size() const noexcept { return by_name_.size(); }

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  void insert(std::unique_ptr<TypeCodec> codec);

  std::unordered_map<std::string, std::unique_ptr<TypeCodec>, NameHash, std::equal_to<>> by_name_;
  std::unordered_map<const MessageType*, const TypeCodec*> by_type_;
};

// -- internals --

namespace detail {

template <class T, class Schema, class Encode, class Decode>
class TypedCodec final : public TypeCodec {
 public:
  TypedCodec(std::string name, Encode encode, Decode decode)
      : TypeCodec(std::move(name), message_type_of<T>),
        encode_(std::move(encode)),
        decode_(std::move(decode)) {}

  capnp::Orphan<capnp::AnyPointer> encode(const Envelope& e,
                                          capnp::Orphanage orphanage) const override {
    auto orphan = orphanage.newOrphan<Schema>();
    const auto& typed = static_cast<const TypedEnvelope<T>&>(e);
    encode_(typed.value, orphan.get());
    return capnp::Orphan<capnp::AnyPointer>(kj::mv(orphan));
  }

  Envelope* decode(capnp::AnyPointer::Reader payload, Pid sender,
                   std::uint64_t request_id) const override {
    T value = decode_(payload.getAs<Schema>());
    if (sender.empty()) return make_envelope(std::move(value));
    return make_request_envelope(std::move(value), std::move(sender), request_id);
  }

 private:
  Encode encode_;
  Decode decode_;
};

}  // namespace detail

template <class T, class Schema, class Encode, class Decode>
void TypeRegistry::add(std::string name, Encode encode, Decode decode) {
  static_assert(std::is_same_v<T, std::decay_t<T>>, "register the plain message type");
  static_assert(std::is_invocable_v<const Encode&, const T&, typename Schema::Builder>,
                "encode must be callable as encode(const T&, Schema::Builder)");
  static_assert(
      std::is_convertible_v<std::invoke_result_t<const Decode&, typename Schema::Reader>, T>,
      "decode must be callable as decode(Schema::Reader) and return a T");
  insert(std::make_unique<detail::TypedCodec<T, Schema, Encode, Decode>>(
      std::move(name), std::move(encode), std::move(decode)));
}

}  // namespace shoal::wire
