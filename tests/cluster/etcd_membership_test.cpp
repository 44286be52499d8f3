// Membership on a real etcd (started by the test, on free loopback ports):
// members find each other, the revision is the epoch, a clean leave and an
// expiry are seen by the others, an expelled member is told and stays gone,
// and etcd away at start or mid-run is said and recovered from.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shoal/actor_system.hpp"
#include "shoal/cluster/membership.hpp"
#include "tests/cluster/etcd_server.hpp"
#include "cluster/etcd_client.hpp"

namespace shoal::cluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Generous: etcd under ThreadSanitizer, on 2 cores, beside other tests.
constexpr auto deadline = 60s;

Member member(int port, std::uint64_t incarnation = 1) {
  return Member{"127.0.0.1:" + std::to_string(port), incarnation, {"Bulb"}};
}

EtcdConfig config_for(const test::EtcdServer& etcd, std::string cluster = "t") {
  return EtcdConfig{.endpoints = {etcd.endpoint()},
                    .cluster = std::move(cluster),
                    .lease_ttl = 10s,
                    .request_timeout = 2000ms,
                    .retry_min = 50ms,
                    .retry_max = 500ms};
}

std::size_t size_of(const Topology& t) { return t.members.size(); }

/// The member keys in etcd now, as the test reads them itself.
std::vector<std::string> keys_in(const test::EtcdServer& etcd, const std::string& cluster) {
  detail::EtcdClient client({etcd.endpoint()}, 5000ms);
  const std::string prefix = "/shoal/" + cluster + "/members/";
  json r = client.call("/v3/kv/range",
                       json{{"key", detail::base64_encode(prefix)},
                            {"range_end", detail::base64_encode(detail::prefix_end(prefix))}});
  std::vector<std::string> keys;
  for (const json& kv : r.value("kvs", json::array())) {
    keys.push_back(detail::base64_decode(kv["key"].get<std::string>()));
  }
  return keys;
}

/// Statuses seen on the event stream, with their detail, in order.
/// Subscribed for its lifetime: declare it before the memberships it hears.
class StatusLog {
 public:
  explicit StatusLog(ActorSystem& system) {
    system.events().subscribe<MembershipStatus>([this](const MembershipStatus& s) {
      {
        std::lock_guard lock(mu_);
        seen_.push_back(s);
      }
      added_.notify_all();
    });
  }
  /// The last status in `state` published so far, waiting for one up to the deadline.
  std::optional<MembershipStatus> wait_for(MembershipState state) const {
    std::unique_lock lock(mu_);
    std::optional<MembershipStatus> found;
    added_.wait_for(lock, deadline, [&] {
      for (const MembershipStatus& s : seen_) {
        if (s.state == state) found = s;
      }
      return found.has_value();
    });
    return found;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable added_;
  std::vector<MembershipStatus> seen_;
};

TEST(EtcdMembershipTest, MembersFindEachOtherAtOneEpochAndLeaveCleanly) {
  test::EtcdServer etcd;
  ActorSystem system;
  Membership a(system, member(7000), etcd_provider(config_for(etcd)));
  Membership b(system, member(7001), etcd_provider(config_for(etcd)));
  Membership c(system, member(7002), etcd_provider(config_for(etcd)));
  a.start();
  b.start();
  c.start();
  for (Membership* m : {&a, &b, &c}) {
    ASSERT_TRUE(m->wait_until([](const Topology& t) { return size_of(t) == 3; }, deadline))
        << m->self().id() << " sees " << size_of(m->topology());
    EXPECT_TRUE(m->wait_for_state(MembershipState::up, deadline));
  }
  // The epoch is etcd's revision of the last change: the same for all once
  // they saw the last join.
  for (Membership* m : {&a, &b}) {
    ASSERT_TRUE(
        m->wait_until([&](const Topology& t) { return t.epoch == c.topology().epoch; }, deadline));
  }
  EXPECT_GT(a.topology().epoch, 1u);
  EXPECT_EQ(a.topology().members, c.topology().members);
  EXPECT_EQ(keys_in(etcd, "t").size(), 3u);

  // A clean leave revokes the lease: the key goes at once, the others see it.
  const std::uint64_t before = a.topology().epoch;
  b.stop();
  for (Membership* m : {&a, &c}) {
    ASSERT_TRUE(m->wait_until([](const Topology& t) { return size_of(t) == 2; }, deadline));
    EXPECT_EQ(m->topology().find(b.self().id()), nullptr);
  }
  EXPECT_GT(a.topology().epoch, before);
  EXPECT_EQ(keys_in(etcd, "t").size(), 2u);
}

TEST(EtcdMembershipTest, ClustersUnderOneEtcdDoNotMix) {
  test::EtcdServer etcd;
  ActorSystem system;
  Membership a(system, member(7000), etcd_provider(config_for(etcd, "one")));
  Membership b(system, member(7001), etcd_provider(config_for(etcd, "two")));
  a.start();
  b.start();
  for (Membership* m : {&a, &b}) {
    ASSERT_TRUE(m->wait_until([](const Topology& t) { return size_of(t) == 1; }, deadline));
  }
  EXPECT_EQ(keys_in(etcd, "one").size(), 1u);
  EXPECT_EQ(keys_in(etcd, "two").size(), 1u);
  // A's watch is live (it sees a member of its own cluster join), and it
  // never saw B.
  Membership c(system, member(7002), etcd_provider(config_for(etcd, "one")));
  c.start();
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 2; }, deadline));
  EXPECT_EQ(a.topology().find(b.self().id()), nullptr);
  EXPECT_EQ(size_of(b.topology()), 1u);
}

TEST(EtcdMembershipTest, AMemberWhoseLeaseIsRevokedIsExpelledAndStaysGone) {
  test::EtcdServer etcd;
  ActorSystem system;
  Membership a(system, member(7000), etcd_provider(config_for(etcd)));
  Membership b(system, member(7001), etcd_provider(config_for(etcd)));
  a.start();
  b.start();
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 2; }, deadline));
  ASSERT_TRUE(b.wait_until([](const Topology& t) { return size_of(t) == 2; }, deadline));

  // What etcd does to a member silent past its TTL (frozen, cut off):
  // revoke its lease, found from its key.
  detail::EtcdClient client({etcd.endpoint()}, 5000ms);
  const std::string b_key = "/shoal/t/members/" + b.self().id();
  json r = client.call("/v3/kv/range", json{{"key", detail::base64_encode(b_key)}});
  ASSERT_EQ(r["kvs"].size(), 1u);
  const std::string lease = r["kvs"][0]["lease"].get<std::string>();
  client.call("/v3/lease/revoke", json{{"ID", lease}});

  ASSERT_TRUE(b.wait_for_state(MembershipState::expelled, deadline));
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 1; }, deadline));

  // A stale writer puts B's key back (without a lease): no member takes B
  // back, neither A, which saw it leave, nor D, which never knew it.
  client.call("/v3/kv/put", json{{"key", detail::base64_encode(b_key)},
                                 {"value", detail::base64_encode(json{
                                               {"address", b.self().address},
                                               {"incarnation", "1"},
                                               {"kinds", {"Bulb"}}}.dump())}});
  Membership d(system, member(7003), etcd_provider(config_for(etcd)));
  d.start();
  ASSERT_TRUE(
      a.wait_until([&](const Topology& t) { return t.find(d.self().id()) != nullptr; }, deadline));
  ASSERT_TRUE(d.wait_until([](const Topology& t) { return size_of(t) == 2; }, deadline));
  EXPECT_EQ(a.topology().find(b.self().id()), nullptr);
  EXPECT_EQ(d.topology().find(b.self().id()), nullptr);
  // B, expelled, never registers itself again.
  EXPECT_EQ(b.state(), MembershipState::expelled);
}

TEST(EtcdMembershipTest, ASecondRegistrationOfOneIdIsRefused) {
  test::EtcdServer etcd;
  ActorSystem system;
  StatusLog log(system);  // before the members: they publish as they stop
  Membership a(system, member(7000), etcd_provider(config_for(etcd)));
  a.start();
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 1; }, deadline));
  // A second process claiming A's address and incarnation.
  Membership twin(system, member(7000), etcd_provider(config_for(etcd)));
  twin.start();
  const std::optional<MembershipStatus> refused = log.wait_for(MembershipState::expelled);
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->detail.find("another registration"), std::string::npos) << refused->detail;
  // A keeps its registration.
  EXPECT_EQ(a.state(), MembershipState::up);
  EXPECT_EQ(keys_in(etcd, "t").size(), 1u);
}

TEST(EtcdMembershipTest, AMemberWhoseKeyIsDeletedIsExpelled) {
  test::EtcdServer etcd;
  ActorSystem system;
  Membership a(system, member(7000), etcd_provider(config_for(etcd)));
  a.start();
  ASSERT_TRUE(a.wait_for_state(MembershipState::up, deadline));
  detail::EtcdClient client({etcd.endpoint()}, 5000ms);
  client.call("/v3/kv/deleterange",
              json{{"key", detail::base64_encode("/shoal/t/members/" + a.self().id())}});
  ASSERT_TRUE(a.wait_for_state(MembershipState::expelled, deadline));
}

TEST(EtcdMembershipTest, EtcdAwayAtStartIsSaidAndRetriedUntilItComes) {
  test::EtcdServer etcd(/*run=*/false);
  ActorSystem system;
  StatusLog log(system);
  Membership a(system, member(7000), etcd_provider(config_for(etcd)));
  a.start();
  const std::optional<MembershipStatus> away = log.wait_for(MembershipState::unreachable);
  ASSERT_TRUE(away.has_value());
  EXPECT_NE(away->detail.find("etcd at " + etcd.endpoint()), std::string::npos)
      << "the unreachable status names the endpoint it tried: " << away->detail;
  etcd.start();
  ASSERT_TRUE(a.wait_for_state(MembershipState::up, deadline));
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 1; }, deadline));
}

TEST(EtcdMembershipTest, EtcdLostMidRunKeepsTheViewAndRecovers) {
  test::EtcdServer etcd;
  ActorSystem system;
  Membership a(system, member(7000), etcd_provider(config_for(etcd)));
  Membership b(system, member(7001), etcd_provider(config_for(etcd)));
  a.start();
  b.start();
  for (Membership* m : {&a, &b}) {
    ASSERT_TRUE(m->wait_until([](const Topology& t) { return size_of(t) == 2; }, deadline));
  }
  etcd.stop();
  for (Membership* m : {&a, &b}) {
    ASSERT_TRUE(m->wait_for_state(MembershipState::unreachable, deadline));
    EXPECT_EQ(size_of(m->topology()), 2u) << "the last view is kept";
  }
  // Back with its data: the leases are still there (etcd renews them when
  // it elects a leader), so both carry on as the same members.
  etcd.start();
  for (Membership* m : {&a, &b}) {
    ASSERT_TRUE(m->wait_for_state(MembershipState::up, deadline));
    EXPECT_EQ(size_of(m->topology()), 2u);
  }
  EXPECT_EQ(keys_in(etcd, "t").size(), 2u);
  // And the watch works again: a third member is seen.
  Membership c(system, member(7002), etcd_provider(config_for(etcd)));
  c.start();
  ASSERT_TRUE(a.wait_until([](const Topology& t) { return size_of(t) == 3; }, deadline));
}

TEST(EtcdMembershipTest, RejectsWhatCannotWork) {
  EtcdConfig c;
  c.lease_ttl = 1s;
  EXPECT_THROW(etcd_provider(c), std::invalid_argument) << "a lease too short to keep";
  c = EtcdConfig{};
  c.request_timeout = 2000ms;
  c.lease_ttl = 5s;
  EXPECT_THROW(etcd_provider(c), std::invalid_argument) << "one call may outlast a third of it";
  c = EtcdConfig{};
  c.cluster = "a/members/x";
  EXPECT_THROW(etcd_provider(c), std::invalid_argument) << "a name that overlaps another's keys";
}

}  // namespace
}  // namespace shoal::cluster
