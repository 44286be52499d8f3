// Placement (rendezvous hashing) and the bounded PID cache.
#include "shoal/cluster/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "shoal/actor_system.hpp"
#include "cluster/pid_cache.hpp"

namespace shoal::cluster {
namespace {

Member member(int port, std::vector<std::string> kinds = {"Bulb"}) {
  return Member{"10.0.0.1:" + std::to_string(port), 7, std::move(kinds)};
}

Topology view_of(std::vector<Member> members) { return Topology{1, std::move(members)}; }

std::string owner_id(const Topology& t, const GrainId& g) {
  const Member* m = owner_of(t, g);
  return m != nullptr ? m->id() : "";
}

TEST(PlacementTest, HashIsStableAcrossBuilds) {
  // Pinned (and checked against an independent FNV-1a + fmix64 in Python):
  // members built apart must agree on every owner.
  EXPECT_EQ(stable_hash(""), stable_hash(""));
  EXPECT_NE(stable_hash("a"), stable_hash("b"));
  EXPECT_EQ(stable_hash("kitchen"), 0xc780f33312f5e2c6ULL) << std::hex << stable_hash("kitchen");
}

TEST(PlacementTest, NoHostNoOwnerAndOnlyHostsOwn) {
  Topology t = view_of({member(1, {"Lamp"}), member(2, {"Bulb"}), member(3, {})});
  EXPECT_EQ(owner_of(t, GrainId{"Fan", "x"}), nullptr);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(owner_id(t, GrainId{"Bulb", std::to_string(i)}), member(2).id());
  }
  EXPECT_EQ(owner_of(Topology{}, GrainId{"Bulb", "x"}), nullptr);
}

TEST(PlacementTest, EveryMemberComputesTheSameOwnerWhateverTheOrder) {
  Topology a = view_of({member(1), member(2), member(3)});
  Topology b = view_of({member(3), member(1), member(2)});
  for (int i = 0; i < 1000; ++i) {
    GrainId g{"Bulb", "id-" + std::to_string(i)};
    EXPECT_EQ(owner_id(a, g), owner_id(b, g));
  }
}

TEST(PlacementTest, KindAndIdentityAreApart) {
  Topology t = view_of({member(1, {"ab", "a"}), member(2, {"ab", "a"}), member(3, {"ab", "a"})});
  int differ = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string s = std::to_string(i);
    differ += owner_id(t, GrainId{"ab", "c" + s}) != owner_id(t, GrainId{"a", "bc" + s});
  }
  EXPECT_GT(differ, 50) << "(\"ab\",\"c…\") and (\"a\",\"bc…\") are different grains";
}

TEST(PlacementTest, SpreadsEvenly) {
  Topology t = view_of({member(1), member(2), member(3)});
  std::map<std::string, int> count;
  const int n = 30000;
  for (int i = 0; i < n; ++i) ++count[owner_id(t, GrainId{"Bulb", "bulb-" + std::to_string(i)})];
  ASSERT_EQ(count.size(), 3u);
  for (auto& [id, c] : count) {
    EXPECT_GT(c, n * 28 / 100) << id;
    EXPECT_LT(c, n * 39 / 100) << id;
  }
}

TEST(PlacementTest, AJoinMovesOnlyWhatTheNewMemberWinsAndALeaveOnlyWhatItHeld) {
  Topology three = view_of({member(1), member(2), member(3)});
  Topology four = view_of({member(1), member(2), member(3), member(4)});
  const int n = 20000;
  int moved = 0;
  for (int i = 0; i < n; ++i) {
    GrainId g{"Bulb", "bulb-" + std::to_string(i)};
    const std::string before = owner_id(three, g);
    const std::string after = owner_id(four, g);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, member(4).id()) << "an identity moved between old members";
    }
    // And back: when member 4 leaves, only its identities move.
    EXPECT_EQ(owner_id(three, g), before);
  }
  EXPECT_GT(moved, n * 18 / 100);
  EXPECT_LT(moved, n * 32 / 100);
}

using detail::PidCache;

struct Idle : Actor {
  void receive(Context&, Envelope&) override {}
};

TEST(PidCacheTest, EvictsTheLeastRecentlyUsedBeyondItsBound) {
  ActorSystem system;
  Pid p = system.spawn<Idle>();
  PidCache cache(2);
  cache.put({"Bulb", "a"}, {p, "m1", 1});
  cache.put({"Bulb", "b"}, {p, "m1", 1});
  ASSERT_TRUE(cache.find({"Bulb", "a"}).has_value());  // a is now the most recent
  cache.put({"Bulb", "c"}, {p, "m2", 2});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_FALSE(cache.find({"Bulb", "b"}).has_value());
  EXPECT_TRUE(cache.find({"Bulb", "a"}).has_value());
  auto c = cache.find({"Bulb", "c"});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->member, "m2");
  EXPECT_EQ(c->epoch, 2u);
  // Replacing keeps the size.
  cache.put({"Bulb", "c"}, {p, "m3", 3});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find({"Bulb", "c"})->member, "m3");
  EXPECT_THROW(PidCache(0), std::invalid_argument);
}

TEST(PidCacheTest, ForgetsPerGrainOnlyForThatPidAndPerMember) {
  ActorSystem system;
  Pid old_pid = system.spawn<Idle>();
  Pid new_pid = system.spawn<Idle>();
  PidCache cache(100);
  cache.put({"Bulb", "a"}, {new_pid, "m1", 2});
  EXPECT_FALSE(cache.remove({"Bulb", "a"}, &old_pid)) << "a late report about an old activation";
  EXPECT_TRUE(cache.find({"Bulb", "a"}).has_value());
  EXPECT_TRUE(cache.remove({"Bulb", "a"}, &new_pid));
  EXPECT_FALSE(cache.remove({"Bulb", "a"}));
  for (int i = 0; i < 10; ++i) {
    cache.put({"Bulb", std::to_string(i)}, {new_pid, i % 2 == 0 ? "m1" : "m2", 1});
  }
  EXPECT_EQ(cache.remove_member("m1"), 5u);
  EXPECT_EQ(cache.size(), 5u);
  EXPECT_FALSE(cache.find({"Bulb", "0"}).has_value());
  EXPECT_TRUE(cache.find({"Bulb", "1"}).has_value());
  EXPECT_EQ(cache.remove_member("m9"), 0u);
}

}  // namespace
}  // namespace shoal::cluster
