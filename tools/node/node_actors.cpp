#include "tools/node/node_actors.hpp"

#include <stdexcept>

#include "tools/node/node_messages.capnp.h"

namespace shoal::node {

void register_node_types(wire::TypeRegistry& types) {
  types.add<Item, msg::Item>(
      "shoal.node.Item",
      [](const Item& m, msg::Item::Builder b) {
        b.setFrom(m.from);
        b.setSeq(m.seq);
      },
      [](msg::Item::Reader r) { return Item{r.getFrom(), r.getSeq()}; });
  types.add<Ack, msg::Ack>(
      "shoal.node.Ack",
      [](const Ack& m, msg::Ack::Builder b) {
        b.setCount(m.count);
        b.setOutOfOrder(m.out_of_order);
      },
      [](msg::Ack::Reader r) { return Ack{r.getCount(), r.getOutOfOrder()}; });
  types.add<Probe, msg::Probe>(
      "shoal.node.Probe", [](const Probe& m, msg::Probe::Builder b) { b.setValue(m.value); },
      [](msg::Probe::Reader r) { return Probe{r.getValue()}; });
}

void Sink::on(Context& ctx, Item& item) {
  From& f = from[item.from];
  if (item.seq != f.next) ++f.out_of_order;
  f.next = item.seq + 1;
  if (++f.count % ack_every == 0) ctx.respond(Ack{f.count, f.out_of_order});
}

void spawn_node_actors(ActorSystem& system) {
  if (!system.spawn_named(Props::of<Echo>(), "echo")) throw std::runtime_error("echo: name taken");
  if (!system.spawn_named(Props::of<Sink>(), "sink")) throw std::runtime_error("sink: name taken");
}

}  // namespace shoal::node
