// Message flows of a recorded trace: each message whose sending and receiving
// ends are both in it, as the pair of runs it joins.
//
// A flow id (flight_recorder.hpp) is either a stamp, recorded one by one in a
// flow_out event, or the seq-th consecutive send of a worker, recorded as a
// range (first id, count) in the sending run's event. A receiving end is a
// run's first message (run.c) or a flow_in event. A node's io thread sends
// the messages of a remote frame as a range in its remote_in event. Ends lost to a ring's wrap,
// or sent from outside a traced run, have no partner and are left out. The
// Chrome export (trace_file.hpp) draws these; the trace tools measure them.
#pragma once

#include <cstdint>
#include <vector>

#include "shoal/trace.hpp"

namespace shoal {

/// One message: the run that sent it (or the remote frame that brought
/// it: from_actor 0) and the run that received it. Workers are lanes
/// (Trace::lanes).
struct MatchedFlow {
  unsigned from_worker;
  std::uint64_t from_ts;     ///< tick the sending run (or frame delivery) began
  std::uint64_t from_actor;  ///< 0: a remote frame, delivered by a node's io thread
  unsigned to_worker;
  std::uint64_t to_ts;  ///< tick the receiving run began
  std::uint64_t to_actor;
};

/// Every flow of `t` with both ends, in the order the receiving ends were
/// recorded (worker by worker). Allocates; never throws on odd input.
std::vector<MatchedFlow> match_flows(const Trace& t);

}  // namespace shoal
