# What members of a cluster say to each other (cluster/cluster.cpp), beside
# the users' own grain messages: a caller asks the owner of a grain to
# activate it, the owner answers with the name of the activation (a remote
# Pid is a node's address and an actor's name: io::Node::pid).
@0xd68c83f963d014e5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("shoal::cluster::schema");

struct Activate {
  kind @0 :Text;
  identity @1 :Text;
  # The topology epoch the caller placed the grain in.
  epoch @2 :UInt64;
}

struct Activated {
  ok @0 :Bool;
  # The activation's actor name on the owner, when ok.
  name @1 :Text;
  # Why not, when not ok.
  reason @2 :Text;
  # The owner's view's epoch when it answered.
  epoch @3 :UInt64;
}
