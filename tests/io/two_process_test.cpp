// Two processes on 127.0.0.1: this test's node and a shoal-node process
// (tools/node/). Send, request, stream in order, watch; then the peer is
// killed (SIGKILL: no goodbye) and restarted on the same address as a new
// incarnation. Every case runs over plain TCP and over TLS (both nodes
// share a secret file: shoal-node --secret-file --tls).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "io/auth.hpp"
#include "tests/io/io_kit.hpp"
#include "tools/node/child_process.hpp"
#include "tools/node/node_actors.hpp"

namespace shoal::io::test {
namespace {

using node::Ack;
using node::Item;
using node::Probe;

/// What every shoal-node of the running case is started with besides its
/// own options: the secret file and --tls in the TLS cases (set by the
/// fixture's SetUp).
std::vector<std::string> link_args;

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
      cmd.insert(cmd.end(), link_args.begin(), link_args.end());
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

/// The parameter: true runs the case over TLS.
class TwoProcesses : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // No io_uring here: the nodes fall back to epoll (NodeConfig's
    // automatic port), so these run everywhere.
    node::register_node_types(types);
    sys.emplace(SystemConfig{.scheduler = {.workers = 2}});
    NodeConfig cfg;
    link_args.clear();
    if (GetParam()) {
      secret_path =
          ::testing::TempDir() + "/shoal-two-process-secret-" + std::to_string(::getpid());
      std::ofstream(secret_path, std::ios::trunc) << "0123456789abcdef-two-process-secret";
      ::chmod(secret_path.c_str(), 0600);
      link_args = {"--secret-file", secret_path, "--tls"};
      cfg.secret = read_secret_file(secret_path);
      cfg.tls = true;
    }
    cfg.on_error = [](std::string_view) {};
    cfg.backoff_min = 5ms;
    cfg.backoff_max = 50ms;
    cfg.max_attempts = 200;  // the restarted peer must be found again
    here.emplace(*sys, types, cfg);
  }
  void TearDown() override {
    here.reset();
    sys.reset();
    link_args.clear();
    if (!secret_path.empty()) ::unlink(secret_path.c_str());
  }
  std::string secret_path;
  wire::TypeRegistry types;
  std::optional<ActorSystem> sys;
  std::optional<Node> here;
};

TEST_P(TwoProcesses, RequestAndAnInOrderStreamAcrossProcesses) {
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

TEST_P(TwoProcesses, AKilledPeerIsNoticedAndItsRestartIsANewIncarnation) {
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

/// A shoal-node on a free port below the ephemeral range (32768 and up):
/// redials while it is down can then never connect a socket to itself on
/// that port (TCP self-connect), which would keep it from being reused.
std::unique_ptr<NodeProcess> start_on_low_port() {
  std::mt19937 rng(std::random_device{}());
  std::unique_ptr<NodeProcess> p;
  for (int attempt = 0; attempt < 50 && (!p || p->address().empty()); ++attempt) {
    p = std::make_unique<NodeProcess>("127.0.0.1:" + std::to_string(20000 + rng() % 10000), false);
  }
  if (p && p->address().empty()) p.reset();
  return p;
}

/// Streams Items to the sink in bursts of 256 (one chain each: the
/// outbox), re-queuing itself between bursts, until stopped: a stream that
/// goes on through every loss and reconnect. It sends a burst only while
/// less than 1 MiB waits for peers (NodeStats::queued_bytes), so that even
/// under a sanitizer the queue never fills for others; counts the Acks.
struct Pump : Handles<Pump, Probe, Ack> {
  Pump(Pid sink, const Node* node, std::shared_ptr<Counter> acks)
      : sink(std::move(sink)), node(node), acks(std::move(acks)) {}
  void on(Context& ctx, Probe&) {
    if (node->stats().queued_bytes < (1u << 20)) {
      for (int i = 0; i < 256; ++i) ctx.request(sink, Item{1, seq++});
    }
    ctx.send(ctx.self(), Probe{});
  }
  void on(Context&, Ack&) { acks->add(); }
  Pid sink;
  const Node* node;  // outlives the pump: the test stops it first
  std::shared_ptr<Counter> acks;
  std::uint64_t seq = 0;
};

/// Starts a shoal-node on `address` again after the last one there was
/// killed: its listening port may stay taken for a moment (the killed
/// process's connections linger until this node closes its side).
std::unique_ptr<NodeProcess> restart_on(const std::string& address) {
  auto until = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    auto p = std::make_unique<NodeProcess>(address, false);
    if (p->address() == address || std::chrono::steady_clock::now() > until) return p;
  }
}

/// Asks the peer's echo until it answers; the error of the last attempt if
/// it never did within `deadline`.
std::string wait_for_echo(ActorSystem& sys, const Pid& echo, std::uint64_t value,
                          std::chrono::seconds deadline = 60s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::string last = "no attempt";
  while (std::chrono::steady_clock::now() < until) {
    auto r = sys.request_future<Probe>(echo, Probe{value}, 5s).result();
    if (r.ok() && r.value().value == value) return {};
    last = r.ok() ? "a wrong answer" : r.what();
  }
  return last;
}

/// Destroys the node on another thread and fails the test (aborting: a
/// wedged io thread cannot be recovered) if that takes over 60 s.
void destroy_within_deadline(std::optional<Node>& node) {
  auto gone = std::async(std::launch::async, [&] { node.reset(); });
  if (gone.wait_for(60s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: ~Node() did not return within 60 s\n");
    std::abort();
  }
}

TEST_P(TwoProcesses, AStreamThroughRepeatedKillsAndRestartsOfThePeerKeepsMoving) {
  // The regression for a livelock: with a stream running, a connection
  // lost while the peer's endpoint waited on the io thread's ready list
  // let the next send link the endpoint to itself; the io thread then
  // flushed it forever and ~Node() never returned.
  std::unique_ptr<NodeProcess> peer = start_on_low_port();
  ASSERT_TRUE(peer) << "no free port in 20000-29999";
  const std::string address = peer->address();
  Pid echo = here->pid(address, "echo");
  auto acks = std::make_shared<Counter>();
  Pid pump = sys->spawn<Pump>(here->pid(address, "sink"), &*here, acks);
  sys->send(pump, Probe{});
  constexpr int restarts = 6;
  for (int round = 0; round <= restarts; ++round) {
    std::string error = wait_for_echo(*sys, echo, 100 + round);
    ASSERT_TRUE(error.empty()) << "round " << round << ": the peer never answered: " << error;
    // The stream reaches this incarnation too: its sink acks it.
    const std::uint64_t before = acks->get();
    ASSERT_TRUE(acks->wait_for(before + 3, 60s))
        << "round " << round << ": the stream stalled at " << before << " acks";
    if (round == restarts) break;
    peer->kill_hard();
    peer = restart_on(address);
    ASSERT_EQ(peer->address(), address) << "the peer could not listen again on " << address;
  }
  sys->stop(pump);
  EXPECT_EQ(here->stats().duplicates_dropped, 0u);
  destroy_within_deadline(here);
}

TEST_P(TwoProcesses, ARequestRetriedAtOnceAfterDeliveryFailedReachesTheRestartedPeer) {
  // A request sent as soon as an earlier one failed with delivery_failed
  // must not be dropped with the lost connection's queue: the futures fail
  // only once that queue is gone.
  std::unique_ptr<NodeProcess> peer = start_on_low_port();
  ASSERT_TRUE(peer) << "no free port in 20000-29999";
  const std::string address = peer->address();
  Pid echo = here->pid(address, "echo");
  Pid sink = here->pid(address, "sink");
  ASSERT_TRUE(wait_for_echo(*sys, echo, 1).empty());
  for (int round = 0; round < 8; ++round) {
    // The sink never answers one Item: this stays pending until the loss.
    auto pending = sys->request_future<Ack>(sink, Item{7, 0}, 60s);
    // Odd rounds retry from the failed future's continuation, on the
    // thread that fails it (the io thread, inside the loss); even rounds
    // from this thread as soon as it wakes.
    std::promise<Future<Probe>> retried;
    const std::uint64_t value = 1000u + round;
    if (round % 2 == 1) {
      pending.then([&](Result<Ack> lost) {
        if (lost.ok() || lost.error() != RequestErrc::delivery_failed) {
          retried.set_exception(std::make_exception_ptr(std::runtime_error(
              "the pending request ended with " + (lost.ok() ? "an answer" : lost.what()))));
          return;
        }
        retried.set_value(sys->request_future<Probe>(echo, Probe{value}, 30s));
      });
    }
    peer->kill_hard();
    if (round % 2 == 0) {
      auto lost = pending.result();
      ASSERT_FALSE(lost.ok());
      ASSERT_EQ(lost.error(), RequestErrc::delivery_failed) << lost.what();
      retried.set_value(sys->request_future<Probe>(echo, Probe{value}, 30s));
    }
    auto got = retried.get_future();
    ASSERT_EQ(got.wait_for(60s), std::future_status::ready) << "the pending request never failed";
    // The node redials (with backoff) until the peer is back.
    Future<Probe> retry = got.get();
    peer = restart_on(address);
    ASSERT_EQ(peer->address(), address) << "the peer could not listen again on " << address;
    auto r = retry.result();
    ASSERT_TRUE(r.ok()) << "round " << round << ": the retry failed: " << r.what();
    EXPECT_EQ(r.value().value, value);
  }
  destroy_within_deadline(here);
}

INSTANTIATE_TEST_SUITE_P(Links, TwoProcesses, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tls" : "Plain";
                         });

}  // namespace
}  // namespace shoal::io::test
