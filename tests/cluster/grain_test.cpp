// Grains on three members in one process (three systems, three nodes on
// loopback, one InProcessRegistry): activation on the owner at the first
// call, one activation seen from every member, passivation after the idle
// time, sender order while a grain is found, an unknown kind, and the
// location cache forgetting a member that left.
#include "shoal/cluster/cluster.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shoal/handles.hpp"
#include "shoal/lifecycle.hpp"
#include "shoal/node.hpp"
#include "shoal/type_registry.hpp"
#include "tests/cluster/grain_messages.capnp.h"

namespace shoal::cluster {
namespace {

using namespace std::chrono_literals;
constexpr auto deadline = 60s;  // generous: sanitizers, 2 cores

struct Count {
  std::int64_t value = 0;
  std::uint64_t activation = 0;
  std::string identity;
  bool in_order = true;
  std::uint64_t appended = 0;
};
struct Add {
  using reply_type = Count;
  std::int64_t n = 0;
};
struct Get {
  using reply_type = Count;
};
struct Append {
  std::uint64_t seq = 0;
};
/// The grain stops itself.
struct Quit {};

std::atomic<std::uint64_t> next_activation{1};

/// Activations that ended, for the test to wait on.
struct Ended {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> identities;
  void add(std::string id) {
    {
      std::lock_guard lock(mu);
      identities.push_back(std::move(id));
    }
    cv.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, deadline, [&] { return identities.size() >= n; });
  }
};

class Counter : public Handles<Counter, Add, Get, Append, Quit, Stopped> {
 public:
  Counter(std::string identity, Ended* ended) : identity_(std::move(identity)), ended_(ended) {}
  void on(Context& ctx, Add& a) {
    value_ += a.n;
    ctx.respond(state());
  }
  void on(Context& ctx, Get&) { ctx.respond(state()); }
  void on(Context&, Append& a) {
    in_order_ = in_order_ && a.seq == appended_;
    ++appended_;
  }
  void on(Context& ctx, Quit&) { ctx.stop(); }
  void on(Context&, Stopped&) {
    if (ended_ != nullptr) ended_->add(identity_);
  }

 private:
  Count state() const { return Count{value_, activation_, identity_, in_order_, appended_}; }
  std::string identity_;
  Ended* ended_;
  std::int64_t value_ = 0;
  std::uint64_t activation_ = next_activation.fetch_add(1);
  bool in_order_ = true;
  std::uint64_t appended_ = 0;
};

void register_test_types(wire::TypeRegistry& types) {
  namespace m = test::msg;
  types.add<Add, m::Add>(
      "test.cluster.Add", [](const Add& a, m::Add::Builder b) { b.setN(a.n); },
      [](m::Add::Reader r) { return Add{r.getN()}; });
  types.add<Get, m::Get>(
      "test.cluster.Get", [](const Get&, m::Get::Builder) {}, [](m::Get::Reader) { return Get{}; });
  types.add<Append, m::Append>(
      "test.cluster.Append", [](const Append& a, m::Append::Builder b) { b.setSeq(a.seq); },
      [](m::Append::Reader r) { return Append{r.getSeq()}; });
  types.add<Quit, m::Quit>(
      "test.cluster.Quit", [](const Quit&, m::Quit::Builder) {},
      [](m::Quit::Reader) { return Quit{}; });
  types.add<Count, m::Count>(
      "test.cluster.Count",
      [](const Count& c, m::Count::Builder b) {
        b.setValue(c.value);
        b.setActivation(c.activation);
        b.setIdentity(c.identity);
        b.setInOrder(c.in_order);
        b.setAppended(c.appended);
      },
      [](m::Count::Reader r) {
        return Count{r.getValue(), r.getActivation(), r.getIdentity(), r.getInOrder(),
                     r.getAppended()};
      });
}

/// One member: a system, a node on a free loopback port, a cluster.
struct TestMember {
  TestMember(InProcessRegistry& registry, KindOptions kind, Ended* ended) {
    Cluster::register_types(types);
    register_test_types(types);
    node = std::make_unique<io::Node>(system, types, io::NodeConfig{});
    cluster = std::make_unique<Cluster>(system, *node, registry.provider());
    cluster->register_kind(
        "Counter",
        [ended](const GrainId& g) {
          if (g.identity == "unmakeable") throw std::runtime_error("no such counter");
          return Props::of<Counter>(g.identity, ended);
        },
        kind);
  }
  ~TestMember() {
    cluster.reset();
    node.reset();
  }
  ActorSystem system;
  wire::TypeRegistry types;
  std::unique_ptr<io::Node> node;
  std::unique_ptr<Cluster> cluster;
};

class GrainTest : public ::testing::Test {
 protected:
  void start(KindOptions kind = {.idle_timeout = 0s}) {
    for (int i = 0; i < 3; ++i)
      members.push_back(std::make_unique<TestMember>(registry, kind, &ended));
    for (auto& m : members) m->cluster->start();
    for (auto& m : members) {
      ASSERT_TRUE(m->cluster->membership().wait_until(
          [](const Topology& t) { return t.members.size() == 3; }, deadline));
    }
  }
  /// The member that owns `identity`, by the placement every member uses.
  TestMember& owner(const std::string& identity) {
    const Topology view = members[0]->cluster->membership().topology();
    const Member* o = owner_of(view, {"Counter", identity});  // points into view
    for (auto& m : members) {
      if (m->cluster->self().id() == o->id()) return *m;
    }
    throw std::logic_error("no owner");
  }
  TestMember& not_owner(const std::string& identity) {
    TestMember& o = owner(identity);
    return members[0].get() == &o ? *members[1] : *members[0];
  }
  /// Polls `pred` (no sleep: yields) until true or the deadline.
  static bool eventually(const std::function<bool()>& pred) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::yield();
    }
    return true;
  }

  Ended ended;
  InProcessRegistry registry;  // outlives the members (declared first, destroyed last... after)
  std::vector<std::unique_ptr<TestMember>> members;
};

TEST_F(GrainTest, ActivatedOnFirstCallOnTheOwnerAndSharedByEveryMember) {
  start();
  std::uint64_t activation = 0;
  std::int64_t expect = 0;
  for (auto& m : members) {
    Count c = m->cluster->request("Counter", "kitchen", Add{1}, 10s).get();
    EXPECT_EQ(c.value, ++expect) << "one state: every member reaches the same activation";
    EXPECT_EQ(c.identity, "kitchen");
    if (activation == 0) activation = c.activation;
    EXPECT_EQ(c.activation, activation);
  }
  std::uint64_t total = 0;
  for (auto& m : members) total += m->cluster->stats().activations;
  EXPECT_EQ(total, 1u);
  EXPECT_EQ(owner("kitchen").cluster->stats().activations, 1u);
  EXPECT_EQ(owner("kitchen").cluster->stats().active_grains, 1u);
}

TEST_F(GrainTest, ManyIdentitiesEachActivatedOnceOnItsOwner) {
  start();
  const int n = 60;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < n; ++i) {
      TestMember& from = *members[static_cast<std::size_t>((i + round) % 3)];
      Count c = from.cluster->request("Counter", "bulb-" + std::to_string(i), Add{1}, 10s).get();
      EXPECT_EQ(c.value, round + 1);
    }
  }
  std::uint64_t total = 0;
  for (auto& m : members) {
    total += m->cluster->stats().activations;
    EXPECT_GT(m->cluster->stats().activations, 0u) << "rendezvous spreads 60 identities";
  }
  EXPECT_EQ(total, static_cast<std::uint64_t>(n));
  for (int i = 0; i < n; ++i) {
    // Each identity's activation lives on its owner.
    EXPECT_GE(owner("bulb-" + std::to_string(i)).cluster->stats().active_grains, 1u);
  }
}

TEST_F(GrainTest, PassivatesAfterItsIdleTimeAndComesBackFresh) {
  start({.idle_timeout = 1s});
  TestMember& caller = not_owner("porch");
  Count first = caller.cluster->request("Counter", "porch", Add{5}, 10s).get();
  EXPECT_EQ(first.value, 5);
  ASSERT_TRUE(ended.wait_for(1)) << "the grain stops after 1 s without calls";
  // The activator hears of it (Terminated) a moment after the grain's Stopped.
  EXPECT_TRUE(eventually([&] { return owner("porch").cluster->stats().passivations == 1; }));
  EXPECT_TRUE(eventually([&] { return owner("porch").cluster->stats().active_grains == 0; }));
  // The caller's cache forgets the stopped activation (it watched it).
  ASSERT_TRUE(eventually([&] { return caller.cluster->stats().pid_cache_size == 0; }));
  Count again = caller.cluster->request("Counter", "porch", Add{1}, 10s).get();
  EXPECT_EQ(again.value, 1) << "a new activation starts from its factory";
  EXPECT_NE(again.activation, first.activation);
}

TEST_F(GrainTest, CallsFromOneSenderStayInOrderWhileTheGrainIsFound) {
  start();
  TestMember& caller = not_owner("hall");
  const std::uint64_t n = 10'000;
  for (std::uint64_t i = 0; i < n; ++i) caller.cluster->send("Counter", "hall", Append{i});
  Count c = caller.cluster->request("Counter", "hall", Get{}, 30s).get();
  EXPECT_EQ(c.appended, n);
  EXPECT_TRUE(c.in_order);
  EXPECT_EQ(caller.cluster->stats().lookups, 1u) << "one lookup; the rest waited behind it";
}

TEST_F(GrainTest, AnUnknownKindIsAClearError) {
  start();
  try {
    members[0]->cluster->request("Lamp", "x", Get{}, 1s);
    FAIL() << "no member hosts Lamp";
  } catch (const ClusterError& e) {
    EXPECT_NE(std::string(e.what()).find("hosts kind Lamp"), std::string::npos) << e.what();
  }
  EXPECT_THROW(members[0]->cluster->send("Lamp", "x", Append{0}), ClusterError);
}

TEST_F(GrainTest, AMemberThatLeavesTakesItsGrainLocationsWithIt) {
  start();
  TestMember& caller = *members[0];
  // Identities owned by member 2, called from member 0.
  std::vector<std::string> ids;
  for (int i = 0; ids.size() < 5; ++i) {
    std::string id = "lamp-" + std::to_string(i);
    if (&owner(id) == members[2].get()) ids.push_back(id);
  }
  for (const std::string& id : ids) caller.cluster->request("Counter", id, Add{1}, 10s).get();
  const std::size_t cached = caller.cluster->stats().pid_cache_size;
  ASSERT_GE(cached, ids.size());
  std::mutex mu;
  std::condition_variable cv;
  bool left = false;
  // Subscribed after the cluster's own handler: called after it. Let go of
  // at the end of the test however it ends (it captures locals).
  struct Unsubscribe {
    EventStream& events;
    EventStream::Token token;
    ~Unsubscribe() { events.unsubscribe(token); }
  } guard{caller.system.events(),
          caller.system.events().subscribe<MemberLeft>([&](const MemberLeft&) {
            std::lock_guard lock(mu);
            left = true;
            cv.notify_all();
          })};
  members[2]->cluster->stop();
  // Both who remain see it go (the new owners must know before they are asked).
  for (std::size_t k : {0u, 1u}) {
    ASSERT_TRUE(members[k]->cluster->membership().wait_until(
        [](const Topology& t) { return t.members.size() == 2; }, deadline));
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, deadline, [&] { return left; }));
  }
  EXPECT_EQ(caller.cluster->stats().pid_cache_size, cached - ids.size());
  // Their identities now belong to the two left, and work again.
  for (const std::string& id : ids) {
    Count c = caller.cluster->request("Counter", id, Add{1}, 10s).get();
    EXPECT_EQ(c.value, 1) << "a new activation on a surviving member";
  }
}

TEST_F(GrainTest, AGrainThatStopsIsForgottenAloneByItsCallers) {
  start();
  // Two grains of one other member, both cached by the caller.
  TestMember& caller = *members[0];
  std::vector<std::string> ids;
  for (int i = 0; ids.size() < 2; ++i) {
    std::string id = "door-" + std::to_string(i);
    if (&owner(id) == members[1].get()) ids.push_back(id);
  }
  for (const std::string& id : ids) caller.cluster->request("Counter", id, Add{1}, 10s).get();
  const std::size_t cached = caller.cluster->stats().pid_cache_size;
  caller.cluster->send("Counter", ids[0], Quit{});
  ASSERT_TRUE(ended.wait_for(1));
  ASSERT_TRUE(eventually([&] { return caller.cluster->stats().pid_cache_size == cached - 1; }));
  // The other is still where it was: same activation, its state kept.
  Count c = caller.cluster->request("Counter", ids[1], Add{1}, 10s).get();
  EXPECT_EQ(c.value, 2);
  EXPECT_EQ(caller.cluster->stats().pid_cache_size, cached - 1);  // still ids[1] alone
  EXPECT_EQ(caller.cluster->stats().lookups, 2u) << "ids[1] was not looked up again";
}

TEST_F(GrainTest, AFactoryThatThrowsFailsThatCallOnly) {
  start();
  TestMember& caller = not_owner("unmakeable");
  Count before = caller.cluster->request("Counter", "unmakeable-neighbour", Add{1}, 10s).get();
  Result<Count> r = caller.cluster->request("Counter", "unmakeable", Add{1}, 10s).result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::dead_letter);
  EXPECT_GE(owner("unmakeable").cluster->stats().activations_refused, 1u);
  EXPECT_EQ(caller.cluster->stats().undeliverable, 1u);
  // The owner's other grains, and its activator, live on.
  Count after = caller.cluster->request("Counter", "unmakeable-neighbour", Add{1}, 10s).get();
  EXPECT_EQ(after.value, before.value + 1);
  EXPECT_EQ(after.activation, before.activation);
}

TEST_F(GrainTest, NamesThatCannotBeAddressedAreRefusedAtTheCall) {
  start();
  Cluster& c = *members[0]->cluster;
  EXPECT_THROW(c.request("Counter", "", Get{}, 1s), ClusterError);
  EXPECT_THROW(c.request("Counter", std::string(300, 'x'), Get{}, 1s), ClusterError);
  // An identity with slashes is fine: kinds have none, so names stay apart.
  EXPECT_EQ(c.request("Counter", "a/b/c", Add{3}, 10s).get().value, 3);
  ActorSystem system;
  wire::TypeRegistry types;
  Cluster::register_types(types);
  io::Node node(system, types, io::NodeConfig{});
  Cluster other(system, node, static_provider({}));
  EXPECT_THROW(other.register_kind("a/b", Props::of<Counter>("x", nullptr)), std::invalid_argument);
  EXPECT_THROW(Cluster(system, node, static_provider({}), {.activation_timeout = 0s}),
               std::invalid_argument);
}

TEST_F(GrainTest, CallsAfterStopAreRefused) {
  start();
  members[0]->cluster->stop();
  EXPECT_THROW(members[0]->cluster->request("Counter", "x", Get{}, 1s), ClusterError);
  EXPECT_THROW(members[0]->cluster->send("Counter", "x", Append{0}), ClusterError);
}

}  // namespace
}  // namespace shoal::cluster
