// hello: the first program to read. An actor greets whoever it is told to,
// counts them, tells the main thread how many when asked, and is stopped.
//
// Shows: messages as plain structs; an actor with typed handlers
// (Handles<>); spawning it from Props with a constructor argument; send()
// from a thread that is no actor; a request whose answer type the message
// declares, waited for with request_future(...).result(); lifecycle
// messages (Started, Stopped); stop_future; a dead letter; shutdown().
//
// Exits 0 if the answer came and said 3, and the send to the stopped actor
// was counted as a dead letter.
#include <shoal/shoal.hpp>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <utility>

using namespace std::chrono_literals;

// -- messages ------------------------------------------------------------------
// Plain C++ types, moved into the receiver's mailbox: no base class, no
// serialization (until they cross to another node: see two_nodes).

struct Greet {
  std::string who;
};

/// The answer to HowMany.
struct Greeted {
  int count = 0;
};

/// A request that names the type of its answer: request_future infers
/// Future<Greeted> from it, and asking for any other type does not compile.
struct HowMany {
  using reply_type = Greeted;
};

// -- the actor -------------------------------------------------------------------

/// Handles<Self, T...> calls on(Context&, T&) for each listed type; anything
/// else becomes a dead letter. One message at a time, on one worker at a
/// time: `count` needs no lock and no atomic.
struct Greeter : shoal::Handles<Greeter, shoal::Started, Greet, HowMany, shoal::Stopped> {
  explicit Greeter(std::string greeting) : greeting(std::move(greeting)) {}

  // Started comes first, before any other message (listed, so we see it).
  void on(shoal::Context& ctx, shoal::Started&) {
    std::printf("greeter %" PRIu64 ": started\n", ctx.self().id());
  }
  void on(shoal::Context&, Greet& g) {
    std::printf("greeter: %s, %s!\n", greeting.c_str(), g.who.c_str());
    ++count;
  }
  // respond() answers the message being handled: it goes to the request's
  // sender, here the future main() waits on.
  void on(shoal::Context& ctx, HowMany&) { ctx.respond(Greeted{count}); }
  // Stopped is the last message an actor gets.
  void on(shoal::Context&, shoal::Stopped&) {
    std::printf("greeter: stopped after %d greetings\n", count);
  }

  std::string greeting;
  int count = 0;
};

int main() {
  // Two worker threads run every actor of this system.
  shoal::ActorSystem system({.scheduler = {.workers = 2}});

  // Props say how to make the actor (Greeter("Hello")); the system makes it
  // now, and again if its supervisor ever restarts it (see supervision).
  shoal::Pid greeter = system.spawn(shoal::Props::of<Greeter>(std::string("Hello")));

  // send() never blocks and works from any thread. Messages from one sender
  // to one actor arrive in the order they were sent.
  for (const char* who : {"world", "shoal", "newcomer"}) system.send(greeter, Greet{who});

  // A request carries its sender (the future) so the actor can answer it.
  // Sent after the greetings from this thread, it is handled after them.
  // result() blocks this thread (never do that inside an actor: see futures).
  shoal::Result<Greeted> answer = system.request_future(greeter, HowMany{}, 10s).result();
  if (!answer) {
    std::fprintf(stderr, "hello: no answer from the greeter: %s\n", answer.what().c_str());
    return 1;
  }
  std::printf("main: the greeter has greeted %d\n", answer.value().count);

  // Stop it and wait until it is gone: the future completes with the
  // actor's Terminated once it has handled Stopped.
  shoal::Result<shoal::Terminated> gone = system.stop_future(greeter, 10s).result();
  if (!gone) {
    std::fprintf(stderr, "hello: the greeter did not stop: %s\n", gone.what().c_str());
    return 1;
  }

  // The Pid is stale now: a send to it is refused and counted as a dead
  // letter, by reason (SystemConfig::on_dead_letter could watch them too).
  system.send(greeter, Greet{"nobody"});
  const std::uint64_t dead = system.dead_letters().count(shoal::DeadLetterReason::target_stopped);
  std::printf("main: %" PRIu64 " dead letter to the stopped greeter\n", dead);

  // Stops whatever actors are left and joins the workers (the destructor
  // would do it too). Not from inside an actor.
  system.shutdown();

  if (answer.value().count != 3 || dead != 1) {
    std::fprintf(stderr, "hello: expected 3 greetings and 1 dead letter\n");
    return 1;
  }
  std::printf("main: done\n");
  return 0;
}
