// caf-remote-node: the CAF 0.17 twin of shoal-node for the remote
// benchmarks. One actor published on 127.0.0.1 (libcaf_io, BASP) answers
// (probe, v) requests with (probe, v) and takes (item, from, seq) streams,
// sending (ack, count) to the sender every 1000 items from it.
//
//   caf-remote-node [--workers N]
//
// Prints "listening 127.0.0.1:PORT" on stdout, runs until stdin closes.
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

namespace {

using item_atom = caf::atom_constant<caf::atom("item")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;

struct ServerState {
  std::unordered_map<std::uint32_t, std::uint64_t> counts;
};

caf::behavior server(caf::stateful_actor<ServerState>* self) {
  return {
      [=](item_atom, std::uint32_t from, std::uint64_t) {
        std::uint64_t n = ++self->state.counts[from];
        if (n % 1000 == 0) {
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), ack_atom::value, n);
        }
      },
      [=](probe_atom, std::uint64_t v) { return caf::make_message(probe_atom::value, v); },
  };
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t workers = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--workers" && i + 1 < argc) {
      workers = std::stoul(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: caf-remote-node [--workers N]\n");
      return 2;
    }
  }
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", workers);
  caf::actor_system sys{cfg};
  auto actor = sys.spawn(server);
  auto port = sys.middleman().publish(actor, 0, "127.0.0.1");
  if (!port) {
    std::fprintf(stderr, "caf-remote-node: publish failed: %s\n",
                 sys.render(port.error()).c_str());
    return 1;
  }
  std::printf("listening 127.0.0.1:%u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  char buf[256];
  while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  return 0;
}
