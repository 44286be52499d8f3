// What a node tells the system about its peers (io/node.hpp): PeerConnected
// and PeerDisconnected on the event stream, and identify() — whether a
// named actor exists on another node, answered by that node itself.
#include "shoal/node.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/io/io_kit.hpp"

namespace shoal::io::test {
namespace {

class NodeEvents : public TwoSystems<unsigned> {
 protected:
  void SetUp() override {
    TwoSystems::SetUp();
    NodeConfig c = logging_config();
    c.io_threads = GetParam();
    a.emplace(*a_sys, types, c);
    b.emplace(*b_sys, types, c);
  }
};

TEST_P(NodeEvents, ConnectingAndLosingAPeerArePublishedWithItsIncarnation) {
  std::mutex mu;
  std::vector<PeerConnected> up;
  std::vector<PeerDisconnected> down;
  auto events = std::make_shared<Counter>();
  a_sys->events().subscribe<PeerConnected>([&](const PeerConnected& e) {
    std::lock_guard lock(mu);
    up.push_back(e);
    events->add();
  });
  a_sys->events().subscribe<PeerDisconnected>([&](const PeerDisconnected& e) {
    std::lock_guard lock(mu);
    down.push_back(e);
    events->add();
  });
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  const std::string b_address = b->address();
  const std::uint64_t b_incarnation = b->incarnation();
  ASSERT_TRUE(a_sys->request_future<Ping>(a->pid(b_address, "echo"), Ping{1}, 30s).result().ok());
  ASSERT_TRUE(events->wait_for(1));
  b.reset();  // says goodbye
  ASSERT_TRUE(events->wait_for(2)) << "no PeerDisconnected";
  std::lock_guard lock(mu);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].address, b_address);
  EXPECT_EQ(up[0].incarnation, b_incarnation);
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].address, b_address);
  EXPECT_EQ(down[0].incarnation, b_incarnation);
  EXPECT_NE(down[0].reason.find("shutting down"), std::string::npos) << down[0].reason;
}

TEST_P(NodeEvents, IdentifySaysWhetherANamedActorExistsWithoutTouchingIt) {
  auto seen = std::make_shared<Counter>();
  Pid echo = b_sys->spawn_named(Props::of<Echo>(seen), "echo").pid;
  ASSERT_FALSE(echo.empty());
  auto found = a->identify(b->address(), "echo", 30s).result();
  ASSERT_TRUE(found.ok()) << found.what();
  EXPECT_EQ(found.value().id, echo.id());
  auto missing = a->identify(b->address(), "nobody", 30s).result();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), RequestErrc::dead_letter) << missing.what();
  EXPECT_EQ(seen->get(), 0u) << "the echo's mailbox saw the identify";
  // This node's own address is answered the same way.
  auto here = b->identify(b->address(), "echo", 30s).result();
  ASSERT_TRUE(here.ok()) << here.what();
  EXPECT_EQ(here.value().id, echo.id());
  EXPECT_FALSE(b->identify(b->address(), "nobody", 30s).result().ok());
  // After it stops, the name is free again: not found.
  auto stopped = b_sys->stop_future(echo, 30s).result();
  ASSERT_TRUE(stopped.ok());
  auto gone = a->identify(b->address(), "echo", 30s).result();
  EXPECT_FALSE(gone.ok());
}

INSTANTIATE_TEST_SUITE_P(IoThreads, NodeEvents, ::testing::Values(1u, 2u), io_threads_name);

}  // namespace
}  // namespace shoal::io::test
