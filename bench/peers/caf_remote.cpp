// CAF 0.17's remote workloads (libcaf_io): this process is the client, a
// caf-remote-node child process the server; the same shapes as shoal's
// (bench/workloads/shoal_remote.cpp): see bench/workloads/shapes.inc.
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tools/node/child_process.hpp"
#include "bench/peers/caf_workloads.hpp"
#include "caf/all.hpp"
#include "caf/io/all.hpp"

namespace shoal::bench::caf_peer {

namespace {

using node::ChildProcess;
using node::sibling_program;

using Clock = std::chrono::steady_clock;
using item_atom = caf::atom_constant<caf::atom("item")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using go_atom = caf::atom_constant<caf::atom("go")>;

struct Client {
  explicit Client(unsigned workers)
      : server({server_program(), "--workers", std::to_string(workers)}),
        system(configured(config, workers)) {
    std::string line = server.read_line();  // "listening 127.0.0.1:PORT"
    auto colon = line.rfind(':');
    if (line.rfind("listening ", 0) != 0 || colon == std::string::npos) {
      throw std::runtime_error("caf-remote-node: unexpected first line: " + line);
    }
    auto port = static_cast<std::uint16_t>(std::stoul(line.substr(colon + 1)));
    auto r = system.middleman().remote_actor("127.0.0.1", port);
    if (!r) throw std::runtime_error("CAF remote_actor: " + system.render(r.error()));
    remote = *r;
  }
  ~Client() { server.stop(); }
  static caf::actor_system_config& configured(caf::actor_system_config& cfg, unsigned workers) {
    cfg.load<caf::io::middleman>();
    cfg.set("scheduler.max-threads", static_cast<std::size_t>(workers));
    return cfg;
  }
  ChildProcess server;
  caf::actor_system_config config;
  caf::actor_system system;
  caf::actor remote;
};

struct StreamState {
  std::uint64_t sent = 0, acked = 0;
};

caf::behavior streamer(caf::stateful_actor<StreamState>* self, caf::actor server,
                       std::uint32_t id, std::uint64_t total, std::uint64_t window,
                       std::latch* done) {
  auto pump = [=] {
    auto& s = self->state;
    while (s.sent < total && s.sent - s.acked < window) {
      self->send(server, item_atom::value, id, s.sent++);
    }
  };
  return {
      [=](go_atom) { pump(); },
      [=](ack_atom, std::uint64_t count) {
        self->state.acked = count;
        if (count == total) {
          done->count_down();
          self->quit();
          return;
        }
        pump();
      },
  };
}

struct PingState {
  Clock::time_point sent_at;
};

caf::behavior pinger(caf::stateful_actor<PingState>* self, caf::actor server,
                     std::vector<std::uint32_t>* ns, std::promise<void>* done) {
  auto next = std::make_shared<std::function<void()>>();
  *next = [=] {
    self->state.sent_at = Clock::now();
    self->request(server, caf::infinite, probe_atom::value, std::uint64_t{ns->size()})
        .then([=](probe_atom, std::uint64_t) {
          ns->push_back(static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                                   self->state.sent_at)
                  .count()));
          if (ns->size() == ns->capacity()) {
            done->set_value();
            self->quit();
            return;
          }
          (*next)();
        });
  };
  return {[=](go_atom) { (*next)(); }};
}

}  // namespace

std::string server_program() {
  return sibling_program("SHOAL_CAF_NODE", "../bench/peers/caf-remote-node");
}

Timing remote_stream(unsigned workers, unsigned senders, std::uint64_t items,
                     std::uint64_t window) {
  Client c(workers);
  std::uint64_t each = items / senders / 1000 * 1000;
  // An untimed pass of the same size first, as shoal's twin does (its own
  // sender ids: the server counts per id).
  for (std::uint32_t pass = 0; pass < 2; ++pass) {
    std::latch done(senders);
    std::vector<caf::actor> streamers;
    for (std::uint32_t i = 0; i < senders; ++i) {
      streamers.push_back(
          c.system.spawn(streamer, c.remote, pass * senders + i, each, window, &done));
    }
    auto t0 = Clock::now();
    for (auto& s : streamers) caf::anon_send(s, go_atom::value);
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
  Client c(workers);
  std::vector<std::uint32_t> ns;
  ns.reserve(round_trips);
  std::promise<void> done;
  auto finished = done.get_future();
  // Warm up the connection with one round trip first.
  {
    caf::scoped_actor self{c.system};
    self->request(c.remote, caf::infinite, probe_atom::value, std::uint64_t{0})
        .receive([](probe_atom, std::uint64_t) {}, [](caf::error&) {});
  }
  auto p = c.system.spawn(pinger, c.remote, &ns, &done);
  auto t0 = Clock::now();
  caf::anon_send(p, go_atom::value);
  finished.wait();
  Timing t;
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.items = double(round_trips);
  set_percentiles(t, ns);
  return t;
}

Timing remote_idle(unsigned workers, double settle_seconds, double window_seconds) {
  Client c(workers);
  {
    caf::scoped_actor self{c.system};  // one round trip: the connection is in use
    self->request(c.remote, caf::infinite, probe_atom::value, std::uint64_t{0})
        .receive([](probe_atom, std::uint64_t) {}, [](caf::error&) {});
  }
  // A benchmark may sleep: what it measures is the cost of doing nothing.
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_seconds));
  const double here0 = process_cpu_seconds(), there0 = c.server.cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(window_seconds));
  Timing t{(process_cpu_seconds() - here0) + (c.server.cpu_seconds() - there0)};
  t.items = window_seconds;
  return t;
}

}  // namespace shoal::bench::caf_peer
