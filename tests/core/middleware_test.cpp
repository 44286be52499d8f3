// Middleware: receiver chains (system outside the actor's own, in order;
// swallow, replace, fail), sender chains (send, request and respond of an
// actor; drop), and spawn middleware (every kind of spawn; refusing one).
// Deterministic mode: the order of what the chains see is exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/runtime_fixture.hpp"

namespace shoal {
namespace {

using namespace std::chrono_literals;

using test::Trail;

struct Msg {
  int n = 0;
};
struct Secret {};
struct Boom {};
struct Forward {
  Pid to;
  int n;
};
struct Q {};
struct A {
  int n;
};

struct Target : Handles<Target, Started, Msg, Secret, Boom, Forward, Q> {
  explicit Target(std::shared_ptr<Trail> t) : trail(std::move(t)) {}
  void on(Context&, Started&) { trail->add("actor:started"); }
  void on(Context&, Msg& m) { trail->add(test::cat("actor:msg:", m.n)); }
  void on(Context&, Secret&) { trail->add("actor:secret"); }
  void on(Context&, Boom&) { throw std::runtime_error("boom"); }
  void on(Context& ctx, Forward& f) { ctx.send(f.to, Msg{f.n}); }
  void on(Context& ctx, Q&) { ctx.respond(A{42}); }
  std::shared_ptr<Trail> trail;
};

ReceiverMiddleware tag(std::shared_ptr<Trail> trail, std::string name) {
  return [trail, name](Context& ctx, Envelope& msg, ReceiveNext next) {
    trail->add(name + ":in:" + std::string(msg.type->name));
    next(ctx, msg);
    trail->add(name + ":out");
  };
}

std::unique_ptr<ActorSystem> det(SystemConfig c = {}) {
  c.scheduler.deterministic = true;
  c.scheduler.seed = 3;
  return std::make_unique<ActorSystem>(std::move(c));
}


TEST(ReceiverMiddleware, SystemChainWrapsTheActorsOwnInOrder) {
  auto trail = std::make_shared<Trail>();
  SystemConfig c;
  c.receiver_middleware = {tag(trail, "sys1"), tag(trail, "sys2")};
  auto system = det(std::move(c));
  Pid t = system->spawn(Props::of<Target>(trail).with_receiver_middleware(tag(trail, "own")));
  system->send(t, Msg{1});
  system->run_until_idle();
  const std::string msg(detail::type_name<Msg>());
  const std::string started(detail::type_name<Started>());
  EXPECT_EQ(trail->all(),
            (std::vector<std::string>{
                "sys1:in:" + started, "sys2:in:" + started, "own:in:" + started, "actor:started",
                "own:out", "sys2:out", "sys1:out", "sys1:in:" + msg, "sys2:in:" + msg,
                "own:in:" + msg, "actor:msg:1", "own:out", "sys2:out", "sys1:out"}));
}

/// Handles no lifecycle message: spawned without a first run, were it not
/// for middleware that must see Started too.
struct Quiet : Handles<Quiet, Msg> {
  explicit Quiet(std::shared_ptr<Trail> t) : trail(std::move(t)) {}
  void on(Context&, Msg& m) { trail->add("actor:msg:" + std::to_string(m.n)); }
  std::shared_ptr<Trail> trail;
};

TEST(ReceiverMiddleware, SeesStartedOfAnActorThatDoesNotHandleIt) {
  // The actor's own chain (Props), and the system's around an actor spawned
  // without Props (spawn<A>(), the inline cell): both see Started first, as
  // a middleware that arms a receive timeout at Started relies on.
  const std::string msg(detail::type_name<Msg>());
  const std::string started(detail::type_name<Started>());
  {
    auto trail = std::make_shared<Trail>();
    auto system = det();
    Pid q = system->spawn(Props::of<Quiet>(trail).with_receiver_middleware(tag(trail, "own")));
    system->send(q, Msg{1});
    system->run_until_idle();
    EXPECT_EQ(trail->all(), (std::vector<std::string>{"own:in:" + started, "own:out",
                                                      "own:in:" + msg, "actor:msg:1", "own:out"}));
  }
  {
    auto trail = std::make_shared<Trail>();
    SystemConfig c;
    c.receiver_middleware = {tag(trail, "sys")};
    auto system = det(std::move(c));
    Pid q = system->spawn<Quiet>(trail);
    system->send(q, Msg{2});
    system->run_until_idle();
    EXPECT_EQ(trail->all(), (std::vector<std::string>{"sys:in:" + started, "sys:out",
                                                      "sys:in:" + msg, "actor:msg:2", "sys:out"}));
  }
}

TEST(ReceiverMiddleware, CanSwallowOrReplaceAMessage) {
  auto trail = std::make_shared<Trail>();
  auto filter = [](Context& ctx, Envelope& msg, ReceiveNext next) {
    if (msg.is<Secret>()) return;  // swallowed: the actor never sees it
    if (Msg* m = msg.get<Msg>()) {
      TypedEnvelope<Msg> doubled(Msg{m->n * 2});
      next(ctx, doubled);  // replaced
      return;
    }
    next(ctx, msg);
  };
  auto system = det();
  Pid t = system->spawn(Props::of<Target>(trail).with_receiver_middleware(filter));
  system->send(t, Secret{});
  system->send(t, Msg{21});
  system->run_until_idle();
  EXPECT_EQ(trail->all(), (std::vector<std::string>{"actor:started", "actor:msg:42"}));
}

TEST(ReceiverMiddleware, AThrowIsTheActorsFailure) {
  auto trail = std::make_shared<Trail>();
  test::FailureLog failures;
  auto system = det({.on_failure = failures.observer()});
  auto thrower = [](Context& ctx, Envelope& msg, ReceiveNext next) {
    if (msg.is<Secret>()) throw std::runtime_error("middleware says no");
    next(ctx, msg);
  };
  Pid t = system->spawn(Props::of<Target>(trail).with_receiver_middleware(thrower));
  system->send(t, Secret{});
  system->send(t, Msg{1});
  system->run_until_idle();
  ASSERT_EQ(failures.failures().size(), 1u);
  EXPECT_EQ(failures.failures()[0].what, "middleware says no");
  EXPECT_EQ(trail->all(), (std::vector<std::string>{"actor:started", "actor:started", "actor:msg:1"}))
      << "restarted, then went on";
}

TEST(SenderMiddleware, SeesAnActorsSendsRequestsAndAnswersAndMayDropThem) {
  auto trail = std::make_shared<Trail>();
  auto spy = [trail](Context& sender, const Pid& target, Envelope* msg, SendNext next) {
    trail->add(test::cat("send:", sender.self().id(), "->", target.id(), ":", msg->type->name,
                         msg->sender_header() != nullptr ? ":request" : ""));
    if (msg->is<Msg>() && msg->get<Msg>()->n < 0) {
      destroy_envelope(msg);  // dropped
      return;
    }
    next(sender, target, msg);
  };
  auto system = det();
  Pid sink = system->spawn<Target>(trail);
  Pid t = system->spawn(Props::of<Target>(trail).with_sender_middleware(spy));
  system->run_until_idle();
  trail->clear();
  system->send(t, Forward{sink, 5});
  system->send(t, Forward{sink, -1});
  auto answer = system->request_future<A>(t, Q{}, 1h);
  system->run_until_idle();
  EXPECT_EQ(answer.get().n, 42) << "respond went through the chain with its request intact";
  auto all = trail->all();
  const std::string msg(detail::type_name<Msg>());
  const std::string a(detail::type_name<A>());
  const std::string forward = test::cat("send:", t.id(), "->", sink.id(), ":", msg);
  // The deterministic mode picks which runnable actor runs next by seed:
  // what each saw is fixed, how the two interleave is not.
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(std::count(all.begin(), all.end(), forward), 2) << "both sends, the dropped one too";
  EXPECT_EQ(std::count(all.begin(), all.end(), "actor:msg:5"), 1);
  EXPECT_EQ(std::count(all.begin(), all.end(),
                       test::cat("send:", t.id(), "->", answer.pid().id(), ":", a, ":request")),
            1);
  EXPECT_EQ(std::count(all.begin(), all.end(), "actor:msg:-1"), 0);
}

TEST(SpawnMiddleware, SeesEverySpawnAndMayRefuse) {
  auto trail = std::make_shared<Trail>();
  SystemConfig c;
  c.spawn_middleware = {[trail](const SpawnInfo& info, SpawnNext next) -> Pid {
    if (info.name == "forbidden") return Pid();  // refused: next() not called
    Pid p = next();
    trail->add(test::cat("spawned:", p.id() != 0, ":parent:", info.parent.id(),
                         ":name:", info.name, ":props:", info.props != nullptr));
    return p;
  }};
  auto system = det(std::move(c));
  Pid a = system->spawn<Target>(trail);
  Pid b = system->spawn(Props::of<Target>(trail));
  SpawnResult named = system->spawn_named(Props::of<Target>(trail), "n");
  SpawnResult refused = system->spawn_named(Props::of<Target>(trail), "forbidden");
  EXPECT_TRUE(named);
  EXPECT_EQ(refused.error, SpawnErrc::refused);
  EXPECT_TRUE(system->lookup("forbidden").empty());
  auto all = trail->all();
  EXPECT_EQ(all, (std::vector<std::string>{"spawned:1:parent:0:name::props:0",
                                           "spawned:1:parent:0:name::props:1",
                                           "spawned:1:parent:0:name:n:props:1"}));
  (void)a;
  (void)b;
}

struct Parent : Handles<Parent, Msg> {
  explicit Parent(std::shared_ptr<Trail> t) : trail(std::move(t)) {}
  void on(Context& ctx, Msg&) {
    ctx.spawn<Target>(trail);
    ctx.spawn_named(Props::of<Target>(trail), "kid");
  }
  std::shared_ptr<Trail> trail;
};

TEST(SpawnMiddleware, SeesChildrenWithTheirParent) {
  auto trail = std::make_shared<Trail>();
  auto spawns = std::make_shared<Trail>();
  SystemConfig c;
  c.spawn_middleware = {[spawns](const SpawnInfo& info, SpawnNext next) {
    spawns->add(test::cat("parent:", info.parent.id(), ":name:", info.name));
    return next();
  }};
  auto system = det(std::move(c));
  Pid p = system->spawn<Parent>(trail);
  system->send(p, Msg{});
  system->run_until_idle();
  EXPECT_EQ(spawns->all(),
            (std::vector<std::string>{"parent:0:name:", test::cat("parent:", p.id(), ":name:"),
                                      test::cat("parent:", p.id(), ":name:kid")}));
}

TEST(Middleware, ThreadedChainsSeeEveryMessage) {
  std::atomic<int> seen{0}, sent{0};
  SystemConfig c;
  c.scheduler.workers = 2;
  c.receiver_middleware = {[&](Context& ctx, Envelope& msg, ReceiveNext next) {
    seen.fetch_add(1);
    next(ctx, msg);
  }};
  c.sender_middleware = {[&](Context& s, const Pid& to, Envelope* m, SendNext next) {
    sent.fetch_add(1);
    next(s, to, m);
  }};
  auto trail = std::make_shared<Trail>();
  {
    ActorSystem system(std::move(c));
    Pid sink = system.spawn<Target>(trail);
    Pid fwd = system.spawn<Target>(trail);
    for (int i = 0; i < 1000; ++i) system.send(fwd, Forward{sink, i});
    ASSERT_TRUE(test::eventually([&] { return trail->all().size() == 1002; }, "every message"));
    system.shutdown();
  }
  EXPECT_EQ(sent.load(), 1000);
  EXPECT_EQ(seen.load(), 2 + 1000 + 1000 + 2 + 2)
      << "2 Started, 1000 Forward, 1000 Msg, then 2 Stopping and 2 Stopped at shutdown";
}

}  // namespace
}  // namespace shoal
