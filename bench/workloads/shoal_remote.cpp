// shoal's remote workloads: this process is the client node, a shoal-node
// child process the server (tools/node/: "sink" and "echo"). Both run
// `workers` workers and one io thread.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/workloads/shoal_workloads.hpp"
#include "io/auth.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/node.hpp"
#include "tools/node/child_process.hpp"
#include "tools/node/node_actors.hpp"

namespace shoal::bench::native {

namespace {

using node::ChildProcess;
using node::sibling_program;

using Clock = std::chrono::steady_clock;
using node::Ack;
using node::Item;
using node::Probe;

/// The secret the authenticated workloads share with their server: random,
/// in a file only this user may read (shoal-node --secret-file), made once
/// per process and removed at exit.
const std::string& secret_file() {
  static const std::string path = [] {
    char name[] = "/tmp/shoal-bench-secret-XXXXXX";
    int fd = ::mkstemp(name);  // mode 0600
    if (fd < 0) throw std::runtime_error("cannot make a secret file in /tmp");
    std::string hex;
    for (std::byte b : io::detail::fresh_nonce()) {
      static constexpr char digits[] = "0123456789abcdef";
      hex += digits[std::to_integer<unsigned>(b) >> 4];
      hex += digits[std::to_integer<unsigned>(b) & 15];
    }
    bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot write the secret file");
    static struct Remove {
      std::string path;
      ~Remove() { ::unlink(path.c_str()); }
    } remove{name};
    return std::string(name);
  }();
  return path;
}

std::vector<std::string> server_command(unsigned workers, Link link) {
  std::vector<std::string> cmd{server_program(), "--workers", std::to_string(workers)};
  if (link != Link::plain) {
    cmd.push_back("--secret-file");
    cmd.push_back(secret_file());
  }
  if (link == Link::tls) cmd.push_back("--tls");
  if (options().spin_us != 0) {
    cmd.push_back("--spin");
    cmd.push_back(std::to_string(options().spin_us));
  }
  if (!options().event_port.empty()) {
    cmd.push_back("--event-port");
    cmd.push_back(options().event_port);
  }
  if (options().workers_only) cmd.push_back("--workers-only");
  return cmd;
}

/// The server process and this process's node, connected.
struct Client {
  explicit Client(unsigned workers, Link link = Link::plain)
      : server(server_command(workers, link)), system(system_config(workers)), link(link),
        secret(link != Link::plain ? io::read_secret_file(secret_file()) : std::string()) {
    node::register_node_types(types);
    std::string line = server.read_line();  // "listening ADDRESS incarnation X"
    auto sp = line.find(' '), sp2 = line.find(' ', sp + 1);
    if (line.rfind("listening ", 0) != 0 || sp2 == std::string::npos) {
      throw std::runtime_error("shoal-node: unexpected first line: " + line);
    }
    address = line.substr(sp + 1, sp2 - sp - 1);
    connect();
  }
  /// This process's node (a new one each call: a new incarnation, a new
  /// connection), connected with one round trip.
  void connect() {
    here.reset();
    io::NodeConfig nc;
    nc.secret = secret;
    nc.tls = link == Link::tls;
    if (options().spin_us != 0) nc.spin = std::chrono::microseconds(options().spin_us);
    if (options().event_port == "uring") nc.event_port = io::EventPortKind::io_uring;
    if (options().event_port == "epoll") nc.event_port = io::EventPortKind::epoll;
    nc.run_actors = !options().workers_only;
    here = std::make_unique<io::Node>(system, types, nc);
    // Connect (and warm up) before anything is measured.
    auto r = system.request_future<Probe>(here->pid(address, "echo"), Probe{0},
                                          std::chrono::seconds(30)).result();
    if (!r.ok()) throw std::runtime_error("shoal-node did not answer: " + r.what());
  }
  ~Client() {
    here.reset();
    system.shutdown();
    server.stop();
  }
  ChildProcess server;
  wire::TypeRegistry types;
  ActorSystem system;
  const Link link;
  const std::string secret;
  std::string address;
  std::unique_ptr<io::Node> here;
};

struct Start {};

/// Streams `total` items to the sink, at most `window` unacknowledged.
struct Streamer : Handles<Streamer, Start, Ack> {
  Streamer(Pid sink, std::uint32_t id, std::uint64_t total, std::uint64_t window, std::latch* done)
      : sink(std::move(sink)), id(id), total(total), window(window), done(done) {}
  void on(Context& ctx, Start&) { pump(ctx); }
  void on(Context& ctx, Ack& a) {
    acked = a.count;
    if (acked == total) {
      done->count_down();
      return;
    }
    pump(ctx);
  }
  void pump(Context& ctx) {
    while (sent < total && sent - acked < window) ctx.request(sink, Item{id, sent++});
  }
  Pid sink;
  std::uint32_t id;
  std::uint64_t total, window, sent = 0, acked = 0;
  std::latch* done;
};

struct Go {};
/// One request in flight; records each round trip.
struct Pinger : Handles<Pinger, Go, Probe> {
  Pinger(Pid echo, std::vector<std::uint32_t>* ns, std::promise<void>* done)
      : echo(std::move(echo)), ns(ns), done(done) {}
  void on(Context& ctx, Go&) { next(ctx); }
  void on(Context& ctx, Probe&) {
    ns->push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent_at).count()));
    if (ns->size() == ns->capacity()) {
      done->set_value();
      return;
    }
    next(ctx);
  }
  void next(Context& ctx) {
    sent_at = Clock::now();
    ctx.request(echo, Probe{ns->size()});
  }
  Pid echo;
  std::vector<std::uint32_t>* ns;
  std::promise<void>* done;
  Clock::time_point sent_at;
};

}  // namespace

std::string server_program() { return sibling_program("SHOAL_NODE", "node/shoal-node"); }

Timing remote_stream(unsigned workers, unsigned senders, std::uint64_t items,
                     std::uint64_t window) {
  return remote_stream_as(workers, senders, items, window, Link::plain);
}

Timing remote_stream_as(unsigned workers, unsigned senders, std::uint64_t items,
                        std::uint64_t window, Link link) {
  Client c(workers, link);
  Pid sink = c.here->pid(c.address, "sink");
  std::uint64_t each = items / senders / node::ack_every * node::ack_every;
  // One untimed pass of the same size first (its own sender ids: the sink
  // counts per id): the first ~50 ms on a new connection run at about half
  // speed (socket buffers growing, pools filling), which is start-up, not
  // the steady rate this workload measures. CAF's twin does the same.
  for (std::uint32_t pass = 0; pass < 2; ++pass) {
    std::latch done(senders);
    std::vector<Pid> streamers;
    for (std::uint32_t i = 0; i < senders; ++i) {
      streamers.push_back(c.system.spawn<Streamer>(sink, pass * senders + i, each, window, &done));
    }
    auto t0 = Clock::now();
    for (auto& s : streamers) c.system.send(s, Start{});
    done.wait();
    if (pass == 0) continue;
    Timing t;
    t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    t.items = double(each) * senders;
    return t;
  }
  return {};
}

Timing remote_rtt(unsigned workers, std::uint64_t round_trips) {
  return remote_rtt_as(workers, round_trips, Link::plain);
}

Timing remote_rtt_as(unsigned workers, std::uint64_t round_trips, Link link) {
  Client c(workers, link);
  std::vector<std::uint32_t> ns;
  ns.reserve(round_trips);
  std::promise<void> done;
  auto finished = done.get_future();
  Pid p = c.system.spawn<Pinger>(c.here->pid(c.address, "echo"), &ns, &done);
  auto t0 = Clock::now();
  c.system.send(p, Go{});
  finished.wait();
  Timing t;
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.items = double(round_trips);
  set_percentiles(t, ns);
  return t;
}

Timing remote_connect(unsigned workers, unsigned connections, Link link) {
  Client c(workers, link);  // one connection, untimed
  auto t0 = Clock::now();
  for (unsigned i = 0; i < connections; ++i) c.connect();
  Timing t;
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.items = connections;
  return t;
}

Timing remote_idle(unsigned workers, double settle_seconds, double window_seconds) {
  Client c(workers);  // connected: one round trip done
  // A benchmark may sleep: what it measures is the cost of doing nothing.
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_seconds));
  const double here0 = process_cpu_seconds(), there0 = c.server.cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(window_seconds));
  Timing t{(process_cpu_seconds() - here0) + (c.server.cpu_seconds() - there0)};
  t.items = window_seconds;
  return t;
}

}  // namespace shoal::bench::native
