# The messages of the two_nodes example that cross between nodes, as Cap'n
# Proto structs; two_nodes.cpp maps a C++ message type to each
# (wire::TypeRegistry::add). Field numbers, not names, are what the wire
# keeps: add fields at the end, never renumber.
@0xbb2d7117beb13dc9;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("two_nodes::schema");

struct Add {
  by @0 :Int64;
}

struct Get {}

struct Total {
  value @0 :Int64;
}
