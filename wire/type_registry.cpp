#include "shoal/type_registry.hpp"

#include <stdexcept>

#include "shoal/lifecycle.hpp"
#include "wire/frame_codec.hpp"

namespace shoal::wire {

TypeRegistry::TypeRegistry() {
  add<PoisonPill, schema::Empty>(
      "shoal.PoisonPill", [](const PoisonPill&, schema::Empty::Builder) {},
      [](schema::Empty::Reader) { return PoisonPill{}; });
  add<Identify, schema::Empty>(
      "shoal.Identify", [](const Identify&, schema::Empty::Builder) {},
      [](schema::Empty::Reader) { return Identify{}; });
  add<ActorIdentity, schema::ActorIdentity>(
      "shoal.ActorIdentity",
      [](const ActorIdentity& a, schema::ActorIdentity::Builder b) { b.setId(a.id); },
      [](schema::ActorIdentity::Reader r) { return ActorIdentity{r.getId()}; });
}

void TypeRegistry::insert(std::unique_ptr<TypeCodec> codec) {
  std::string_view name = codec->name();
  if (name.empty() || name.size() > max_name_bytes) {
    throw std::invalid_argument("shoal: a wire type name must have 1 to " +
                                std::to_string(max_name_bytes) + " bytes, got " +
                                std::to_string(name.size()));
  }
  if (by_name_.count(name) != 0) {
    throw std::invalid_argument("shoal: wire type name '" + std::string(name) +
                                "' is registered already");
  }
  if (by_type_.count(codec->type()) != 0) {
    throw std::invalid_argument("shoal: " + std::string(codec->type()->name) +
                                " is registered already, as '" +
                                std::string(by_type_.at(codec->type())->name()) + "'");
  }
  const TypeCodec* raw = codec.get();
  by_name_.emplace(std::string(name), std::move(codec));
  by_type_.emplace(raw->type(), raw);
}

}  // namespace shoal::wire
