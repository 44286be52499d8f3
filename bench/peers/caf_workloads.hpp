// CAF 0.17 twins of the shoal macro workloads (bench/workloads/).
//
// Each function builds its own caf::actor_system with `workers` scheduler
// threads (CAF's work-stealing policy, its defaults otherwise), runs the
// workload once, tears the system down, and returns the wall time of the
// measured part. The shapes (bench/workloads/shapes.inc) are shoal's exactly,
// so the ratio printed by shoal-bench compares like with like.
#pragma once

#include <cstdint>

#include "bench/workload.hpp"

namespace shoal::bench::caf_peer {

#include "bench/workloads/shapes.inc"

/// The server program the remote twins start (bench/peers/caf-remote-node).
std::string server_program();

}  // namespace shoal::bench::caf_peer
