// Two processes on 127.0.0.1: this test's node and a shoal-node process
// (tools/node/). Send, request, stream in order, watch; then the peer is
// killed (SIGKILL: no goodbye) and restarted on the same address as a new
// incarnation.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <optional>
#include <random>
#include <string>

#include "tests/io/io_kit.hpp"
#include "tools/node/child_process.hpp"
#include "tools/node/node_actors.hpp"

namespace shoal::io::test {
namespace {

using node::Ack;
using node::Item;
using node::Probe;

/// A shoal-node child process (node::ChildProcess), and what it says
/// when it is listening.
class NodeProcess {
 public:
  /// Starts one; with `must_start` false, a failure to start (its port
  /// taken) only leaves address() empty.
  explicit NodeProcess(const std::string& listen, bool must_start = true,
                       const std::vector<std::string>& extra = {}) {
    const char* exe = std::getenv("SHOAL_NODE");
    if (exe == nullptr) {
      ADD_FAILURE() << "SHOAL_NODE is not set (meson sets it)";
      return;
    }
    try {
      std::vector<std::string> cmd{exe, "--listen", listen, "--workers", "1"};
      cmd.insert(cmd.end(), extra.begin(), extra.end());
      child_.emplace(cmd);
      std::string line = child_->read_line();
      char addr[128] = {};
      unsigned long long inc = 0;
      if (std::sscanf(line.c_str(), "listening %127s incarnation %llx", addr, &inc) == 2) {
        address_ = addr;
        incarnation_ = inc;
      } else {
        ADD_FAILURE() << "unexpected first line: " << line;
      }
    } catch (const std::exception& e) {
      if (must_start) ADD_FAILURE() << "shoal-node: " << e.what();
    }
  }

  const std::string& address() const { return address_; }
  std::uint64_t incarnation() const { return incarnation_; }
  void kill_hard() {
    if (child_) child_->kill_hard();
  }

 private:
  std::optional<node::ChildProcess> child_;
  std::string address_;
  std::uint64_t incarnation_ = 0;
};

/// Streams `total` items to the sink with a window, then reports the last Ack.
struct Streamer : Handles<Streamer, Ack, Probe> {
  Streamer(Pid sink, std::uint64_t total, std::promise<Ack>* done)
      : sink(std::move(sink)), total(total), done(done) {}
  void on(Context& ctx, Probe&) { pump(ctx); }  // start
  void on(Context& ctx, Ack& a) {
    acked = a.count;
    if (a.count == total) {
      done->set_value(a);
      return;
    }
    pump(ctx);
  }
  void pump(Context& ctx) {
    while (sent < total && sent - acked < 20 * node::ack_every) ctx.request(sink, Item{0, sent++});
  }
  Pid sink;
  std::uint64_t total, sent = 0, acked = 0;
  std::promise<Ack>* done;
};

class TwoProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    // No io_uring here: the nodes fall back to epoll (NodeConfig's
    // automatic port), so these run everywhere.
    node::register_node_types(types);
    sys.emplace(SystemConfig{.scheduler = {.workers = 2}});
    NodeConfig cfg;
    cfg.on_error = [](std::string_view) {};
    cfg.backoff_min = 5ms;
    cfg.backoff_max = 50ms;
    cfg.max_attempts = 200;  // the restarted peer must be found again
    here.emplace(*sys, types, cfg);
  }
  void TearDown() override {
    here.reset();
    sys.reset();
  }
  wire::TypeRegistry types;
  std::optional<ActorSystem> sys;
  std::optional<Node> here;
};

TEST_F(TwoProcesses, RequestAndAnInOrderStreamAcrossProcesses) {
  // Two io threads there: the peer accepts on one and hands the
  // connection to the other (this node's endpoint's home) mid-handshake;
  // and epoll there, io_uring here where the kernel has it: the wire does
  // not care which port drives it.
  NodeProcess peer("127.0.0.1:0", true, {"--io-threads", "2", "--event-port", "epoll"});
  ASSERT_FALSE(peer.address().empty());
  Pid echo = here->pid(peer.address(), "echo");
  auto r = sys->request_future<Probe>(echo, Probe{7}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
  EXPECT_EQ(r.value().value, 7u);

  std::promise<Ack> done;
  auto acked = done.get_future();
  constexpr std::uint64_t total = 200'000;
  Pid streamer = sys->spawn<Streamer>(here->pid(peer.address(), "sink"), total, &done);
  sys->send(streamer, Probe{});
  ASSERT_EQ(acked.wait_for(60s), std::future_status::ready) << "the stream did not finish";
  Ack last = acked.get();
  EXPECT_EQ(last.count, total);
  EXPECT_EQ(last.out_of_order, 0u);
  EXPECT_EQ(here->stats().messages_sent, total + 1);
  EXPECT_EQ(here->stats().sequence_gaps, 0u);
  EXPECT_EQ(here->stats().duplicates_dropped, 0u);
}

struct WatchIt {
  Pid who;
};
struct Watcher : Handles<Watcher, WatchIt, Terminated> {
  explicit Watcher(std::promise<TerminatedReason>* heard) : heard(heard) {}
  void on(Context& ctx, WatchIt& w) {
    watched = w.who;
    ctx.watch(w.who);
  }
  void on(Context&, Terminated& t) {
    if (t.who == watched) heard->set_value(t.why);
  }
  Pid watched;
  std::promise<TerminatedReason>* heard;
};

TEST_F(TwoProcesses, AKilledPeerIsNoticedAndItsRestartIsANewIncarnation) {
  // A port below the ephemeral range (32768 and up): the node's redials
  // while the peer is down can then never connect a socket to itself on
  // that port (TCP self-connect), which would keep it from being reused.
  std::mt19937 rng(std::random_device{}());
  std::optional<NodeProcess> first;
  for (int attempt = 0; attempt < 50 && (!first || first->address().empty()); ++attempt) {
    first.emplace("127.0.0.1:" + std::to_string(20000 + rng() % 10000), false);
  }
  ASSERT_TRUE(first && !first->address().empty()) << "no free port in 20000-29999";
  std::string address;
  std::uint64_t first_incarnation;
  {
    NodeProcess& peer = *first;
    address = peer.address();
    first_incarnation = peer.incarnation();
    Pid echo = here->pid(address, "echo");
    std::promise<TerminatedReason> heard;
    Pid watcher = sys->spawn<Watcher>(&heard);
    sys->send(watcher, WatchIt{echo});
    ASSERT_TRUE(sys->request_future<Probe>(echo, Probe{1}, 30s).result().ok());
    // A request the sink never answers (it acks every 1000 items).
    // Sent or still queued when the peer dies, it fails the same way.
    auto pending = sys->request_future<Ack>(here->pid(address, "sink"), Item{5, 0}, 60s);
    peer.kill_hard();
    auto r = pending.result();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), RequestErrc::delivery_failed) << r.what();
    auto why = heard.get_future();
    ASSERT_EQ(why.wait_for(30s), std::future_status::ready) << "the watcher heard nothing";
    EXPECT_EQ(why.get(), TerminatedReason::address_terminated);
  }
  first.reset();
  // The same address, a new process: a new incarnation, found again.
  NodeProcess again(address);
  ASSERT_EQ(again.address(), address);
  EXPECT_NE(again.incarnation(), first_incarnation);
  auto r = sys->request_future<Probe>(here->pid(address, "echo"), Probe{9}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
  EXPECT_EQ(r.value().value, 9u);
  EXPECT_EQ(here->stats().duplicates_dropped, 0u);
  EXPECT_GE(here->stats().connections_opened, 2u);
}

}  // namespace
}  // namespace shoal::io::test
