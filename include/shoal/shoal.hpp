// shoal: everything a program needs to run actors on one machine.
//
//   #include <shoal/shoal.hpp>
//
//   struct Greet { std::string who; };
//   struct Greeter : shoal::Handles<Greeter, Greet> {
//     void on(shoal::Context&, Greet& g) { std::printf("hello, %s\n", g.who.c_str()); }
//   };
//
//   int main() {
//     shoal::ActorSystem system;
//     system.send(system.spawn<Greeter>(), Greet{"world"});
//     system.shutdown();
//   }
//
// The headers below may be included alone. Nodes and the wire are in
// <shoal/remote.hpp>. What is under shoal/detail/ and in namespace
// shoal::detail is the runtime's, not API: it may change in any release.
#pragma once

#include "shoal/actor.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/behavior.hpp"
#include "shoal/completion_queue.hpp"
#include "shoal/context.hpp"
#include "shoal/dead_letters.hpp"
#include "shoal/envelope.hpp"
#include "shoal/event_stream.hpp"
#include "shoal/future.hpp"
#include "shoal/guest_runner.hpp"
#include "shoal/handles.hpp"
#include "shoal/histogram.hpp"
#include "shoal/lifecycle.hpp"
#include "shoal/log.hpp"
#include "shoal/mailbox_config.hpp"
#include "shoal/middleware.hpp"
#include "shoal/pid.hpp"
#include "shoal/props.hpp"
#include "shoal/scheduler_config.hpp"
#include "shoal/stats.hpp"
#include "shoal/supervision.hpp"
#include "shoal/timers.hpp"
#include "shoal/trace.hpp"
#include "shoal/version.hpp"
