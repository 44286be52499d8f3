// Membership with the embedded providers: the view, the events, epochs
// that only grow, and members that stay gone.
#include "shoal/cluster/membership.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "shoal/actor_system.hpp"

namespace shoal::cluster {
namespace {

using namespace std::chrono_literals;

Member member(int port, std::uint64_t incarnation = 1, std::vector<std::string> kinds = {"Bulb"}) {
  return Member{"127.0.0.1:" + std::to_string(port), incarnation, std::move(kinds)};
}

std::size_t size_of(const Topology& t) { return t.members.size(); }

/// Every event of the membership types, in order, as text.
class Recorder {
 public:
  explicit Recorder(ActorSystem& system) {
    system.events().subscribe<MemberJoined>(
        [this](const MemberJoined& e) { add("joined " + e.member.id()); });
    system.events().subscribe<MemberLeft>(
        [this](const MemberLeft& e) { add("left " + e.member.id()); });
    system.events().subscribe<TopologyChanged>(
        [this](const TopologyChanged& e) { add("topology " + std::to_string(e.members)); });
    system.events().subscribe<MembershipStatus>(
        [this](const MembershipStatus& e) { add("status " + std::string(to_string(e.state))); });
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  /// Until `e` was published `n` times (the events of a view follow the
  /// view itself), or the deadline.
  bool wait_for(const std::string& e, std::size_t n) const {
    std::unique_lock lock(mu_);
    return added_.wait_for(lock, std::chrono::seconds(30), [&] {
      return static_cast<std::size_t>(std::count(events_.begin(), events_.end(), e)) >= n;
    });
  }

 private:
  void add(std::string s) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(s));
    }
    added_.notify_all();
  }
  mutable std::mutex mu_;
  mutable std::condition_variable added_;
  std::vector<std::string> events_;
};

TEST(MemberTest, IdNamesAddressAndIncarnation) {
  Member m = member(7000, 0xabc);
  EXPECT_EQ(m.id(), "127.0.0.1:7000#0000000000000abc");
  EXPECT_TRUE(m.hosts("Bulb"));
  EXPECT_FALSE(m.hosts("Lamp"));
  EXPECT_NE(member(7000, 1).id(), member(7000, 2).id());
}

TEST(StaticProviderTest, ListsEveryMemberAndSelfAtEpochOne) {
  ActorSystem system;
  Recorder rec(system);
  Membership m(system, member(7000), static_provider({member(7001), member(7002)}));
  m.start();
  Topology t = m.topology();
  EXPECT_EQ(t.epoch, 1u);
  ASSERT_EQ(t.members.size(), 3u);
  EXPECT_NE(t.find(member(7000).id()), nullptr);
  EXPECT_EQ(m.state(), MembershipState::up);
  std::vector<std::string> want = {"status up", "joined " + member(7000).id(),
                                   "joined " + member(7001).id(), "joined " + member(7002).id(),
                                   "topology 3"};
  EXPECT_EQ(rec.events(), want);
  m.stop();
  EXPECT_EQ(m.state(), MembershipState::left);
}

TEST(StaticProviderTest, AMemberListedTwiceIsOneMember) {
  ActorSystem system;
  Membership m(system, member(7000), static_provider({member(7001), member(7001), member(7000)}));
  m.start();
  EXPECT_EQ(size_of(m.topology()), 2u);
}

TEST(InProcessTest, MembersSeeEachOtherJoinAndLeave) {
  InProcessRegistry registry;
  ActorSystem system;
  Recorder rec(system);
  Membership a(system, member(7000), registry.provider());
  Membership b(system, member(7001), registry.provider());
  Membership c(system, member(7002), registry.provider());
  a.start();
  b.start();
  c.start();
  for (Membership* m : {&a, &b, &c}) {
    ASSERT_TRUE(m->wait_until([](const Topology& t) { return size_of(t) == 3; }, 30s))
        << m->self().id() << " sees " << size_of(m->topology());
    EXPECT_EQ(m->state(), MembershipState::up);
  }
  EXPECT_EQ(a.topology().members, b.topology().members);

  b.stop();
  for (Membership* m : {&a, &c}) {
    ASSERT_TRUE(m->wait_until([](const Topology& t) { return size_of(t) == 2; }, 30s));
    EXPECT_EQ(m->topology().find(b.self().id()), nullptr);
  }
  EXPECT_EQ(b.state(), MembershipState::left);
  EXPECT_TRUE(rec.wait_for("left " + b.self().id(), 2));
  const auto events = rec.events();
  EXPECT_EQ(std::count(events.begin(), events.end(), "left " + b.self().id()), 2);
}

TEST(InProcessTest, AnExpelledMemberIsToldAndStaysGone) {
  InProcessRegistry registry;
  ActorSystem system;
  Membership a(system, member(7000), registry.provider());
  Membership b(system, member(7001), registry.provider());
  a.start();
  b.start();
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 2; }, 30s));
  const std::uint64_t before = a.topology().epoch;

  ASSERT_TRUE(registry.expel(b.self().id()));
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 1; }, 30s));
  EXPECT_GT(a.topology().epoch, before);
  ASSERT_TRUE(b.wait_for_state(MembershipState::expelled, 30s));
  EXPECT_FALSE(registry.expel(b.self().id()));

  // The same node and incarnation registering again (a stale process, say)
  // is refused: a gone id stays gone, for members old and new alike.
  Membership b_again(system, member(7001), registry.provider());
  Membership d(system, member(7003), registry.provider());
  b_again.start();
  d.start();
  ASSERT_TRUE(b_again.wait_for_state(MembershipState::expelled, 30s));
  ASSERT_TRUE(
      a.wait_until([&](const Topology& t) { return t.find(d.self().id()) != nullptr; }, 30s));
  ASSERT_TRUE(d.wait_until([&](const Topology& t) { return size_of(t) == 2; }, 30s));
  EXPECT_EQ(a.topology().members, d.topology().members);
  EXPECT_EQ(a.topology().find(b.self().id()), nullptr);
  EXPECT_EQ(size_of(a.topology()), 2u);
  // A restarted node is a new incarnation: a new member.
  Membership b_restarted(system, member(7001, 2), registry.provider());
  b_restarted.start();
  ASSERT_TRUE(a.wait_until(
      [&](const Topology& t) { return t.find(b_restarted.self().id()) != nullptr; }, 30s));
}

/// A provider the test drives by hand.
class HandProvider final : public MemberProvider {
 public:
  void start(const Member&, MemberListener& l) override { listener = &l; }
  void stop() override {}
  MemberListener* listener = nullptr;
};

TEST(MembershipTest, AnOlderViewIsNeverApplied) {
  ActorSystem system;
  auto owned = std::make_unique<HandProvider>();
  HandProvider* p = owned.get();
  Membership m(system, member(7000), std::move(owned));
  m.start();
  p->listener->on_view(Topology{5, {member(7000), member(7001)}});
  p->listener->on_view(Topology{4, {member(7000)}});
  EXPECT_EQ(m.topology().epoch, 5u);
  EXPECT_EQ(size_of(m.topology()), 2u);
  // A newer one that drops 7001, then an old report that has it again.
  p->listener->on_view(Topology{6, {member(7000)}});
  p->listener->on_view(Topology{7, {member(7000), member(7001)}});
  EXPECT_EQ(m.topology().epoch, 7u);
  EXPECT_EQ(size_of(m.topology()), 1u);
}

TEST(MembershipTest, StatusAfterExpelledOrLeftIsIgnored) {
  ActorSystem system;
  auto owned = std::make_unique<HandProvider>();
  HandProvider* p = owned.get();
  Membership m(system, member(7000), std::move(owned));
  m.start();
  p->listener->on_status(MembershipState::up, "");
  p->listener->on_status(MembershipState::expelled, "lease");
  p->listener->on_status(MembershipState::up, "late");
  EXPECT_EQ(m.state(), MembershipState::expelled);
  m.stop();
  EXPECT_EQ(m.state(), MembershipState::left);
}

TEST(MembershipTest, RejectsWhatCannotWork) {
  ActorSystem system;
  EXPECT_THROW(Membership(system, Member{}, static_provider({})), std::invalid_argument);
  EXPECT_THROW(Membership(system, member(7000), nullptr), std::invalid_argument);
  Membership m(system, member(7000), static_provider({}));
  m.start();
  EXPECT_THROW(m.start(), std::logic_error);
}

}  // namespace
}  // namespace shoal::cluster
