#include "tools/trace_report.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "core/trace_flows.hpp"
#include "tools/trace_report_assets.hpp"
#include "tools/trace_stats.hpp"

namespace shoal::tools {

namespace {

using nlohmann::json;

// -- the data ----------------------------------------------------------------------------

/// Microseconds rounded to the nanosecond: short in the JSON, exact enough.
double us3(double us) { return std::round(us * 1e3) / 1e3; }

json percentiles_json(const Percentiles& p) {
  return {{"p50", us3(p.p50)},
          {"p90", us3(p.p90)},
          {"p99", us3(p.p99)},
          {"max", us3(p.max)},
          {"n", p.n}};
}

/// True if a worker's ring was probably full, so that it lost its oldest
/// events: the file does not say the capacity, but a full ring holds a power
/// of two events (a few fewer if the read dropped some being overwritten).
bool looks_wrapped(std::size_t n) { return n >= 4096 && n * 64 >= std::bit_ceil(n) * 63; }

/// The events of one lane as columns, sorted by start.
json lane_json(const Trace& t, std::size_t lane,
               const std::unordered_map<std::uint64_t, std::size_t>& actor_index) {
  const std::vector<TraceEvent>& events = t.lanes[lane];
  const double us_per_tick = t.ns_per_tick / 1e3;
  const std::uint64_t t0 = t.first_tick();
  std::vector<std::size_t> order(events.size());
  std::iota(order.begin(), order.end(), 0);
  // Rings hold events oldest first; sorting anyway keeps the page's binary
  // searches right for any file.
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return events[a].ts < events[b].ts; });
  json rt = json::array(), rd = json::array(), ra = json::array(), rm = json::array(),
       rs = json::array();
  json pt = json::array(), pd = json::array(), pw = json::array();
  json st = json::array(), sv = json::array(), sok = json::array();
  json ft = json::array(), fd = json::array(), fk = json::array(), fm = json::array(),
       fb = json::array();
  for (std::size_t i : order) {
    const TraceEvent& e = events[i];
    const double ts = us3(static_cast<double>(e.ts - t0) * us_per_tick);
    const double dur = us3(e.dur * us_per_tick);
    switch (e.kind) {
      case TraceKind::run:
        rt.push_back(ts);
        rd.push_back(dur);
        ra.push_back(actor_index.at(e.a));
        rm.push_back(e.b & 0xffffffff);
        rs.push_back(e.b >> 32);
        break;
      case TraceKind::park:
        pt.push_back(ts);
        pd.push_back(dur);
        pw.push_back(e.x != 0 ? 1 : 0);
        break;
      case TraceKind::steal:
        st.push_back(ts);
        sv.push_back(e.a);
        sok.push_back(e.x != 0 ? 1 : 0);
        break;
      case TraceKind::remote_in:
      case TraceKind::remote_out:
        ft.push_back(ts);
        fd.push_back(dur);
        fk.push_back(e.kind == TraceKind::remote_in ? 1 : 0);
        fm.push_back(e.b);
        fb.push_back(e.c);
        break;
      default:
        break;
    }
  }
  json from = nullptr;
  if (!order.empty()) from = us3(static_cast<double>(events[order.front()].ts - t0) * us_per_tick);
  return {{"name", t.lane_name(lane)},
          {"guest", lane >= t.worker_lanes()},
          {"events", events.size()},
          {"from", from},
          {"wrapped", looks_wrapped(events.size())},
          {"runs", {{"t", rt}, {"d", rd}, {"a", ra}, {"m", rm}, {"s", rs}}},
          {"parks", {{"t", pt}, {"d", pd}, {"w", pw}}},
          {"steals", {{"t", st}, {"v", sv}, {"ok", sok}}},
          {"frames", {{"t", ft}, {"d", fd}, {"in", fk}, {"m", fm}, {"b", fb}}}};
}

/// The trace's statistics (SystemStats::to_json, times in ns) as they are, or
/// null if it has none or they are not a JSON object (a decoded trace's are
/// always one; a Trace built in memory may hold anything).
json stats_of(const Trace& t) {
  if (t.stats_json.empty()) return nullptr;
  json s = json::parse(t.stats_json, nullptr, /*allow_exceptions=*/false);
  return s.is_object() ? s : json(nullptr);
}

json report_json(const Trace& t, std::string_view title) {
  const TraceStats s = analyze(t);
  const double us_per_tick = t.ns_per_tick / 1e3;
  const std::uint64_t t0 = t.first_tick();
  json j;
  j["title"] = std::string(title);
  j["ns_per_tick"] = t.ns_per_tick;
  j["summary"] = {{"workers", s.workers},
                  {"guests", s.guests.size()},
                  {"duration_us", us3(s.duration_us)},
                  {"busy_us", us3(s.busy_us)},
                  {"guest_busy_us", us3(s.guest_busy_us())},
                  {"park_us", us3(s.park_us)},
                  {"events", s.events},
                  {"runs", s.runs},
                  {"messages", s.messages},
                  {"system_messages", s.system_messages},
                  {"flows", s.flows},
                  {"parks", s.parks},
                  {"schedules", s.schedules},
                  {"steals", s.steals},
                  {"steal_attempts", s.steal_attempts},
                  {"long_handlers", s.long_handlers.size()}};

  std::unordered_map<std::uint64_t, std::size_t> actor_index;
  json actors = json::array();
  for (const ActorStats& a : s.actors) {
    actor_index.emplace(a.id, actors.size());
    actors.push_back({{"id", a.id},
                      {"name", a.name},
                      {"runs", a.runs},
                      {"messages", a.messages},
                      {"system_messages", a.system_messages},
                      {"busy_us", us3(a.busy_us)},
                      {"handler_us", percentiles_json(a.handler_us)},
                      {"latency_us", percentiles_json(a.latency_us)}});
  }
  j["actors"] = std::move(actors);

  json lanes = json::array();
  for (std::size_t i = 0; i < t.lanes.size(); ++i) lanes.push_back(lane_json(t, i, actor_index));
  j["lanes"] = std::move(lanes);

  json fw = json::array(), ft = json::array(), tw = json::array(), tt = json::array();
  for (const MatchedFlow& f : match_flows(t)) {
    fw.push_back(f.from_worker);
    ft.push_back(us3(static_cast<double>(f.from_ts - t0) * us_per_tick));
    tw.push_back(f.to_worker);
    tt.push_back(us3(static_cast<double>(f.to_ts - t0) * us_per_tick));
  }
  j["flows"] = {{"fw", fw}, {"ft", ft}, {"tw", tw}, {"tt", tt}};

  json batches = json::array();
  for (std::size_t k = 0; k < s.batch_runs.size(); ++k) {
    const std::uint64_t lo = batch_bucket_low(k);
    batches.push_back({{"lo", lo}, {"hi", k == 0 ? 0 : 2 * lo - 1}, {"runs", s.batch_runs[k]}});
  }
  j["batches"] = std::move(batches);
  j["steal_matrix"] = s.steal_matrix;
  j["stats"] = stats_of(t);
  return j;
}

// -- the page ----------------------------------------------------------------------------

std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

constexpr std::string_view page_head = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="shoal-trace">
<title>shoal trace report: loading</title>
<script>
window.onerror = function (message) {
  document.title = 'shoal trace report: error: ' + message;
};
</script>
<style>
)html";

constexpr std::string_view page_body = R"html(</style>
</head>
<body>
<header class="top">
  <div class="brand">shoal &middot; trace report</div>
  <h1 id="title">)html";

constexpr std::string_view page_sections = R"html(</h1>
  <div id="summary" class="cards"></div>
</header>
<main>
<section class="panel">
  <div class="panel-head">
    <h2>Timeline</h2>
    <div class="controls">
      <label><input type="checkbox" id="show-flows" checked> message arrows</label>
      <button id="reset" type="button">Reset zoom</button>
    </div>
  </div>
  <p class="hint">Scroll to zoom, drag to pan, double-click to reset (keys: W/S zoom, A/D pan).
    Drag across the overview strip to jump there. Click a run to pin it and see its messages.</p>
  <div class="tl">
    <div class="tl-side"><div class="ov" id="ov-label">overview</div><div id="lanes"></div></div>
    <div class="tl-main">
      <canvas id="overview"></canvas>
      <canvas id="timeline"></canvas>
      <div id="tooltip" hidden></div>
    </div>
  </div>
  <div class="status" id="tl-status"></div>
  <div class="selection" id="selection" hidden></div>
  <div class="legend" id="legend"></div>
</section>
<div class="row">
  <section class="panel chart">
    <h2>Batch sizes</h2>
    <p class="hint">How many user messages a mailbox handled per run (grey: system messages
      only).</p>
    <div id="batches"></div>
  </section>
  <section class="panel">
    <h2>Top actors by time</h2>
    <p class="hint">Busy time (sum of run durations) and share of all run time.</p>
    <div id="top"></div>
  </section>
</div>
<section class="panel">
  <div class="panel-head">
    <h2>Actors (from the trace)</h2>
    <input id="filter" type="search" placeholder="Filter by name" aria-label="filter by name">
  </div>
  <p class="hint">Click a header to sort. Derived from the traced runs, so approximate: handler
    time is a run&rsquo;s duration over its messages; latency is from the start of the sending run
    to the start of the run that received the message.</p>
  <div class="table-wrap"><table id="actors" class="data"></table></div>
  <p class="hint" id="actors-note"></p>
</section>
<section class="panel" id="measured" hidden>
  <h2>Measured per actor</h2>
  <p class="hint">Exact: what each instrumented actor (<code>Props::with_stats</code>) recorded
    over its life until the trace was dumped, not only in the traced window. Queue wait: from a
    message&rsquo;s enqueue to its dequeue; handler time: per user message; oldest: the age of the
    oldest message still queued. Click a header to sort.</p>
  <div class="table-wrap" id="measured-wrap"></div>
</section>
<section class="panel" id="counters" hidden>
  <h2>Workers (counters)</h2>
  <p class="hint" id="counters-hint"></p>
  <div class="table-wrap" id="counters-wrap"></div>
</section>
<section class="panel">
  <h2>Steals</h2>
  <p class="hint">Successful steals: the thief worker (row) took work from the victim (column).</p>
  <div id="steals"></div>
</section>
</main>
<footer>Made by shoal-trace &middot; times from the trace&rsquo;s first event</footer>
<script type="application/json" id="data">)html";

constexpr std::string_view page_script = R"html(</script>
<script>
(function () {
'use strict';
)html";

constexpr std::string_view page_end = R"html(})();
</script>
</body>
</html>
)html";

}  // namespace

std::string escape_script_json(std::string_view json) {
  std::string out;
  out.reserve(json.size() + json.size() / 64);
  for (char c : json) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_html_report(const Trace& t, std::string_view title) {
  const std::string data = escape_script_json(
      report_json(t, title).dump(-1, ' ', false, json::error_handler_t::replace));
  const std::string heading = escape_html(title);
  namespace a = report_assets;
  std::string out;
  out.reserve(data.size() + std::size_t{64} * 1024);  // the page around the data
  for (std::string_view part :
       {page_head, a::style, page_body, std::string_view(heading), page_sections,
        std::string_view(data), page_script, a::script_common, a::script_timeline,
        a::script_timeline_input, a::script_panels, a::script_tables, page_end}) {
    out += part;
  }
  return out;
}

}  // namespace shoal::tools
