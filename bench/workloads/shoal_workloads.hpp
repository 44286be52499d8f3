// The shoal macro workloads; bench/peers/caf_workloads.hpp has their CAF
// 0.17 twins. The shapes and their meaning are in shapes.inc.
//
// Each function builds its own ActorSystem with `workers` workers (defaults
// otherwise), runs the workload once, shuts the system down and returns the
// wall time of the measured part.
#pragma once

#include <cstdint>

#include "bench/workload.hpp"

namespace shoal::bench::native {

/// Mailbox batch size for the systems the next runs on this thread build
/// (0 = shoal's default). Set from RunConfig by workloads().
void set_throughput(unsigned messages_per_run);

#include "bench/workloads/shapes.inc"

}  // namespace shoal::bench::native
