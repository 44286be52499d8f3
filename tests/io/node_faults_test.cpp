// What a hostile or broken peer can make a node hold, and how a node says
// no (io/node.hpp, NodeConfig's bounds): every refusal is said, one message
// too large for the peer is refused alone, a peer that never reads meets
// the byte bound, a frame that never completes is cut, and connections
// beyond the bounds are closed at accept.
#include "shoal/node.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/test_support.hpp"
#include "tests/io/io_kit.hpp"

namespace shoal::io::test {
namespace {

/// This process's resident set, in bytes (Linux /proc/self/statm).
std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // shadow memory and quarantines: RSS says nothing here
#else
constexpr bool sanitized = false;
#endif

class NodeFaults : public TwoSystems<unsigned> {
 protected:
  NodeConfig config() {
    NodeConfig c = logging_config();
    c.io_threads = GetParam();
    return c;
  }
};

/// A raw client's handshake, claiming `address`.
std::vector<std::byte> handshake_of(const std::string& address) {
  wire::ControlWriter w;
  std::vector<std::byte> out;
  w.handshake(address, 77, out);
  return out;
}

TEST_P(NodeFaults, TheDisconnectGoesOutEvenWhileTheHandshakeAnswerIsInFlight) {
  b.emplace(*b_sys, types, config());
  // The handshake and a bad frame in one write: the node answers the
  // first and must still say why it refuses the second.
  for (int round = 0; round < 20; ++round) {
    std::vector<std::byte> bytes = handshake_of("127.0.0.1:" + std::to_string(9000 + round));
    std::uint32_t junk[4] = {0, 1, 0xdeadbeef, 0xdeadbeef};  // one segment, a wild pointer
    const auto* p = reinterpret_cast<const std::byte*>(junk);
    bytes.insert(bytes.end(), p, p + sizeof junk);
    RawClient raw(b->address());
    raw.write(bytes);
    auto [got, eof] = raw.read_to_eof();
    ASSERT_TRUE(eof);
    EXPECT_NE(disconnect_reason(got).find("malformed frame"), std::string::npos)
        << "round " << round << ": no Disconnect saying why (" << got.size() << " bytes came)";
  }
}

TEST_P(NodeFaults, AMessageLargerThanThePeerAcceptsIsATooLargeDeadLetterAndTheConnectionStays) {
  NodeConfig small = config();
  small.limits.max_frame_bytes = 64u << 10;  // b accepts frames of 64 KiB at most
  b.emplace(*b_sys, types, small);
  a.emplace(*a_sys, types, config());  // a would accept 8 MiB
  auto notes = std::make_shared<Counter>();
  struct Keeper : Handles<Keeper, Note> {
    explicit Keeper(std::shared_ptr<Counter> c) : c(std::move(c)) {}
    void on(Context&, Note& n) { c->add(n.text.size()); }
    std::shared_ptr<Counter> c;
  };
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Keeper>(notes), "keeper"));
  Pid keeper = a->pid(b->address(), "keeper");
  a_sys->send(keeper, Note{"first", {}});
  a_sys->send(keeper, Note{std::string(256u << 10, 'x'), {}});  // 256 KiB: over b's limit
  a_sys->send(keeper, Note{"last", {}});
  ASSERT_TRUE(notes->wait_for(9)) << "the small notes did not both arrive";
  EXPECT_EQ(notes->get(), 9u) << "the large note arrived after all";
  EXPECT_EQ(a_sys->dead_letters().count(DeadLetterReason::too_large), 1u);
  EXPECT_EQ(a->stats().dropped_too_large, 1u);
  EXPECT_EQ(a->stats().dropped_not_serializable, 0u);
  EXPECT_EQ(b->stats().protocol_errors, 0u);
  EXPECT_EQ(b->stats().connections_closed, 0u);
}

TEST_P(NodeFaults, ThePeersEnvelopeLimitIsKeptByTheSender) {
  NodeConfig small = config();
  small.limits.max_envelopes = 8;
  b.emplace(*b_sys, types, small);
  a.emplace(*a_sys, types, config());
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  Pid echo = a->pid(b->address(), "echo");
  for (std::uint64_t i = 0; i < 2000; ++i) a_sys->send(echo, Ping{i});
  ASSERT_TRUE(seen->wait_for(2000)) << "got " << seen->get() << " of 2000";
  EXPECT_EQ(b->stats().protocol_errors, 0u);
  EXPECT_GE(b->stats().frames_received, 2000u / 8);
}

TEST_P(NodeFaults, APeerThatNeverReadsMeetsTheByteBoundNotTheSendersMemory) {
  constexpr std::size_t bound = 2u << 20;
  NodeConfig cfg = config();
  cfg.outbound_queue_bytes = bound;
  cfg.heartbeat_timeout = 600s;  // the reader is silent on purpose
  b.emplace(*b_sys, types, cfg);
  // A peer that says hello (as "127.0.0.1:9") and then never reads.
  RawClient raw(b->address());
  raw.write(handshake_of("127.0.0.1:9"));
  Pid far = b->pid("127.0.0.1:9", "anyone");
  ASSERT_TRUE(shoal::test::eventually([&] { return b->stats().connections_opened == 1; },
                                      "the silent peer's handshake"));
  const std::size_t rss_before = rss_bytes();
  constexpr std::uint64_t sent = 2'000'000;
  for (std::uint64_t i = 0; i < sent; ++i) {
    b_sys->send(far, Note{"a note of some forty bytes, give or take", {}});
  }
  // What the kernel's socket buffers took is gone from the node; the rest
  // waits within the bound, and everything past it was refused.
  ASSERT_TRUE(shoal::test::eventually([&] { return b->stats().dropped_outbound_full > 0; },
                                      "outbound_full refusals"));
  NodeStats s = b->stats();
  EXPECT_LE(s.queued_bytes, bound + (256u << 10)) << "more waits for the peer than its bound";
  EXPECT_GT(s.dropped_outbound_full, sent / 2);
  if (!sanitized) {
    const std::size_t grown = rss_bytes() - std::min(rss_before, rss_bytes());
    EXPECT_LT(grown, std::size_t{64} << 20) << "the sender grew by " << (grown >> 20) << " MiB";
  }
}

TEST_P(NodeFaults, AFrameThatNeverCompletesIsCutAtTheFrameTimeout) {
  NodeConfig cfg = config();
  cfg.frame_timeout = 300ms;
  b.emplace(*b_sys, types, cfg);
  RawClient raw(b->address());
  raw.write(handshake_of("127.0.0.1:9"));
  ASSERT_FALSE(raw.read_frame().empty()) << "no answer to the handshake";
  // A frame of 1 MiB declared; 4 KiB of it sent, then nothing more.
  std::uint32_t header[2] = {0, (1u << 20) / 8};
  const auto* p = reinterpret_cast<const std::byte*>(header);
  std::vector<std::byte> bytes(p, p + sizeof header);
  bytes.resize(bytes.size() + 4096, std::byte{0});
  raw.write(bytes);
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  EXPECT_NE(disconnect_reason(got).find("frame timeout"), std::string::npos)
      << disconnect_reason(got);
  EXPECT_GE(b->stats().protocol_errors, 1u);
}

TEST_P(NodeFaults, BeforeTheHandshakeOnlyAHandshakesWorthIsRead) {
  b.emplace(*b_sys, types, config());
  RawClient raw(b->address());
  std::uint32_t header[2] = {0, (64u << 10) / 8};  // 64 KiB, before any handshake
  std::vector<std::byte> bytes(sizeof header);
  std::memcpy(bytes.data(), header, sizeof header);
  raw.write(bytes);
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  EXPECT_NE(disconnect_reason(got).find("too_large"), std::string::npos) << disconnect_reason(got);
}

TEST_P(NodeFaults, ConnectionsBeyondTheHalfOpenBoundAreClosedAtAccept) {
  NodeConfig cfg = config();
  cfg.max_half_open = 4;
  cfg.connect_timeout = 60s;  // the silent ones stay half-open until they go
  b.emplace(*b_sys, types, cfg);
  {
    std::vector<std::unique_ptr<RawClient>> silent;
    for (int i = 0; i < 12; ++i) silent.push_back(std::make_unique<RawClient>(b->address()));
    ASSERT_TRUE(shoal::test::eventually([&] { return b->stats().connections_refused == 8; },
                                        "8 of 12 silent connections refused"));
  }
  // Once the silent ones leave, a real node is served.
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  a.emplace(*a_sys, types, config());
  auto r = a_sys->request_future<Ping>(a->pid(b->address(), "echo"), Ping{1}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
}

TEST_P(NodeFaults, ConnectionsBeyondTheConnectionBoundAreClosedAtAccept) {
  NodeConfig cfg = config();
  cfg.max_connections = 3;
  b.emplace(*b_sys, types, cfg);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<RawClient>(b->address()));
    clients.back()->write(handshake_of("127.0.0.1:" + std::to_string(9100 + i)));
  }
  ASSERT_TRUE(shoal::test::eventually([&] { return b->stats().connections_refused == 3; },
                                      "3 of 6 connections refused"));
  EXPECT_TRUE(shoal::test::eventually([&] { return b->stats().connections_opened == 3; },
                                      "the 3 accepted connections to open"));
}

TEST_P(NodeFaults, AddressesClaimedInHandshakesDoNotKeepEndpoints) {
  b.emplace(*b_sys, types, config());
  for (int i = 0; i < 300; ++i) {
    RawClient raw(b->address());
    raw.write(
        handshake_of("10.9." + std::to_string(i / 200) + "." + std::to_string(i % 200) + ":7000"));
    ASSERT_FALSE(raw.read_frame().empty()) << "no answer to handshake " << i;
  }
  ASSERT_TRUE(shoal::test::eventually([&] { return b->stats().endpoints == 0; },
                                      "the claimed addresses' endpoints to be evicted"))
      << b->stats().endpoints << " left";
  EXPECT_GE(b->stats().endpoints_evicted, 300u);
}

TEST_P(NodeFaults, AnEvictedEndpointNumbersAfreshAndItsPeerStillDelivers) {
  // b takes a silent a for dead and closes; a then holds nothing for b and
  // forgets it. b keeps its endpoint for a (it holds a proxy there), with
  // the sequence it expected: a's next messages, numbered from 1 again
  // under a new association, must not be dropped as duplicates.
  NodeConfig quiet = config();
  quiet.heartbeat_interval = 600s;
  NodeConfig strict = quiet;
  strict.heartbeat_timeout = 300ms;
  b.emplace(*b_sys, types, strict);
  a.emplace(*a_sys, types, quiet);
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
  Pid keep = b->pid(a->address(), "anyone");
  {
    Pid echo = a->pid(b->address(), "echo");
    for (std::uint64_t i = 0; i < 10; ++i) a_sys->send(echo, Ping{i});
    ASSERT_TRUE(seen->wait_for(10));
  }
  ASSERT_TRUE(shoal::test::eventually(
      [&] { return a->stats().endpoints == 0 && a->stats().endpoints_evicted >= 1; },
      "a to forget its endpoint for b once b closed the connection"))
      << "a: endpoints " << a->stats().endpoints << ", closed " << a->stats().connections_closed
      << "; b: closed " << b->stats().connections_closed;
  Pid echo = a->pid(b->address(), "echo");
  for (std::uint64_t i = 0; i < 10; ++i) a_sys->send(echo, Ping{i});
  ASSERT_TRUE(seen->wait_for(20)) << "got " << seen->get() << " of 20";
  EXPECT_EQ(b->stats().duplicates_dropped, 0u);
  EXPECT_EQ(b->stats().endpoints, 1u);
}

/// Watches `who`, then asks it for a Ping (behind the watch in the stream:
/// once answered, the watch has been dealt with there); counts answers and
/// Terminated.
struct WatchAndAsk : Handles<WatchAndAsk, Pid, Ping, Terminated> {
  WatchAndAsk(std::shared_ptr<Counter> answers, std::shared_ptr<Counter> terminated)
      : answers(std::move(answers)), terminated(std::move(terminated)) {}
  void on(Context& ctx, Pid& who) {
    ctx.watch(who);
    ctx.request(who, Ping{1});
  }
  void on(Context&, Ping&) { answers->add(); }
  void on(Context&, Terminated&) { terminated->add(); }
  std::shared_ptr<Counter> answers, terminated;
};

TEST_P(NodeFaults, UntrustedModeRefusesRemoteStopPoisonAndWatchOfActorsNotExported) {
  NodeConfig guarded = config();
  guarded.untrusted = true;
  guarded.exported = {"open"};
  b.emplace(*b_sys, types, guarded);
  a.emplace(*a_sys, types, config());
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "closed"));
  ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "open"));
  Pid closed = a->pid(b->address(), "closed");
  auto answers = std::make_shared<Counter>(), terminated = std::make_shared<Counter>();
  Pid watcher = a_sys->spawn<WatchAndAsk>(answers, terminated);
  a_sys->send(watcher, closed);
  ASSERT_TRUE(answers->wait_for(1));
  a_sys->stop(closed);
  a_sys->poison(closed);
  // Behind the stop and the poison on the same connection: once answered,
  // both were dealt with.
  auto r = a_sys->request_future<Ping>(closed, Ping{5}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
  EXPECT_FALSE(b_sys->lookup("closed").empty()) << "a peer stopped an actor it may not";
  EXPECT_EQ(b->stats().untrusted_refused, 3u);  // the watch, the stop, the poison
  EXPECT_EQ(b_sys->dead_letters().count(DeadLetterReason::untrusted), 3u);
  // A poison pill sent as a request: its asker hears why at once.
  auto refused = a_sys->request_future<Ping>(closed, PoisonPill{}, 30s).result();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), RequestErrc::dead_letter) << refused.what();
  EXPECT_EQ(refused.reason(), DeadLetterReason::untrusted) << refused.what();
  EXPECT_FALSE(b_sys->lookup("closed").empty());
  // Ordinary messages and requests still flow; an exported actor obeys.
  Pid open = a->pid(b->address(), "open");
  a_sys->send(watcher, open);
  ASSERT_TRUE(answers->wait_for(2));
  a_sys->stop(open);
  ASSERT_TRUE(terminated->wait_for(1)) << "the watcher of the exported actor heard nothing";
  EXPECT_TRUE(b_sys->lookup("open").empty());
  EXPECT_EQ(terminated->get(), 1u) << "the refused watch reported a Terminated";
}

INSTANTIATE_TEST_SUITE_P(IoThreads, NodeFaults, ::testing::Values(1u, 2u), io_threads_name);

}  // namespace
}  // namespace shoal::io::test
