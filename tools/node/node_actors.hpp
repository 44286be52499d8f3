// The actors a shoal-node process runs, and the message types they speak:
// the remote benchmarks (bench/workloads/shoal_remote.cpp) and the
// two-process tests (tests/io/two_process_test.cpp) talk to them.
//
//   "echo"  answers Probe{v} with Probe{v} (to the request's sender)
//   "sink"  takes a stream of Item{from, seq}; checks each sender's order;
//           answers Ack{count} to the sender every `ack_every` items
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "shoal/actor_system.hpp"
#include "shoal/type_registry.hpp"

namespace shoal::node {

struct Item {
  std::uint32_t from = 0;
  std::uint64_t seq = 0;
};
struct Ack {
  std::uint64_t count = 0;
  std::uint64_t out_of_order = 0;
};
struct Probe {
  std::uint64_t value = 0;
};

/// Registers Item, Ack and Probe (wire names "shoal.node.*").
void register_node_types(wire::TypeRegistry& types);

/// Items a sink takes from one sender between two Acks.
inline constexpr std::uint64_t ack_every = 1000;

struct Echo : Handles<Echo, Probe> {
  void on(Context& ctx, Probe& p) { ctx.respond(Probe{p.value}); }
};

struct Sink : Handles<Sink, Item> {
  void on(Context& ctx, Item& item);
  struct From {
    std::uint64_t next = 0;
    std::uint64_t count = 0;
    std::uint64_t out_of_order = 0;
  };
  std::unordered_map<std::uint32_t, From> from;
};

/// Spawns "echo" and "sink" in `system`.
void spawn_node_actors(ActorSystem& system);

}  // namespace shoal::node
