// A recorded trace as a value, its file format, and its export as Chrome
// trace-event JSON (what Perfetto and chrome://tracing load).
//
// File layout (little-endian; `tools/shoal-trace` and the tests read it):
//
//   offset  size  field
//   0       8     magic "SHOALTRC"
//   8       4     version (1)
//   12      4     thread count T (workers; ≤ 4096)
//   16      8     ns per tick (IEEE double)
//   24      8     name count N (≤ 2^24)
//   32      …     N × { u64 actor id, u32 length L (≤ 4096), L bytes of UTF-8 }
//   …       …     T × { u64 event count E (≤ 2^28), E × 48-byte events }
//
// An event is six u64 words: ts, (dur | kind << 32 | x << 40), a, b, c, d
// (flight_recorder.hpp says what each kind's fields mean). Reading checks
// every length against what is left and every kind against the known ones,
// and names the byte offset of the first thing that is wrong.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/flight_recorder.hpp"

namespace shoal {

/// What a dump holds: every worker's events and the names to show.
struct Trace {
  double ns_per_tick = 1.0;
  std::vector<std::vector<TraceEvent>> workers;         ///< events per worker, oldest first
  std::unordered_map<std::uint64_t, std::string> names;  ///< actor id → name or type

  /// The earliest event's tick (0 if none).
  std::uint64_t first_tick() const noexcept;
  /// "name" or "#id".
  std::string actor_name(std::uint64_t id) const;
};

/// A trace file that cannot be read: `offset` is where it goes wrong.
class TraceFileError : public std::runtime_error {
 public:
  TraceFileError(std::uint64_t offset, const std::string& what);
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  std::uint64_t offset_;
};

/// The file bytes of `t`.
std::string encode_trace(const Trace& t);
/// Parses file bytes. Throws TraceFileError (never crashes) on bad input.
Trace decode_trace(std::string_view bytes);
/// Writes `t` to `path`; throws std::runtime_error naming the path on failure.
void save_trace(const Trace& t, const std::string& path);
/// Reads and parses `path` (TraceFileError, or std::runtime_error if unreadable).
Trace load_trace(const std::string& path);

/// Chrome trace-event JSON: one thread per worker ("worker N"), a complete
/// ("X") slice per actor run named after the actor, park slices, instant
/// events for steals and schedules, and a flow ("s"/"f") per message whose
/// two ends are both in the trace (ends lost to a ring's wrap are left out).
/// Times in microseconds from the first event.
std::string to_chrome_json(const Trace& t);

}  // namespace shoal
