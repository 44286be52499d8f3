// A recorded trace as a value, its file format, and its export as Chrome
// trace-event JSON (what Perfetto and chrome://tracing load).
//
// File layout (little-endian; `tools/shoal-trace` and the tests read it):
//
//   offset  size  field
//   0       8     magic "SHOALTRC"
//   8       4     version (4; versions 1 to 3 still read)
//   12      4     lane count T (workers, then guests; ≤ 4096)
//   16      8     ns per tick (IEEE double)
//   24      4     worker lane count W (≤ T)                        from version 3
//   28      …     (T − W) × { u32 length L (≤ 256), L bytes of UTF-8 }: the guest
//                 lanes' names                                      from version 3
//   …       8     name count N (≤ 2^24)
//   32      …     N × { u64 actor id, u32 length L (≤ 4096), L bytes of UTF-8 }
//   …       8     message type count M (≤ 2^24)                     from version 4
//   …       …     M × { u32 length L (≤ 4096), L bytes of UTF-8 }    from version 4
//   …       …     T × { u64 event count E (≤ 2^28), E × 48-byte events }
//   …       8     statistics length S (≤ 64 MiB; 0: none)          not version 1
//   …       S     SystemStats::to_json() at dump time: a JSON object  not version 1
//   end           (nothing may follow)
//
// An event is six u64 words: ts, (dur | kind << 32 | x << 40), a, b, c, d
// (TraceKind below says what each kind's fields mean). Reading checks
// every length against what is left, every kind against the known ones and
// that the statistics are a JSON object nested at most 64 deep, and names
// the byte offset of the first thing that is wrong (for the statistics, the
// offset of their length). Versions 1 and 2 hold worker lanes only;
// versions before 4 no long_handler events (and no message types).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shoal {

enum class TraceKind : std::uint8_t {
  run = 1,        ///< a = actor, b = user msgs | system msgs << 32, c = first msg's flow,
                  ///< d = first flow sent, x = flows sent (consecutive ids)
  flow_in = 2,    ///< a = flow id received by actor b (messages after a run's first)
  flow_out = 3,   ///< a = flow id sent by actor b (stamped sends, not consecutive)
  scheduled = 4,  ///< a = actor made runnable by actor b (0: a timer or the worker),
                  ///< x = where (ScheduledWhere)
  steal = 5,      ///< a = victim worker, x = 1 if it gave work
  park = 6,       ///< asleep for `dur`; x = 1 if woken for work, 0 timeout or spurious
  // A node's io thread (its guest lane): frames handled for `dur`.
  remote_in = 7,     ///< a batch frame delivered: a = peer's incarnation, b = messages,
                     ///< c = frame bytes, d = first flow sent, x = flows sent (as a run's)
  remote_out = 8,    ///< frames written for a peer: a = peer's incarnation, b = messages,
                     ///< c = bytes
  long_handler = 9,  ///< actor a's handler of one message ran ≥ c ns (long_handler in
                     ///< SchedulerConfig), recorded as it returned. b = the message
                     ///< type: in a lane, its name's address (x = its length); in a
                     ///< Trace, an index into Trace::message_types
  // Only in a lane, never in a Trace or a file: ActorSystem::trace() turns
  // these into Trace::names and drops them.
  actor_type = 10,  ///< a = actor, b = the address of its type's name, x = the name's
                    ///< length (a string that lives as long as the process)
};
/// The last kind a Trace (and so a trace file) may hold.
inline constexpr std::uint8_t trace_kind_max = 9;

/// guest: kept by the guest runner making it runnable (guest_runner.hpp).
enum class ScheduledWhere : std::uint8_t {
  lifo_slot = 0,
  run_queue = 1,
  global_queue = 2,
  guest = 3
};

/// One event, as read out of a ring. Times in ticks.
struct TraceEvent {
  std::uint64_t ts = 0;   ///< tick it began
  std::uint32_t dur = 0;  ///< ticks it lasted (runs, parks), saturating
  TraceKind kind{};       ///< what it is; says what a..d and x mean
  std::uint32_t x = 0;    ///< 24 bits, kind-specific
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
};

/// The most bytes of statistics a trace file may hold.
constexpr std::uint64_t max_trace_stats_bytes = std::uint64_t{64} << 20;

/// What a dump holds: every lane's events, the names to show and the
/// system's statistics at the time.
struct Trace {
  double ns_per_tick = 1.0;
  /// Events per lane, oldest first: one lane per worker (lane i is worker
  /// i), then one per guest (guest_runner.hpp), named in guest_names.
  std::vector<std::vector<TraceEvent>> lanes;
  /// The guest lanes' names, in order: lanes[worker_lanes() + k] is guest
  /// k's ("io 0"). Names past lanes.size() are ignored.
  std::vector<std::string> guest_names;
  std::unordered_map<std::uint64_t, std::string> names;  ///< actor id → name or type
  /// Message types that long_handler events name (their b is an index).
  std::vector<std::string> message_types;
  /// SystemStats::to_json() (a JSON object, ≤ max_trace_stats_bytes); empty: none.
  std::string stats_json;

  /// The earliest event's tick (0 if none).
  std::uint64_t first_tick() const noexcept;
  /// "name" or "#id".
  std::string actor_name(std::uint64_t id) const;
  /// message_types[i], or "?" past its end (a file is read as it comes).
  std::string message_type(std::uint64_t i) const;
  /// How many of the lanes are workers' (the first ones).
  std::size_t worker_lanes() const noexcept {
    return lanes.size() - std::min(guest_names.size(), lanes.size());
  }
  /// "worker i", or the guest's name ("io 0").
  std::string lane_name(std::size_t lane) const;
};

/// A trace file that cannot be read: `offset` is where it goes wrong.
class TraceFileError : public std::runtime_error {
 public:
  TraceFileError(std::uint64_t offset, const std::string& what);
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  std::uint64_t offset_;
};

/// The file bytes of `t` (the current version). Throws std::length_error if
/// `t.stats_json` is over max_trace_stats_bytes (the file would not read back).
std::string encode_trace(const Trace& t);
/// Parses file bytes. Throws TraceFileError (never crashes) on bad input.
Trace decode_trace(std::string_view bytes);
/// Writes `t` to `path`; throws std::runtime_error naming the path on failure.
void save_trace(const Trace& t, const std::string& path);
/// Reads and parses `path` (TraceFileError, or std::runtime_error if unreadable).
Trace load_trace(const std::string& path);

/// Chrome trace-event JSON: one thread per lane ("worker N", "io 0"), a complete
/// ("X") slice per actor run named after the actor, park slices, instant
/// events for steals, schedules and long handlers, and a flow ("s"/"f") per message whose
/// two ends are both in the trace (ends lost to a ring's wrap are left out).
/// Times in microseconds from the first event.
std::string to_chrome_json(const Trace& t);

}  // namespace shoal
