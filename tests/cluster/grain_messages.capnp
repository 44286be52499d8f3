# The grain messages of the cluster tests (tests/cluster/grain_test.cpp).
@0x83923321f3ca5cd3;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("shoal::cluster::test::msg");

struct Add {
  n @0 :Int64;
}

struct Get {}

struct Append {
  seq @0 :UInt64;
}

struct Count {
  value @0 :Int64;
  activation @1 :UInt64;
  identity @2 :Text;
  inOrder @3 :Bool;
  appended @4 :UInt64;
}

struct Quit {}
