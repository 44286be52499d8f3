// The calling thread's flight-recorder lane, read on every send: null unless
// this thread is a worker (or a guest) of a system that is recording.
#pragma once

#include "shoal/detail/config.hpp"

namespace shoal::detail {

struct WorkerTrace;  // the runtime's (not installed)

/// The calling worker's trace while it records, else null.
SHOAL_TLS_INITIAL_EXEC inline thread_local WorkerTrace* active_trace = nullptr;

}  // namespace shoal::detail
