// A plug-in with shoal inside: the static libshoal.a linked into a .so that
// a host dlopen()s. Needs the static library built position-independent
// (b_staticpic) and its thread-locals reachable from a dlopen()ed object.
#include "../consumer/round_trip.hpp"

/// The host's one entry point: 0 and "ok" on stdout after a round trip.
extern "C" __attribute__((visibility("default"))) int shoal_plugin_run() {
  return install_test::round_trip();
}
