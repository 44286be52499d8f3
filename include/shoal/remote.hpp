// shoal's remote layer: nodes that carry messages between processes over
// TCP (io_uring or epoll), Cap'n Proto frames, the registry of the message
// types that may cross. Needs <shoal/shoal.hpp>'s runtime and Cap'n Proto:
// link shoal::remote (CMake) or shoal-remote (pkg-config).
//
//   shoal::wire::TypeRegistry types;              // what may cross the wire
//   types.add<Add, schema::Add>("app.Add", write, read);
//   shoal::io::Node node(system, types, {.listen = "127.0.0.1:7000"});
//   shoal::Pid there = node.pid("127.0.0.1:7001", "counter");
//   system.send(there, Add{2});
#pragma once

#include "shoal/frame_limits.hpp"
#include "shoal/node.hpp"
#include "shoal/secret.hpp"
#include "shoal/shoal.hpp"
#include "shoal/type_registry.hpp"
