# Message schemas the wire tests register (tests/wire/wire_kit.hpp).
@0xc21b6b9a420bab36;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("shoal::wire::test::msg");

struct Ping {
  count @0 :UInt64;
}

struct Note {
  text @0 :Text;
  tags @1 :List(Text);
}

# Recursive, so a frame can nest as deep as it likes.
struct Chain {
  depth @0 :UInt32;
  next @1 :Chain;
}

# From one of many senders, numbered per sender (io ordering tests).
struct Tagged {
  from @0 :UInt32;
  seq @1 :UInt64;
}
