// Turning live counters into snapshot values (stats.hpp). Internal: the
// scheduler and the actor system call these when stats() is asked for.
#pragma once

#include <cstdint>
#include <string>

#include "shoal/stats.hpp"

namespace shoal::detail {

/// Worker `index`'s counters at tick `now`. Any thread.
WorkerStats snapshot_of(const WorkerCounters& c, unsigned index, std::uint64_t now,
                        double ns_per_tick);
/// An instrumented actor's statistics at tick `now`. Any thread.
ActorStatsSnapshot snapshot_of(const ActorStats& a, std::uint64_t id, std::string name,
                               std::uint64_t now, double ns_per_tick);

}  // namespace shoal::detail
