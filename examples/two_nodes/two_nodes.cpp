// two_nodes: actors on two nodes talking over TCP. Both nodes live in this
// one process for the example's sake, on 127.0.0.1 with ports the kernel
// picks; across two processes or machines the code is the same, with the
// other node's "host:port" in place of node_b.address().
//
// Node B runs a counter, spawned under the name "counter". A client actor
// on node A adds to it and asks it for the total (an actor-to-actor request:
// the answer comes back as an ordinary message). Then main, on node A, asks
// the counter too (a request future across the wire).
//
// Shows: a Cap'n Proto schema for the messages that cross
// (messages.capnp), wire::TypeRegistry, io::Node and NodeConfig, Node::pid
// for a named actor on another node, send / request / respond and
// request_future across nodes, DeadLetterResponse, and the order of
// destruction (nodes before their systems).
//
// Exits 0 if both totals came back right.
#include <shoal/remote.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <string>
#include <utility>

#include "messages.capnp.h"  // generated from messages.capnp (examples/meson.build)

using namespace std::chrono_literals;

namespace two_nodes {

// -- messages: C++ types, and how each crosses the wire --------------------------

struct Add {
  std::int64_t by = 0;
};
struct Total {
  std::int64_t value = 0;
};
struct Get {
  using reply_type = Total;
};

/// Every node that sends or receives these registers them, under names that
/// stay the same across builds: the name is the type's identity on the wire.
void register_types(shoal::wire::TypeRegistry& types) {
  types.add<Add, schema::Add>(
      "two_nodes.Add", [](const Add& m, schema::Add::Builder b) { b.setBy(m.by); },
      [](schema::Add::Reader r) { return Add{r.getBy()}; });
  types.add<Get, schema::Get>(
      "two_nodes.Get", [](const Get&, schema::Get::Builder) {},
      [](schema::Get::Reader) { return Get{}; });
  types.add<Total, schema::Total>(
      "two_nodes.Total", [](const Total& m, schema::Total::Builder b) { b.setValue(m.value); },
      [](schema::Total::Reader r) { return Total{r.getValue()}; });
}

// -- the actors ----------------------------------------------------------------

/// On node B. It does not know or care where its messages come from.
struct Counter : shoal::Handles<Counter, Add, Get> {
  void on(shoal::Context&, Add& a) {
    total += a.by;
    std::printf("node B: counter += %lld\n", static_cast<long long>(a.by));
  }
  void on(shoal::Context& ctx, Get&) { ctx.respond(Total{total}); }
  std::int64_t total = 0;
};

/// On node A: adds 2 and 3 to the remote counter, then asks for the total.
/// Messages from one sender to one actor arrive in order, across nodes
/// too, so the Get comes after both Adds.
struct Client : shoal::Handles<Client, shoal::Started, Total, shoal::DeadLetterResponse> {
  Client(shoal::Pid counter, std::promise<std::int64_t>* result)
      : counter(std::move(counter)), result(result) {}

  void on(shoal::Context& ctx, shoal::Started&) {
    ctx.send(counter, Add{2});
    ctx.send(counter, Add{3});
    ctx.request(counter, Get{});  // the answer comes to this actor, as a Total
  }
  void on(shoal::Context&, Total& t) {
    std::printf("node A: the client heard the total: %lld\n", static_cast<long long>(t.value));
    result->set_value(t.value);
  }
  // A request that cannot be delivered (no such actor there, the node
  // unreachable, ...) comes back as a DeadLetterResponse.
  void on(shoal::Context&, shoal::DeadLetterResponse& d) {
    std::fprintf(stderr, "node A: the request was not delivered (%s)\n",
                 std::string(shoal::to_string(d.reason)).c_str());
    result->set_value(-1);
  }

  shoal::Pid counter;
  std::promise<std::int64_t>* result;  // borrowed: main's, which outlives the systems
};

}  // namespace two_nodes

int main() {
  using namespace two_nodes;
  std::promise<std::int64_t> client_total;  // first: outlives the actor that sets it

  // Each node: an actor system, the registry of the types that may cross,
  // and the Node that makes the system reachable. A Node must be destroyed
  // before its system (and its registry), so it is declared after them.
  shoal::ActorSystem system_a({.scheduler = {.workers = 1}});
  shoal::ActorSystem system_b({.scheduler = {.workers = 1}});
  shoal::wire::TypeRegistry types_a, types_b;
  register_types(types_a);
  register_types(types_b);
  // Port 0: the kernel picks a free port; address() says which.
  shoal::io::Node node_a(system_a, types_a, {.listen = "127.0.0.1:0"});
  shoal::io::Node node_b(system_b, types_b, {.listen = "127.0.0.1:0"});
  std::printf("node A at %s, node B at %s\n", node_a.address().c_str(), node_b.address().c_str());

  // On B, a counter that other nodes find by its name.
  if (!system_b.spawn_named(shoal::Props::of<Counter>(), "counter")) {
    std::fprintf(stderr, "two_nodes: could not spawn the counter\n");
    return 1;
  }

  // On A, a Pid for it: sending through it connects to B on first use.
  shoal::Pid counter = node_a.pid(node_b.address(), "counter");
  system_a.spawn(shoal::Props::of<Client>(counter, &client_total));

  std::future<std::int64_t> heard = client_total.get_future();
  if (heard.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "two_nodes: the client heard nothing from node B\n");
    return 1;
  }
  const std::int64_t first = heard.get();

  // From main, a thread of node A that is no actor: a send, then a request
  // future across the wire (the Get declares its answer: Future<Total>).
  system_a.send(counter, Add{10});
  shoal::Result<Total> second = system_a.request_future(counter, Get{}, 30s).result();
  if (!second) {
    std::fprintf(stderr, "two_nodes: main's request failed: %s\n", second.what().c_str());
    return 1;
  }
  std::printf("node A: main asked too: %lld\n", static_cast<long long>(second.value().value));
  std::printf("node A: %llu messages sent to node B\n",
              static_cast<unsigned long long>(node_a.stats().messages_sent));

  if (first != 5 || second.value().value != 15) {
    std::fprintf(stderr, "two_nodes: expected totals 5 and 15\n");
    return 1;
  }
  return 0;  // nodes go first (saying goodbye to each other), then the systems
}
