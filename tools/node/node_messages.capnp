# Messages of the remote benchmarks and the two-process tests, and of the
# actors shoal-node runs (node_actors.hpp).
@0xb0bd8e4bb16ade10;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("shoal::node::msg");

# One item of a stream, numbered per sender.
struct Item {
  from @0 :UInt32;
  seq @1 :UInt64;
}

# The sink has received `count` items from this sender so far.
struct Ack {
  count @0 :UInt64;
  outOfOrder @1 :UInt64;  # items from this sender that broke its order
}

# A round trip: the echo answers with the same value.
struct Probe {
  value @0 :UInt64;
}
