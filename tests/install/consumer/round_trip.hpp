// The round trip every consumer in tests/install/ runs: spawn an actor, ask
// it with a request future, check the answer. Only the public header: what
// compiles here is what an installed shoal promises its users.
#pragma once

#include <shoal/shoal.hpp>

#include <chrono>
#include <cstdio>
#include <exception>

namespace install_test {

struct Pong {
  int n = 0;
};
struct Ping {
  using reply_type = Pong;  // request_future infers Future<Pong>
  int n = 0;
};

/// Answers Ping{n} with Pong{n + 1}.
struct Echo : shoal::Handles<Echo, Ping> {
  void on(shoal::Context& ctx, Ping& p) { ctx.respond(Pong{p.n + 1}); }
};

/// Prints the answer and "ok" and returns 0 if Echo answers 41 with 42;
/// else says why on stderr and returns 1. Never throws: the plug-in calls
/// it across an extern "C" boundary.
inline int round_trip() noexcept {
  try {
    shoal::ActorSystem system({.scheduler = {.workers = 1}});
    shoal::Pid echo = system.spawn<Echo>();
    shoal::Result<Pong> answer =
        system.request_future(echo, Ping{41}, std::chrono::seconds(5)).result();
    if (!answer) {
      std::fprintf(stderr, "install test: no answer: %s\n", answer.what().c_str());
      return 1;
    }
    std::printf("answer %d\n", answer.value().n);
    if (answer.value().n != 42) {
      std::fprintf(stderr, "install test: expected 42\n");
      return 1;
    }
    std::printf("ok\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "install test: %s\n", e.what());
    return 1;
  }
}

}  // namespace install_test
