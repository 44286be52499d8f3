// shoal-node: one shoal node in its own process, running the actors of
// node_actors.hpp ("echo", "sink"), for the remote benchmarks and the
// two-process tests.
//
//   shoal-node [--listen HOST:PORT] [--workers N] [--io-threads N] [--spin US]
//              [--event-port auto|uring|epoll] [--workers-only]
//              [--secret-file PATH] [--tls]
//
// --secret-file: the cluster's shared secret (io/auth.hpp): every
// connection then authenticates both sides (NodeConfig::secret).
// --tls: and is encrypted, TLS 1.3 keyed by that secret (NodeConfig::tls).
// --spin: how long idle workers and the io thread spin before they sleep
// (default: the system's and the node's, 50 µs each). --workers-only: the io
// thread never runs an actor (NodeConfig::run_actors off).
//
// Prints "listening ADDRESS incarnation HEX" on stdout once it accepts
// connections, then runs until its stdin closes or it gets SIGTERM/SIGINT.
// On exit it prints its node statistics on stderr.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "shoal/actor_system.hpp"
#include "shoal/node.hpp"
#include "tools/node/node_actors.hpp"

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

int usage() {
  std::cerr << "usage: shoal-node [--listen HOST:PORT] [--workers N] [--io-threads N] "
               "[--spin US] [--event-port auto|uring|epoll] [--workers-only] "
               "[--secret-file PATH] [--tls]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  unsigned workers = 2;
  unsigned io_threads = 1;
  unsigned spin_us = 0;
  auto port = shoal::io::EventPortKind::automatic;
  bool run_actors = true;
  std::string secret_file;
  bool tls = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else if (a == "--workers" && i + 1 < argc) {
      workers = static_cast<unsigned>(std::stoul(argv[++i]));
      if (workers == 0) return usage();
    } else if (a == "--io-threads" && i + 1 < argc) {
      io_threads = static_cast<unsigned>(std::stoul(argv[++i]));
      if (io_threads == 0) return usage();
    } else if (a == "--event-port" && i + 1 < argc) {
      std::string p = argv[++i];
      if (p == "uring") {
        port = shoal::io::EventPortKind::io_uring;
      } else if (p == "epoll") {
        port = shoal::io::EventPortKind::epoll;
      } else if (p != "auto") {
        return usage();
      }
    } else if (a == "--secret-file" && i + 1 < argc) {
      secret_file = argv[++i];
    } else if (a == "--tls") {
      tls = true;
    } else if (a == "--workers-only") {
      run_actors = false;
    } else if (a == "--spin" && i + 1 < argc) {
      spin_us = static_cast<unsigned>(std::stoul(argv[++i]));
    } else {
      return usage();
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    shoal::wire::TypeRegistry types;
    shoal::node::register_node_types(types);
    shoal::SystemConfig sc{.scheduler = {.workers = workers}};
    shoal::io::NodeConfig nc{.listen = listen, .io_threads = io_threads, .event_port = port};
    nc.run_actors = run_actors;
    if (!secret_file.empty()) nc.secret = shoal::io::read_secret_file(secret_file);
    nc.tls = tls;  // without a secret: the Node says so (invalid_argument)
    if (spin_us != 0) {
      sc.scheduler.spin_before_park = std::chrono::microseconds(spin_us);
      nc.spin = std::chrono::microseconds(spin_us);
    }
    shoal::ActorSystem system(sc);
    shoal::node::spawn_node_actors(system);
    shoal::io::Node node(system, types, nc);
    std::printf("listening %s incarnation %llx\n", node.address().c_str(),
                static_cast<unsigned long long>(node.incarnation()));
    std::fflush(stdout);
    while (!stop_requested) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      int rc = ::poll(&p, 1, 200);
      if (rc > 0) {
        char buf[256];
        if (::read(STDIN_FILENO, buf, sizeof buf) <= 0) break;  // stdin closed
      }
    }
    auto s = node.stats();
    std::fprintf(stderr,
                 "shoal-node %s: received %llu in %llu frames, sent %llu in %llu frames, "
                 "gaps %llu, duplicates %llu, protocol errors %llu, handovers %llu, "
                 "auth failures %llu\n",
                 node.address().c_str(), static_cast<unsigned long long>(s.messages_received),
                 static_cast<unsigned long long>(s.frames_received),
                 static_cast<unsigned long long>(s.messages_sent),
                 static_cast<unsigned long long>(s.frames_sent),
                 static_cast<unsigned long long>(s.sequence_gaps),
                 static_cast<unsigned long long>(s.duplicates_dropped),
                 static_cast<unsigned long long>(s.protocol_errors),
                 static_cast<unsigned long long>(s.handovers),
                 static_cast<unsigned long long>(s.auth_failures));
  } catch (const std::exception& e) {
    std::cerr << "shoal-node: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
