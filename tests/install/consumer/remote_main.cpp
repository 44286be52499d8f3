// An installed shoal::remote's smallest user: registers a message type
// (written as a Cap'n Proto struct that ships with capnp, so the consumer
// needs no schema compiler), starts a node on a loopback port and asks it
// for one of its own actors. Proves the headers compile and the remote
// library and its dependencies link and start; no peer, no network.
#include <shoal/remote.hpp>

#include <capnp/schema.capnp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include "round_trip.hpp"

namespace {

struct Version {
  std::uint16_t major = 0;
  std::uint8_t minor = 0;
  std::uint8_t micro = 0;
};

int run() {
  std::printf("shoal %s\n", std::string(shoal::version()).c_str());

  shoal::wire::TypeRegistry types;
  using Schema = capnp::schema::CapnpVersion;
  types.add<Version, Schema>(
      "install_test.Version",
      [](const Version& v, Schema::Builder b) {
        b.setMajor(v.major);
        b.setMinor(v.minor);
        b.setMicro(v.micro);
      },
      [](Schema::Reader r) {
        return Version{r.getMajor(), r.getMinor(), r.getMicro()};
      });
  if (types.find<Version>() == nullptr) {
    std::fprintf(stderr, "install test: the registered type is not found\n");
    return 1;
  }

  shoal::ActorSystem system({.scheduler = {.workers = 1}});
  shoal::SpawnResult echo = system.spawn_named(shoal::Props::of<install_test::Echo>(), "echo");
  if (!echo) {
    std::fprintf(stderr, "install test: spawn_named failed\n");
    return 1;
  }
  shoal::io::Node node(system, types);  // 127.0.0.1, a free port
  // The node answers for its own address itself: no connection is made.
  auto identity = node.identify(node.address(), "echo", std::chrono::seconds(5)).result();
  if (!identity) {
    std::fprintf(stderr, "install test: identify failed: %s\n", identity.what().c_str());
    return 1;
  }
  if (identity.value().id != echo.pid.id()) {
    std::fprintf(stderr, "install test: identify named another actor\n");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "install test: %s\n", e.what());
    return 1;
  }
}
