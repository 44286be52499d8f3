// EventStream: delivery by type, unsubscribe, re-entrant subscribers, a
// throwing subscriber; and what an ActorSystem publishes on it (dead letters,
// failures, supervision directives), to callbacks and to actors.
#include "shoal/event_stream.hpp"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/lifecycle_kit.hpp"

namespace shoal {
namespace {

struct Alpha {
  int n;
};
struct Beta {
  std::string s;
};

TEST(EventStream, SubscribersGetTheirTypeOnly) {
  EventStream stream;
  std::vector<int> alphas;
  std::vector<std::string> betas;
  stream.subscribe<Alpha>([&](const Alpha& a) { alphas.push_back(a.n); });
  stream.subscribe<Beta>([&](const Beta& b) { betas.push_back(b.s); });
  stream.publish(Alpha{1});
  stream.publish(Beta{"x"});
  stream.publish(Alpha{2});
  EXPECT_EQ(alphas, (std::vector<int>{1, 2}));
  EXPECT_EQ(betas, (std::vector<std::string>{"x"}));
}

TEST(EventStream, NothingIsDeliveredAfterUnsubscribe) {
  EventStream stream;
  int seen = 0;
  auto token = stream.subscribe<Alpha>([&](const Alpha&) { ++seen; });
  EXPECT_TRUE(stream.active());
  stream.publish(Alpha{1});
  stream.unsubscribe(token);
  stream.unsubscribe(token);  // twice: harmless
  stream.publish(Alpha{2});
  EXPECT_EQ(seen, 1);
  EXPECT_FALSE(stream.active());
}

TEST(EventStream, ASubscriberMaySubscribeAndUnsubscribeWhileBeingCalled) {
  EventStream stream;
  int inner = 0;
  EventStream::Token self = 0;
  self = stream.subscribe<Alpha>([&](const Alpha&) {
    stream.subscribe<Alpha>([&](const Alpha&) { ++inner; });
    stream.unsubscribe(self);
  });
  stream.publish(Alpha{1});  // the new subscriber is not called for this one
  EXPECT_EQ(inner, 0);
  stream.publish(Alpha{2});
  EXPECT_EQ(inner, 1);
}

TEST(EventStream, AThrowingSubscriberIsSkippedAndTheOthersStillRun) {
  EventStream stream;
  int after = 0;
  stream.subscribe<Alpha>([](const Alpha&) { throw std::runtime_error("subscriber bug"); });
  stream.subscribe<Alpha>([&](const Alpha&) { ++after; });
  stream.publish(Alpha{1});
  EXPECT_EQ(after, 1);
}

TEST(EventStream, TheSystemPublishesDeadLettersFailuresAndDirectives) {
  std::mutex mu;
  std::vector<std::string> seen;
  auto note = [&](std::string s) {
    std::lock_guard lock(mu);
    seen.push_back(std::move(s));
  };
  SystemConfig c;
  c.scheduler.deterministic = true;
  c.on_failure = [](const Failure&) {};
  ActorSystem system(c);
  system.events().subscribe<DeadLetter>(
      [&](const DeadLetter& d) { note(test::cat("dead:", to_string(d.reason))); });
  system.events().subscribe<Failure>([&](const Failure& f) { note("failure:" + f.what); });
  system.events().subscribe<SupervisionEvent>([&](const SupervisionEvent& e) {
    note(test::cat("directive:", static_cast<int>(e.directive), ":", e.reason));
  });

  system.send(Pid(), 1);
  auto journal = std::make_shared<test::Journal>();
  test::LifeSpec s{.tag = "a", .journal = journal};
  Pid a = system.spawn(test::life(s));
  system.send(a, test::Fail{"boom"});
  system.run_until_idle();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "dead:empty_pid", "failure:boom",
                      test::cat("directive:", static_cast<int>(Directive::restart), ":boom")}));
}

TEST(EventStream, AnActorCanSubscribe) {
  struct Listener : Handles<Listener, DeadLetter> {
    explicit Listener(std::shared_ptr<std::promise<std::string>> out) : out_(std::move(out)) {}
    void on(Context&, DeadLetter& d) { out_->set_value(std::string(to_string(d.reason))); }
    std::shared_ptr<std::promise<std::string>> out_;
  };
  auto out = std::make_shared<std::promise<std::string>>();
  auto got = out->get_future();
  SystemConfig c;
  c.scheduler.workers = 2;
  ActorSystem system(c);
  Pid listener = system.spawn<Listener>(out);
  auto token = system.subscribe<DeadLetter>(listener);
  system.send(Pid(), 7);
  ASSERT_TRUE(test::ready_within(got, "the listener's dead letter"));
  EXPECT_EQ(got.get(), "empty_pid");
  // A stopped listener is skipped: its own dead letters do not feed it.
  system.stop(listener);
  ASSERT_TRUE(test::eventually([&] { return system.live_actors() == 0; }, "the listener to stop"));
  std::uint64_t before = system.dead_letters().total();
  system.send(Pid(), 8);
  EXPECT_EQ(system.dead_letters().total(), before + 1);
  system.events().unsubscribe(token);
}

}  // namespace
}  // namespace shoal
