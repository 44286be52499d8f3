// The trace report: one self-contained HTML page (no network, no other files)
// that shows a recorded trace to a person: a zoomable timeline with a lane
// per worker, the batch-size histogram, a sortable per-actor table with
// handler-time and message-latency percentiles, the busiest actors and the
// steal matrix (trace_stats.hpp defines every figure, all derived from the
// events). When the trace carries the system's statistics, also the workers'
// counters and the instrumented actors' exact measurements (shoal/stats.hpp).
//
// Page layout: the numbers are computed here and embedded as JSON in one
// <script type="application/json" id="data"> (every `<`, `>` and `&` in it
// escaped as \u003c…, so no actor name can end the script element); the
// stylesheet and the script are inline (trace_report_assets.hpp). Times in
// the JSON are microseconds from the first event, as in to_chrome_json.
//
// The JSON (`lanes[i]` is worker i; event arrays are columns sorted by t):
//   title, ns_per_tick, summary {workers, duration_us, busy_us, park_us,
//     events, runs, messages, system_messages, flows, parks, schedules,
//     steals, steal_attempts, long_handlers (how many long_handler events)}
//   actors [{id, name, runs, messages, system_messages, busy_us,
//     handler_us {p50, p90, p99, max, n}, latency_us {…}}]   busiest first
//   lanes [{events, from (first event), wrapped (the ring looks full: nothing
//     before `from` was kept), runs {t, d, a (index into actors), m, s},
//     parks {t, d, w}, steals {t, v (victim), ok}}]
//   flows {fw, ft, tw, tt}          from worker and run start, to worker and run start
//   batches [{lo, hi, runs}]        user messages per run, log2 buckets
//   steal_matrix [thief][victim]
//   stats                           the trace's SystemStats::to_json() object as
//                                   is (times in ns, since the system started), or null
//
// When the page has rendered, document.title is "shoal trace report: ok (N
// lanes)"; an uncaught error sets it to "shoal trace report: error: …" (the
// browser test reads it), and #lanes carries data-lanes="N". With statistics,
// table#worker-counters and (for instrumented actors) table#measured-actors
// carry data-rows="N".
#pragma once

#include <string>
#include <string_view>

#include "shoal/trace.hpp"

namespace shoal::tools {

/// The HTML report of `t`, headed `title`. Allocates (about 30 bytes per
/// event); never throws on odd input (invalid UTF-8 in names becomes U+FFFD).
std::string render_html_report(const Trace& t, std::string_view title);

/// `json` made safe inside a <script> element: `<`, `>` and `&` become
/// \u003c, \u003e, \u0026 (they only occur inside JSON strings, where the
/// escapes mean the same characters).
std::string escape_script_json(std::string_view json);

}  // namespace shoal::tools
